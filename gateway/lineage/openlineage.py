"""Lineage as OpenLineage ``RunEvent`` JSON, for Marquez or any OpenLineage consumer.

The mapping (per model version, one run: a START and a COMPLETE event, as the
spec asks of every run):

* **job**: the training of a model: namespace ``mg://<registry>``, name the
  model. Each version is one **run** of it, ``runId`` a UUID derived from the
  version URI (re-exports are idempotent).
* **inputs**: the datasets the version was trained or validated on, and the
  versions it was fine-tuned from (as datasets in their ``mg://`` namespace).
* **outputs**: the version itself as a dataset (namespace ``mg://<registry>``,
  name ``<model>/<version>``) with facets ``documentation``, ``version``
  (``datasetVersion``) and ``symlinks`` (its artifact location and SAME_AS
  copies in other registries).
* job facets: ``jobType`` (BATCH, integration MODELGATE, MODEL_TRAINING),
  ``documentation``, ``sourceCodeLocation`` when the repository is known.

Dataset names follow OpenLineage's naming conventions: ``s3://bucket/key`` →
namespace ``s3://bucket``, name ``key`` (likewise ``gs``, ``abfss``, ...);
``file:///path`` → ``file``, ``/path``; other URIs → ``scheme://authority`` and
the path. Deployments (DEPLOYED_TO) have no OpenLineage counterpart here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from gateway import __version__
from gateway.auth.permissions import redacted_uri
from gateway.domain import URI_SCHEME, ModelVersion, Relation, parse_uri, utcnow
from gateway.lineage.graph import Edge
from gateway.lineage.uris import PATH_SCHEMES

PRODUCER = f"urn:modelgate:gateway:{__version__}"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS = "https://openlineage.io/spec/facets"
# The current version of each facet schema (OpenLineage spec, 2026-08).
SCHEMAS = {
    "jobType": f"{_FACETS}/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "jobDocumentation": f"{_FACETS}/1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
    "sourceCodeLocation": (
        f"{_FACETS}/1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet"
    ),
    "datasetDocumentation": (
        f"{_FACETS}/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet"
    ),
    "version": f"{_FACETS}/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "symlinks": f"{_FACETS}/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet",
}
RUN_NAMESPACE = uuid.UUID("6f1c3d2e-5b7a-4c8e-9d0f-1a2b3c4d5e6f")  # modelgate's uuid5 namespace
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)$", re.DOTALL)
INPUTS = (Relation.TRAINED_ON, Relation.VALIDATED_ON, Relation.DERIVED_FROM)


def _facet(kind: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": SCHEMAS[kind], **fields}


def dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of a dataset URI by OpenLineage's naming conventions."""
    if uri.startswith(URI_SCHEME):
        try:
            parsed = parse_uri(uri)
        except ValueError:
            return "modelgate", uri
        name = parsed.model_name + (f"/{parsed.version}" if parsed.version else "")
        return f"{URI_SCHEME}{parsed.registry_id}", name
    match = _URI.match(uri)
    if not match:
        return "modelgate", uri
    scheme, authority, path = match.groups()
    scheme = scheme.lower()
    if scheme == "file":
        return "file", path or "/"
    if scheme in PATH_SCHEMES:
        return f"{scheme}://{authority}", path.lstrip("/") or "/"
    return f"{scheme}://{authority}", path or "/"


def run_id(version_uri: str) -> str:
    return str(uuid.uuid5(RUN_NAMESPACE, version_uri))


def _time(*candidates: datetime | None) -> str:
    for value in candidates:
        if value is not None:
            return value.isoformat()
    return utcnow().isoformat()


def _job_facets(version: ModelVersion | None, model_name: str) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "jobType": _facet(
            "jobType", processingType="BATCH", integration="MODELGATE", jobType="MODEL_TRAINING"
        ),
        "documentation": _facet("jobDocumentation", description=f"Training of model {model_name}"),
    }
    code = version.training_code if version else None
    if code is not None and code.repository:
        location: dict[str, Any] = {"type": "git", "url": code.repository, "repoUrl": code.repository}
        if code.commit:
            location["version"] = code.commit
        facets["sourceCodeLocation"] = _facet("sourceCodeLocation", **location)
    return facets


REDACTED_NAMESPACE = "redacted"


def _dataset(
    uri: str, facets: Mapping[str, Any] | None = None, hidden: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if uri in hidden:  # a version the caller may not see: a placeholder, nothing more
        return {"namespace": REDACTED_NAMESPACE, "name": redacted_uri(uri)}
    namespace, name = dataset_name(uri)
    out: dict[str, Any] = {"namespace": namespace, "name": name}
    if facets:
        out["facets"] = dict(facets)
    return out


def version_event(
    version_uri: str,
    version: ModelVersion | None,
    edges: Iterable[Edge],
    hidden: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The RunEvent of one version, from its record (if indexed) and its edges;
    ``hidden`` versions appear only as redacted placeholders."""
    parsed = parse_uri(version_uri)
    inputs: dict[str, dict[str, Any]] = {}
    links: list[str] = []
    for e in edges:
        if e.source.uri == version_uri and e.relation in INPUTS:
            facets = {}
            if e.target.label:
                facets["documentation"] = _facet("datasetDocumentation", description=e.target.label)
            inputs.setdefault(e.target.uri, _dataset(e.target.uri, facets, hidden))
        elif e.relation is Relation.SAME_AS:
            other = e.target.uri if e.source.uri == version_uri else e.source.uri
            if other not in hidden:
                links.append(other)
    if version is not None and version.artifact_uri:
        links.append(version.artifact_uri)
    output_facets: dict[str, Any] = {"version": _facet("version", datasetVersion=parsed.version or "")}
    description = (version.description if version else None) or f"{parsed.model_name} v{parsed.version}"
    output_facets["documentation"] = _facet("datasetDocumentation", description=description)
    identifiers = []
    for link in dict.fromkeys(links):
        namespace, name = dataset_name(link)
        identifiers.append(
            {
                "namespace": namespace,
                "name": name,
                "type": "MODEL" if link.startswith(URI_SCHEME) else "ARTIFACT",
            }
        )
    if identifiers:
        output_facets["symlinks"] = _facet("symlinks", identifiers=identifiers)
    return {
        "eventType": "COMPLETE",
        "eventTime": _time(version.created_at if version else None, version.updated_at if version else None),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": {"runId": run_id(version_uri)},
        "job": {
            "namespace": f"{URI_SCHEME}{parsed.registry_id}",
            "name": parsed.model_name,
            "facets": _job_facets(version, parsed.model_name),
        },
        "inputs": list(inputs.values()),
        "outputs": [_dataset(version_uri, output_facets)],
    }


def run_events(complete: dict[str, Any]) -> list[dict[str, Any]]:
    """A version's run as the spec wants it: a START (its inputs, no outputs yet)
    and the COMPLETE that names the version it produced."""
    start = {k: v for k, v in complete.items() if k != "outputs"}
    start["eventType"] = "START"
    return [start, complete]


_EVENT_ORDER = {"START": 0, "COMPLETE": 1}


def events(
    version_uris: Iterable[str],
    records: Mapping[str, ModelVersion],
    edges: Iterable[Edge],
    hidden: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """A START and a COMPLETE event per version, oldest run first (consumers build
    the graph in order). ``hidden`` versions get no events and show only as
    redacted inputs."""
    secret = frozenset(hidden)
    edge_list = list(edges)
    by_version: dict[str, list[Edge]] = {}
    for e in edge_list:
        by_version.setdefault(e.source.uri, []).append(e)
        if e.relation is Relation.SAME_AS:
            by_version.setdefault(e.target.uri, []).append(e)
    out = [
        event
        for uri in dict.fromkeys(version_uris)
        if uri not in secret
        for event in run_events(version_event(uri, records.get(uri), by_version.get(uri, []), secret))
    ]
    return sorted(
        out,
        key=lambda ev: (
            ev["eventTime"],
            ev["job"]["namespace"],
            ev["job"]["name"],
            ev["run"]["runId"],
            _EVENT_ORDER[ev["eventType"]],
        ),
    )
