"""SageMaker's own model references, for lineage (``ReferenceParser``).

``arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>`` names a
version, ``...:model-package-group/<group>`` a model; the registry configured
for that region owns them (the referencing version's own registry when several
share the region). AWS (and moto) lowercase the group name in package ARNs, so
matches are ``case_insensitive``: the gateway looks the real spelling up in the
catalogue. An unversioned ``model-package/<name>`` is no registry version.
"""

from __future__ import annotations

import re

from adapters.base import ReferenceMatch
from gateway.config import RegistrySettings

PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:(?P<region>[a-z0-9\-]+):(?P<account>[0-9]*):"
    r"(?P<what>model-package|model-package-group)/(?P<name>[^/]+)(?:/(?P<version>[0-9]+))?$"
)


def is_reference(text: str) -> bool:
    return PACKAGE_ARN.match(text.strip()) is not None


def parse_reference(text: str, registry: RegistrySettings) -> ReferenceMatch | None:
    match = PACKAGE_ARN.match(text.strip())
    if match is None or match["region"] != registry.options.get("region"):
        return None
    if match["what"] == "model-package-group":
        return ReferenceMatch(match["name"], None, case_insensitive=True)
    if match["version"] is None:
        return None  # an unversioned package: not a registry version
    return ReferenceMatch(match["name"], match["version"], case_insensitive=True)
