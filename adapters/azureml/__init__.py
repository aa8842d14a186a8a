"""The Azure Machine Learning adapter (entry point ``azureml``).

ARM REST over httpx (``adapters.azureml.api``), Entra ID client-credential
tokens through authlib (``adapters.azureml.auth``), the vocabulary mapping
(``adapters.azureml.mapping``), the options (``adapters.azureml.options``) and
Azure ML's model references for lineage (``adapters.azureml.refs``).
"""

from __future__ import annotations

from adapters.azureml import refs
from adapters.azureml.options import AzureMLOptions, AzureMLSettings, load_settings
from adapters.azureml.registry import AzureMLRegistry
from adapters.base import AdapterContext, ReferenceMatch, ReferenceParser
from gateway.config import RegistrySettings


class AzureMLFactory(ReferenceParser):
    kind = "azureml"

    def validate(self, registry: RegistrySettings) -> None:
        """Checks the options and reads the secret (without any network access)."""
        load_settings(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> AzureMLRegistry:
        settings = load_settings(registry, context.environ)
        return AzureMLRegistry(registry.id, settings, team=registry.team)

    # ReferenceParser
    def is_reference(self, text: str) -> bool:
        return refs.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        return refs.parse_reference(text, registry)


factory = AzureMLFactory()

__all__ = [
    "AzureMLFactory",
    "AzureMLOptions",
    "AzureMLRegistry",
    "AzureMLSettings",
    "factory",
    "load_settings",
]
