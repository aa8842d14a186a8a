"""The Hugging Face Hub adapter (entry point ``huggingface``).

REST over httpx (``adapters.huggingface.api``), the card and tag vocabulary
(``adapters.huggingface.mapping``), the options (``adapters.huggingface.options``)
and Hub references, ``hf://`` and ``https://huggingface.co/…`` (``adapters.huggingface.refs``).
"""

from __future__ import annotations

from adapters.base import AdapterContext, ReferenceMatch, ReferenceParser
from adapters.huggingface.options import HuggingFaceOptions, HuggingFaceSettings, load_settings
from adapters.huggingface.refs import HubReferences
from adapters.huggingface.registry import HuggingFaceRegistry
from gateway.config import RegistrySettings


class HuggingFaceFactory(ReferenceParser):
    kind = "huggingface"

    def __init__(self) -> None:
        self._references = HubReferences()

    def validate(self, registry: RegistrySettings) -> None:
        """Checks the options and that the token can be read (no network access)."""
        load_settings(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> HuggingFaceRegistry:
        settings = load_settings(registry, context.environ)
        return HuggingFaceRegistry(registry.id, settings, team=registry.team)

    def is_reference(self, text: str) -> bool:
        return self._references.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        return self._references.parse_reference(text, registry)

    def bare_reference(self, text: str) -> str | None:
        return self._references.bare_reference(text)

    def canonical_reference(self, text: str) -> str | None:
        return self._references.canonical_reference(text)


factory = HuggingFaceFactory()

__all__ = [
    "HuggingFaceFactory",
    "HuggingFaceOptions",
    "HuggingFaceRegistry",
    "HuggingFaceSettings",
    "factory",
    "load_settings",
]
