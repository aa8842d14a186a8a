"""What Vertex AI serves: the location's endpoints, their ``deployedModels`` and
``trafficSplit`` (``ServingReader``).

A DeployedModel names its model (``projects/P/locations/L/models/ID``, maybe
with ``@version`` or ``@alias``) and, output only, the ``modelVersionId``
actually deployed; that pair is the catalogue version. ``trafficSplit`` maps
deployed-model IDs to whole percentages summing to 100 (or is empty: the
endpoint takes no traffic); a deployed model it leaves out gets 0 %. A model
of another location, or of a project that is neither the configured one nor
the endpoint's own (Vertex answers with the project number), is no version of
this registry: its share is kept with the deployed-model ID only. Endpoints
have no state of their own in Vertex, so ``status`` stays empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.toolkit.timestamps import to_utc
from adapters.vertex.mapping import MODEL_NAME
from gateway.domain import Endpoint, TrafficShare, version_uri

ENDPOINT_NAME_PROJECT = 1  # group of MODEL_NAME-like names holding the project


def endpoint_from_wire(wire: Mapping[str, Any], registry_id: str, project: str, location: str) -> Endpoint:
    """A ``GoogleCloudAiplatformV1Endpoint`` as an ``Endpoint``."""
    name = str(wire["name"])
    parts = name.split("/")
    projects = {project, parts[ENDPOINT_NAME_PROJECT]} if len(parts) > 1 else {project}
    split: Mapping[str, Any] = wire.get("trafficSplit") or {}
    traffic = []
    for deployed in wire.get("deployedModels") or ():
        deployed_id = str(deployed.get("id") or "")
        traffic.append(
            TrafficShare(
                percent=float(split.get(deployed_id, 0)),
                version_uri=_version_of(deployed, registry_id, projects, location),
                variant=deployed_id or None,
            )
        )
    return Endpoint(
        uri=name,
        name=str(wire.get("displayName") or parts[-1]),
        registry_id=registry_id,
        status=None,
        traffic=tuple(traffic),
        updated_at=to_utc(wire.get("updateTime") or wire.get("createTime")),
    )


def _version_of(
    deployed: Mapping[str, Any], registry_id: str, projects: set[str], location: str
) -> str | None:
    match = MODEL_NAME.match(str(deployed.get("model") or ""))
    if match is None or match.group(1) not in projects or match.group(2) != location:
        return None
    version = deployed.get("modelVersionId") or match.group(4)
    if not version or not str(version).isdigit():  # an alias without the output-only version id
        return None
    return version_uri(registry_id, match.group(3), str(version))
