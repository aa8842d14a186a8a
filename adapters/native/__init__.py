"""The native registry adapter (entry point ``native``)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import AdapterContext
from adapters.native.registry import NativeRegistry
from gateway.config import RegistrySettings, registry_options


@dataclass(frozen=True)
class NativeOptions:
    """The native kind takes no options beyond the common registry keys."""


class NativeFactory:
    kind = "native"

    def validate(self, registry: RegistrySettings) -> None:
        registry_options(NativeOptions, registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> NativeRegistry:
        self.validate(registry)
        return NativeRegistry(registry.id, context.database, team=registry.team)


factory = NativeFactory()

__all__ = ["NativeFactory", "NativeRegistry", "factory"]
