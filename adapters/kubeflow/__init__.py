"""The Kubeflow Model Registry adapter (entry point ``kubeflow``).

REST over httpx with a bearer token (``adapters.kubeflow.api``), both API
generations (``v1alpha3`` and ``v1``), the vocabulary mapping
(``adapters.kubeflow.mapping``), the options (``adapters.kubeflow.options``) and
``model-registry://`` references (``adapters.kubeflow.refs``).
"""

from __future__ import annotations

from adapters.base import AdapterContext, ReferenceMatch, ReferenceParser
from adapters.kubeflow.options import KubeflowOptions, KubeflowSettings, load_settings
from adapters.kubeflow.refs import KubeflowReferences
from adapters.kubeflow.registry import KubeflowRegistry
from gateway.config import RegistrySettings


class KubeflowFactory(ReferenceParser):
    kind = "kubeflow"

    def __init__(self) -> None:
        self._references = KubeflowReferences()

    def validate(self, registry: RegistrySettings) -> None:
        """Checks the options and that the token can be read (no network access)."""
        load_settings(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> KubeflowRegistry:
        settings = load_settings(registry, context.environ)
        return KubeflowRegistry(registry.id, settings, team=registry.team)

    def is_reference(self, text: str) -> bool:
        return self._references.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        return self._references.parse_reference(text, registry)


factory = KubeflowFactory()

__all__ = [
    "KubeflowFactory",
    "KubeflowOptions",
    "KubeflowRegistry",
    "KubeflowSettings",
    "factory",
    "load_settings",
]
