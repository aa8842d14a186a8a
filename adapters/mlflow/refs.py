"""MLflow's own model references, for lineage (``ReferenceParser``).

``models:/<name>/<version>`` names a registry version but carries no server, so
the match is weak: it holds for the referencing version's own MLflow registry,
or for the only MLflow registry configured. ``models:/<name>@<alias>`` (moves
over time) and ``models:/m-<id>`` (a LoggedModel, not a registry version) are
references all the same, but name no version.
"""

from __future__ import annotations

import re

from adapters.base import ReferenceMatch
from gateway.config import RegistrySettings

MODELS_PREFIX = "models:/"
MODEL_VERSION_REF = re.compile(r"^models:/+(?P<name>[^/@]+)/(?P<version>[0-9]+)/?$")
# Locations that only mean something inside one MLflow server (its artifact proxy,
# model and run references): never evidence that two registries hold the same bytes.
RELATIVE_SCHEMES = frozenset({"models", "runs", "mlflow-artifacts"})


def is_reference(text: str) -> bool:
    return text.strip().startswith(MODELS_PREFIX)


def parse_reference(text: str, registry: RegistrySettings) -> ReferenceMatch | None:
    match = MODEL_VERSION_REF.match(text.strip())
    if match is None:
        return None
    return ReferenceMatch(match["name"], match["version"], weak=True)
