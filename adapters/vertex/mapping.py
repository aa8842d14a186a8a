"""Vertex's vocabulary ↔ modelgate's: models, versions, stages and lineage.

- A modelgate model is a Vertex model; its name is the model **ID** (the last
  segment of ``projects/P/locations/L/models/ID``), so ``mg://<registry>/<ID>``
  URIs are stable and address Vertex directly. The human ``displayName`` is kept
  as the tag ``vertex.displayName`` (a key no Vertex label can have, since labels
  allow no dots or capitals) and in ``native``.
- A version is a ``versionId`` (a decimal string). Its ``versionAliases``
  (``default`` included) are the aliases, its labels the tags, its
  ``deployedModels`` the deployments, ``containerSpec.imageUri`` the environment.
- Stages: an alias from ``production_aliases`` → PRODUCTION, else one from
  ``staging_aliases`` → STAGING, else the archived label → ARCHIVED, else DRAFT.
  Aliases outrank the label because an alias is what serving resolves: a version
  someone moved ``production`` onto in the console *is* in production, whatever
  a stale label says. ``default`` never means a stage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.conventions import code_of, environment_of, model_card_of, semver_of
from adapters.toolkit.timestamps import to_utc
from adapters.vertex.options import StageMapping
from gateway.domain import (
    Deployment,
    LineageEdge,
    LineageNode,
    Model,
    ModelVersion,
    Relation,
    Stage,
    model_uri,
    version_node,
    version_uri,
)

DISPLAY_NAME_TAG = "vertex.displayName"
RESOURCE_IN_TEXT = re.compile(r"projects/([^/]+)/locations/([^/]+)/models/([^/@?#]+)(?:@([0-9]+))?")
MODEL_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/models/([^/@]+)(?:@([^/]+))?$")
# Schema titles of ML Metadata artifacts: Vertex pipelines write system.* and google.*.
DATASET_SCHEMAS = frozenset({"system.Dataset", "google.VertexDataset", "google.BQTable"})
MODEL_SCHEMAS = frozenset({"system.Model", "google.VertexModel"})
NATIVE_KEYS = (
    "name",
    "displayName",
    "etag",
    "labels",
    "versionAliases",
    "metadataArtifact",
    "modelSourceInfo",
    "metadata",
    "metadataSchemaUri",
    "trainingPipeline",
    "pipelineJob",
    "deployedModels",
)


def model_id_of(resource_name: str) -> str:
    """``projects/P/locations/L/models/ID[@V]`` → ``ID``."""
    match = MODEL_NAME.match(resource_name)
    return match.group(3) if match else resource_name.rsplit("/", 1)[-1].split("@", 1)[0]


def stage_of(wire: Mapping[str, Any], stages: StageMapping) -> tuple[Stage, str | None]:
    """The unified stage and the registry's own word for it (the alias or the label)."""
    aliases = wire.get("versionAliases") or []
    ranked = ((Stage.PRODUCTION, stages.production_aliases), (Stage.STAGING, stages.staging_aliases))
    for stage, names in ranked:
        for alias in names:
            if alias in aliases:
                return stage, alias
    key, value = stages.archived_label
    if (wire.get("labels") or {}).get(key) == value:
        return Stage.ARCHIVED, f"{key}={value}"
    return Stage.DRAFT, None


def to_model(wire: Mapping[str, Any], registry_id: str) -> Model:
    """A model from any of its versions (Vertex lists models as their default version)."""
    tags = dict(wire.get("labels") or {})
    if wire.get("displayName"):
        tags[DISPLAY_NAME_TAG] = wire["displayName"]
    return Model(
        registry_id=registry_id,
        name=model_id_of(wire["name"]),
        description=wire.get("description") or None,
        tags=tags,
        created_at=to_utc(wire.get("createTime")),
        updated_at=to_utc(wire.get("updateTime")),
        native={k: wire[k] for k in ("name", "displayName", "etag", "versionId") if k in wire},
    )


def to_version(wire: Mapping[str, Any], registry_id: str, stages: StageMapping) -> ModelVersion:
    """A version. Semver, model card, environment and code follow the documented
    conventions in the version's ``metadata`` object (labels cannot hold them:
    their values allow no dots, capitals or spaces)."""
    stage, native_stage = stage_of(wire, stages)
    container = wire.get("containerSpec") or {}
    raw_metadata = wire.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
    return ModelVersion(
        registry_id=registry_id,
        model_name=model_id_of(wire["name"]),
        version=str(wire["versionId"]),
        stage=stage,
        native_stage=native_stage,
        aliases=tuple(wire.get("versionAliases") or ()),
        description=wire.get("versionDescription") or None,
        artifact_uri=wire.get("artifactUri") or None,
        semver=semver_of(metadata),
        environment=environment_of(metadata) or container.get("imageUri") or None,
        training_code=code_of(metadata),
        model_card=model_card_of(metadata),
        deployments=tuple(
            Deployment(endpoint=ref["endpoint"], registry=registry_id, variant=ref.get("deployedModelId"))
            for ref in wire.get("deployedModels") or ()
            if ref.get("endpoint")
        ),
        tags=dict(wire.get("labels") or {}),
        created_at=to_utc(wire.get("versionCreateTime") or wire.get("createTime")),
        updated_at=to_utc(wire.get("versionUpdateTime") or wire.get("updateTime")),
        native={k: wire[k] for k in NATIVE_KEYS if k in wire},
    )


def lineage_edges(
    version: ModelVersion, subgraph: Mapping[str, Any], home: tuple[frozenset[str], str]
) -> list[LineageEdge]:
    """Edges from a ``LineageSubgraph`` around the version's ``metadataArtifact``.

    The executions that OUTPUT the version's artifact are the runs that produced
    it (PRODUCED_BY); their INPUT artifacts are the datasets it was trained on
    (TRAINED_ON) and the models it was derived from (DERIVED_FROM). A model
    input that names a Vertex model of this registry (``home``: its project ID or
    number, and its location) becomes that version's ``mg://`` URI; any other
    keeps its resource name or URI for the lineage resolver.
    """
    me = version_node(version)
    mine = version.native.get("metadataArtifact")
    artifacts = {a.get("name"): a for a in subgraph.get("artifacts") or ()}
    executions = {e.get("name"): e for e in subgraph.get("executions") or ()}
    events = subgraph.get("events") or ()
    producers = [e.get("execution") for e in events if e.get("artifact") == mine and _is(e, "OUTPUT")]
    edges: list[LineageEdge] = []
    for execution_name in dict.fromkeys(p for p in producers if p):
        execution = executions.get(execution_name) or {}
        run = LineageNode(execution_name, "run", execution.get("displayName") or None, None)
        edges.append(LineageEdge(me, run, Relation.PRODUCED_BY))
        inputs = [
            e.get("artifact") for e in events if e.get("execution") == execution_name and _is(e, "INPUT")
        ]
        for artifact_name in dict.fromkeys(a for a in inputs if a and a != mine):
            artifact = artifacts.get(artifact_name)
            if artifact is None:
                continue
            schema = artifact.get("schemaTitle")
            if schema in DATASET_SCHEMAS:
                uri = artifact.get("uri") or artifact_name
                node = LineageNode(uri, "dataset", artifact.get("displayName") or None, None)
                edges.append(LineageEdge(me, node, Relation.TRAINED_ON))
            elif schema in MODEL_SCHEMAS:
                parent = _model_node(artifact, version, home)
                if parent is not None and parent.uri != me.uri:
                    edges.append(LineageEdge(me, parent, Relation.DERIVED_FROM))
    return edges


def _model_node(
    artifact: Mapping[str, Any], version: ModelVersion, home: tuple[frozenset[str], str]
) -> LineageNode | None:
    projects, location = home
    metadata = artifact.get("metadata") or {}
    candidates = [metadata.get("resourceName"), artifact.get("uri")]
    for candidate in (c for c in candidates if isinstance(c, str)):
        match = RESOURCE_IN_TEXT.search(candidate)
        if match and match.group(1) in projects and match.group(2) == location:
            model_id, parent_version = match.group(3), match.group(4)
            if parent_version:
                uri = version_uri(version.registry_id, model_id, parent_version)
                return LineageNode(uri, "model_version", f"{model_id} v{parent_version}", version.registry_id)
            uri = model_uri(version.registry_id, model_id)
            return LineageNode(uri, "model", model_id, version.registry_id)
        if match:  # a Vertex model elsewhere: the resolver maps resource names to registries
            name = match.group(0)
            return LineageNode(name, "model_version", artifact.get("displayName") or None, None)
    other: str | None = artifact.get("uri") or artifact.get("name")
    return LineageNode(other, "model_version", artifact.get("displayName") or None, None) if other else None


def _is(event: Mapping[str, Any], kind: str) -> bool:
    return event.get("type") == kind
