"""W&B's own references to registry versions: the artifact paths
``wandb-artifact:///<org-entity>/wandb-registry-<registry>/<collection>:<v<N>|alias>``
(the form modelgate gives a W&B version's ``native.path``, and W&B's
``wandb-artifact://`` manifest references with a full path). The org entity is
not in the config (only the organization's name is), so a match is *weak*: it
holds for the referencing version's own W&B registry, or the only one. An alias
(``:production``) names the collection, not a version: which version it points
at changes."""

from __future__ import annotations

import re

from adapters.base import ReferenceMatch
from adapters.wandb.mapping import REGISTRY_PREFIX, model_name
from gateway.config import RegistrySettings

SCHEME = "wandb-artifact:///"
PATH = re.compile(r"^(?P<entity>[^/]+)/(?P<project>[^/]+)/(?P<collection>[^/:]+)(?::(?P<version>[^/:]+))?$")


class WandbReferences:
    """``ReferenceParser`` for registry artifact paths."""

    def is_reference(self, text: str) -> bool:
        return text.startswith(SCHEME) and len(text) > len(SCHEME)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        if not self.is_reference(text):
            return None
        found = PATH.match(text[len(SCHEME) :].split("?", 1)[0])
        if found is None or not found["project"].startswith(REGISTRY_PREFIX):
            return None
        registry_name = found["project"].removeprefix(REGISTRY_PREFIX)
        single = registry.options.get("registry")
        single = str(single).removeprefix(REGISTRY_PREFIX) if single else None
        if single and registry_name != single:
            return None
        version = found["version"]
        indexed = version if version and re.fullmatch(r"v\d+", version) else None
        return ReferenceMatch(
            model_name=model_name(registry_name, found["collection"], single), version=indexed, weak=True
        )
