"""The DVC/GTO adapter (entry point ``gto``): a Git repository is the registry.

Git runs as a subprocess against a bare local mirror (``adapters.gto.git``,
``adapters.gto.mirror``); GTO's tag grammar and rules live in
``adapters.gto.tags``, the DVC files and the vocabulary mapping in
``adapters.gto.mapping``, the options in ``adapters.gto.options``, the
adapter in ``adapters.gto.registry`` and GTO references for lineage in
``adapters.gto.refs``. Neither ``gto`` nor ``dvc`` is needed at runtime.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import AdapterContext, ReferenceMatch, ReferenceParser
from adapters.gto.options import GtoSettings, load_settings
from adapters.gto.refs import GtoReferences
from adapters.gto.registry import GtoRegistry
from gateway.config import RegistrySettings

MIRRORS = "gto-mirrors"


def mirror_path(registry_id: str, settings: GtoSettings, context: AdapterContext) -> Path:
    """``mirror_dir`` if configured, else ``gto-mirrors/`` beside the gateway's artifacts directory."""
    root = settings.mirror_dir or (context.artifacts_dir.parent / MIRRORS)
    return root / f"{registry_id}.git"


class GtoFactory(ReferenceParser):
    kind = "gto"

    def __init__(self) -> None:
        self._references = GtoReferences()

    def validate(self, registry: RegistrySettings) -> None:
        """Checks the options and reads a token file (without any network access)."""
        load_settings(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> GtoRegistry:
        settings = load_settings(registry, context.environ)
        return GtoRegistry(
            registry.id, settings, mirror_path(registry.id, settings, context), team=registry.team
        )

    def is_reference(self, text: str) -> bool:
        return self._references.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        return self._references.parse_reference(text, registry)


factory = GtoFactory()

__all__ = ["GtoFactory", "GtoRegistry", "GtoSettings", "factory", "load_settings"]
