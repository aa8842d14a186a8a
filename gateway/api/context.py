"""Per-request state for resolvers: the gateway, who is asking, and dataloaders
that batch index reads so a page of N versions costs one query, not N."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from gateway.auth.principal import LOCAL_OPERATOR, Principal
from gateway.domain import Model, ModelVersion
from gateway.runtime import Gateway


def _loader(fetch: Any) -> DataLoader[str, Any]:
    async def load(keys: list[str]) -> list[Any]:
        found = await fetch(keys)
        return [found.get(k) for k in keys]

    return DataLoader(load_fn=load)


@dataclass
class Context:
    gateway: Gateway
    request_id: str
    principal: Principal = LOCAL_OPERATOR
    models: DataLoader[str, Model | None] = field(init=False)
    versions: DataLoader[str, ModelVersion | None] = field(init=False)
    latest_versions: DataLoader[str, ModelVersion | None] = field(init=False)

    def __post_init__(self) -> None:
        index = self.gateway.index
        self.models = _loader(index.get_models)
        self.versions = _loader(index.get_versions)
        self.latest_versions = _loader(index.latest_versions)
