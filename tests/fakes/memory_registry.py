"""An in-memory registry behind the adapter protocol, for testing the layers
above adapters (sync, partial failure) without any registry's wire format.

It counts calls, can be made to fail, hang or flap, and supports the optional
bulk listing so both sync paths can be exercised.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from adapters.base import decode_token, encode_token
from adapters.protocol import ChangeSet, Health, Page, PromotionContext
from gateway.config import RegistrySettings
from gateway.domain import LineageEdge, Model, ModelVersion, Stage, record_edges
from gateway.errors import RegistryRejected, RegistryUnavailable

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
T = TypeVar("T")


class MemoryRegistry:
    kind = "memory"

    def __init__(self, registry_id: str, *, page_size: int = 50):
        self.registry_id = registry_id
        self.page_size = page_size
        self.models: dict[str, Model] = {}
        self.versions: dict[str, dict[str, ModelVersion]] = {}
        self.changed_at: dict[str, int] = {}
        self.clock = 0
        self.calls: Counter[str] = Counter()
        self.failing = False
        self.hang_seconds = 0.0
        self.refused_models: set[str] = set()  # list_versions refuses these (a 4xx: the registry is up)

    # --- test controls -------------------------------------------------------

    def put(self, name: str, versions: int = 1, **model_fields: object) -> Model:
        self.clock += 1
        model = Model(
            self.registry_id,
            name,
            created_at=EPOCH,
            updated_at=EPOCH + timedelta(seconds=self.clock),
            **model_fields,
        )  # type: ignore[arg-type]
        self.models[name] = model
        existing = self.versions.setdefault(name, {})
        for i in range(len(existing) + 1, len(existing) + versions + 1):
            existing[str(i)] = ModelVersion(
                self.registry_id, name, str(i), artifact_uri=f"s3://mem/{name}/{i}", created_at=EPOCH
            )
        self.changed_at[name] = self.clock
        return model

    def delete(self, name: str) -> None:
        self.clock += 1
        self.models.pop(name, None)
        self.versions.pop(name, None)
        self.changed_at[name] = self.clock

    async def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.hang_seconds:
            try:
                await asyncio.sleep(self.hang_seconds)
            except asyncio.CancelledError:  # a caller's deadline gave up on us
                self.calls["cancelled"] += 1
                raise
        if self.failing:
            raise RegistryUnavailable(self.registry_id, "connection refused")

    # --- the protocol -----------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        await self._call("list_models")
        names = sorted(self.models)
        start = decode_token(page_token)["i"] if page_token else 0
        chunk = names[start : start + self.page_size]
        more = start + self.page_size < len(names)
        return Page(
            [self.models[n] for n in chunk], encode_token({"i": start + self.page_size}) if more else None
        )

    def _page(self, items: list[T], page_token: str | None) -> Page[T]:
        start = decode_token(page_token)["i"] if page_token else 0
        more = start + self.page_size < len(items)
        return Page(
            items[start : start + self.page_size],
            encode_token({"i": start + self.page_size}) if more else None,
        )

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        await self._call("list_versions")
        if model_name in self.refused_models:
            raise RegistryRejected(self.registry_id, f"cannot list versions of {model_name!r}", status=400)
        return self._page(list(self.versions.get(model_name, {}).values()), page_token)

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]:
        await self._call("list_all_versions")
        return self._page([v for vs in self.versions.values() for v in vs.values()], page_token)

    async def get_model(self, name: str) -> Model | None:
        await self._call("get_model")
        return self.models.get(name)

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        await self._call("get_version")
        return self.versions.get(name, {}).get(version)

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        await self._call("changes_since")
        since = int(cursor or 0)
        changed = sorted(n for n, at in self.changed_at.items() if at > since and n in self.models)
        deleted = sorted(n for n, at in self.changed_at.items() if at > since and n not in self.models)
        return ChangeSet(cursor=str(self.clock), changed=changed, deleted=deleted)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        await self._call("lineage")
        return record_edges(version)  # what the record says, as the native registry does

    async def set_stage(self, version: ModelVersion, stage: Stage, context: PromotionContext) -> ModelVersion:
        await self._call("set_stage")
        versions = self.versions[version.model_name]
        if stage is Stage.PRODUCTION:  # one PRODUCTION version per model, as the real adapters keep
            for number, other in versions.items():
                if other.stage is Stage.PRODUCTION and number != version.version:
                    versions[number] = dataclasses.replace(
                        other, stage=Stage.ARCHIVED, native_stage=Stage.ARCHIVED.value
                    )
        updated = dataclasses.replace(versions[version.version], stage=stage, native_stage=stage.value)
        versions[version.version] = updated
        self.clock += 1
        self.changed_at[version.model_name] = self.clock
        return updated

    async def health(self) -> Health:
        return Health(not self.failing, "connection refused" if self.failing else None)

    async def aclose(self) -> None:
        pass


class PerModelRegistry(MemoryRegistry):
    """The same registry without the bulk listing (one version listing per model)."""

    list_all_versions = None  # type: ignore[assignment]


class PagedBulkRegistry(MemoryRegistry):
    """The bulk listing in pages of ``version_page_size``, ordered by ``order``
    ("model": a model's versions together, as MLflow's name order gives them;
    "number": by version number first, so a model's versions come apart). A page
    index in ``hold_pages`` waits for ``release`` (``held`` is set when it does),
    to look at a sync while its listing is still running."""

    def __init__(self, registry_id: str, *, version_page_size: int = 100, order: str = "model", **kw: Any):
        super().__init__(registry_id, **kw)
        self.version_page_size = version_page_size
        self.order = order
        self.hold_pages: set[int] = set()
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]:
        await self._call("list_all_versions")
        everything = [v for n in sorted(self.versions) for v in self.versions[n].values()]
        if self.order == "number":
            everything.sort(key=lambda v: (int(v.version), v.model_name))
        start = decode_token(page_token)["i"] if page_token else 0
        if start // self.version_page_size in self.hold_pages:
            self.held.set()
            await self.release.wait()
        end = start + self.version_page_size
        return Page(everything[start:end], encode_token({"i": end}) if end < len(everything) else None)


class DetailFillingRegistry(PagedBulkRegistry):
    """A ``DetailFiller``: its versions' details (a metric, as MLflow's come from the
    run) are left out of ``list_all_versions_brief`` and added by ``fill_details``;
    ``failing_details`` makes the fill fail as an outage would."""

    fills_details = True
    failing_details = False

    def _detailed(self, v: ModelVersion) -> ModelVersion:
        return dataclasses.replace(v, metrics={"auc": 0.5 + int(v.version) / 100}, partial=False)

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        page = await super().list_versions(model_name, page_token)
        return Page([self._detailed(v) for v in page.items], page.next_token)

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]:
        self.calls["detailed_listing"] += 1  # the brief listing counts as list_all_versions too
        page = await super().list_all_versions(page_token)
        return Page([self._detailed(v) for v in page.items], page.next_token)

    async def list_all_versions_brief(self, page_token: str | None = None) -> Page[ModelVersion]:
        self.calls["list_all_versions_brief"] += 1
        page = await super().list_all_versions(page_token)
        return Page([dataclasses.replace(v, partial=True) for v in page.items], page.next_token)

    async def fill_details(self, versions: Sequence[ModelVersion]) -> list[ModelVersion]:
        await self._call("fill_details")
        if self.failing_details:
            raise RegistryUnavailable(self.registry_id, "runs/search timed out")
        return [self._detailed(v) for v in versions]


class BatchingRegistry(MemoryRegistry):
    """Reads many versions in one call, like the native registry does."""

    async def get_versions(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], ModelVersion]:
        await self._call("get_versions")
        return {(n, v): self.versions[n][v] for n, v in keys if v in self.versions.get(n, {})}


class MemoryFactory:
    """Plugs in-memory registries in through the same seam real adapters use
    (``Gateway.open(settings, factories={..., "memory": MemoryFactory()})``)."""

    kind = "memory"

    def __init__(self, make: Callable[[RegistrySettings], MemoryRegistry] | None = None):
        self.made: dict[str, Any] = {}
        self._make = make or (lambda registry: MemoryRegistry(registry.id))

    def validate(self, registry: RegistrySettings) -> None:
        """Memory registries take any options."""

    def create(self, registry: RegistrySettings, context: Any) -> Any:
        self.made[registry.id] = self._make(registry)
        return self.made[registry.id]
