"""The W&B Registry adapter (entry point ``wandb``).

GraphQL over httpx with HTTP Basic ``api:<key>`` (``adapters.wandb.api``), the
documents the ``wandb`` SDK sends (``adapters.wandb.queries``), the vocabulary
mapping (``adapters.wandb.mapping``) and the options (``adapters.wandb.options``).
The adapter does not need the ``wandb`` package itself.
"""

from __future__ import annotations

from adapters.base import AdapterContext, ReferenceMatch, ReferenceParser
from adapters.wandb.options import WandbOptions, WandbSettings, load_settings
from adapters.wandb.refs import WandbReferences
from adapters.wandb.registry import WandbRegistry
from gateway.config import RegistrySettings


class WandbFactory(ReferenceParser):
    kind = "wandb"

    def __init__(self) -> None:
        self._references = WandbReferences()

    def validate(self, registry: RegistrySettings) -> None:
        """Checks the options and that the API key can be read (no network access)."""
        load_settings(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> WandbRegistry:
        settings = load_settings(registry, context.environ)
        return WandbRegistry(registry.id, settings, team=registry.team)

    def is_reference(self, text: str) -> bool:
        return self._references.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        return self._references.parse_reference(text, registry)


factory = WandbFactory()

__all__ = ["WandbFactory", "WandbOptions", "WandbRegistry", "WandbSettings", "factory", "load_settings"]
