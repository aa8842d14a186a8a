"""The Vertex AI Model Registry adapter (entry point ``vertex``).

REST v1 over httpx (``adapters.vertex.api``), service-account OAuth tokens from
authlib's JWT bearer flow (``adapters.vertex.auth``), the vocabulary mapping
(``adapters.vertex.mapping``) and the options (``adapters.vertex.options``).
"""

from __future__ import annotations

from adapters.base import AdapterContext, ReferenceMatch, ReferenceParser
from adapters.vertex import refs
from adapters.vertex.options import VertexOptions, VertexSettings, load_settings
from adapters.vertex.registry import VertexRegistry
from gateway.config import RegistrySettings


class VertexFactory(ReferenceParser):
    kind = "vertex"

    def is_reference(self, text: str) -> bool:
        return refs.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        """See ``adapters.vertex.refs``."""
        return refs.parse_reference(text, registry)

    def validate(self, registry: RegistrySettings) -> None:
        """Checks the options and reads the key file (without any network access)."""
        load_settings(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> VertexRegistry:
        settings = load_settings(registry, context.environ)
        return VertexRegistry(registry.id, settings, team=registry.team)


factory = VertexFactory()

__all__ = ["VertexFactory", "VertexOptions", "VertexRegistry", "VertexSettings", "factory", "load_settings"]
