"""Azure ML's own model references, for the lineage resolver (``ReferenceParser``).

- ARM ids: ``/subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/
  workspaces/WS/models/NAME[/versions/V]`` (and ``…/registries/REG/…``); Azure
  compares subscription, resource group and workspace case-insensitively.
- Registry asset URIs: ``azureml://registries/REG/models/NAME[/versions/V]``.
- The short form jobs and deployments use, ``azureml:NAME:VERSION``: it names no
  workspace, so the match is *weak* (the referencing version's own registry, or
  the only azureml registry configured).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.base import ReferenceMatch
from gateway.config import RegistrySettings

ARM_ID = re.compile(
    r"^/?subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices"
    r"/(?P<kind>workspaces|registries)/(?P<scope>[^/]+)/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)
REGISTRY_URI = re.compile(
    r"^azureml://registries/(?P<scope>[^/]+)/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)
SHORT = re.compile(r"^azureml:(?P<name>[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}):(?P<version>[^:/@\s]+)$")


def is_reference(text: str) -> bool:
    return bool(ARM_ID.match(text) or REGISTRY_URI.match(text) or SHORT.match(text))


def parse_reference(text: str, registry: RegistrySettings) -> ReferenceMatch | None:
    options: Mapping[str, Any] = registry.options
    workspace, reg = options.get("workspace"), options.get("registry")
    if match := ARM_ID.match(text):
        kind = match["kind"].lower()
        scope = workspace if kind == "workspaces" else reg
        same = (
            isinstance(scope, str)
            and match["scope"].lower() == scope.lower()
            and match["sub"].lower() == str(options.get("subscription_id", "")).lower()
            and match["rg"].lower() == str(options.get("resource_group", "")).lower()
        )
        return ReferenceMatch(match["name"], match["version"]) if same else None
    if match := REGISTRY_URI.match(text):
        same = isinstance(reg, str) and match["scope"].lower() == reg.lower()
        return ReferenceMatch(match["name"], match["version"]) if same else None
    if match := SHORT.match(text):
        return ReferenceMatch(match["name"], match["version"], weak=True)
    return None
