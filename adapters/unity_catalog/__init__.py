"""The Unity Catalog adapter (entry point ``unity_catalog``).

REST over httpx with a bearer token (``adapters.unity_catalog.api``) against the
OSS server or Databricks (``flavor``), the vocabulary mapping
(``adapters.unity_catalog.mapping``), the options (``adapters.unity_catalog.options``)
and three-level ``models:/`` references (``adapters.unity_catalog.refs``).
"""

from __future__ import annotations

from adapters.base import AdapterContext, ReferenceMatch, ReferenceParser
from adapters.unity_catalog.options import UnityCatalogOptions, UnityCatalogSettings, load_settings
from adapters.unity_catalog.refs import UnityCatalogReferences
from adapters.unity_catalog.registry import UnityCatalogRegistry
from gateway.config import RegistrySettings


class UnityCatalogFactory(ReferenceParser):
    kind = "unity_catalog"

    def __init__(self) -> None:
        self._references = UnityCatalogReferences()

    def validate(self, registry: RegistrySettings) -> None:
        """Checks the options and that the token can be read (no network access)."""
        load_settings(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> UnityCatalogRegistry:
        settings = load_settings(registry, context.environ)
        return UnityCatalogRegistry(registry.id, settings, team=registry.team)

    def is_reference(self, text: str) -> bool:
        return self._references.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        return self._references.parse_reference(text, registry)


factory = UnityCatalogFactory()

__all__ = [
    "UnityCatalogFactory",
    "UnityCatalogOptions",
    "UnityCatalogRegistry",
    "UnityCatalogSettings",
    "factory",
    "load_settings",
]
