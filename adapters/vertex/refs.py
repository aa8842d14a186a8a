"""Vertex AI's own model references, for lineage (``ReferenceParser``).

``projects/<p>/locations/<l>/models/<id>@<version>`` (optionally behind
``https://<host>/v1/`` or ``//aiplatform.googleapis.com/``) names a version of
the registry configured with that project and location; without ``@version``
it names the model. ``@<alias>`` names no version (aliases move). Vertex may
spell a project by its number, which the config does not know: such a name
holds only for the referencing version's own registry in that location.
"""

from __future__ import annotations

import re

from adapters.base import ReferenceMatch
from gateway.config import RegistrySettings

RESOURCE_NAME = re.compile(
    r"^(?:https?://[^/]+/v1(?:beta1)?/|//aiplatform\.googleapis\.com/)?"
    r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/models/(?P<model>[^/@?#]+)"
    r"(?:@(?P<version>[^/?#]+))?$"
)


def is_reference(text: str) -> bool:
    return RESOURCE_NAME.match(text.strip()) is not None


def parse_reference(text: str, registry: RegistrySettings) -> ReferenceMatch | None:
    match = RESOURCE_NAME.match(text.strip())
    if match is None or match["location"] != registry.options.get("location"):
        return None
    version = match["version"]
    if version is not None and not version.isdigit():
        return None  # an alias: it moves from version to version
    project = match["project"]
    if project == registry.options.get("project"):
        return ReferenceMatch(match["model"], version)
    if project.isdigit():
        return ReferenceMatch(match["model"], version, weak=True, context_only=True)
    return None
