"""Unity Catalog's vocabulary ↔ modelgate's.

- A modelgate model is a registered model by its three-level ``full_name``
  (``catalog.schema.model``); a version is its integer ``version`` as text.
  ``comment`` is the description, ``source`` the artifact URI; the server's
  ``storage_location``, ``status``, ``run_id``, ids and editors survive in ``native``.
- Stages, Databricks flavor: the version's aliases (``champion`` …) by the
  configured lists, ``native_stage`` the alias that decided; a version with no
  such alias is DRAFT with its ``status`` as ``native_stage``.
- Stages, OSS flavor: the server has no aliases and no stages, only the
  registration ``status``; every version is DRAFT and ``native_stage`` says so
  (``READY (OSS: no aliases, read-only lifecycle)``).
- ARCHIVED: Unity Catalog has nothing that means it (no stages, no tags on the
  REST API); it is never read and cannot be written.
- Lineage: ``run_id`` → PRODUCED_BY the MLflow run (``adapters.conventions.mlflow_run_uri``,
  under the configured ``runs_registry``, so it meets the MLflow adapter's node);
  a ``models:/m-<id>`` source → SAME_AS that LoggedModel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapters.conventions import mlflow_logged_model_uri, mlflow_run_uri
from adapters.toolkit.timestamps import to_utc
from adapters.unity_catalog.options import AliasMapping
from gateway.domain import (
    LineageEdge,
    LineageNode,
    Model,
    ModelVersion,
    Relation,
    Stage,
    version_node,
)

MODEL_NATIVE_KEYS = (
    "id",
    "catalog_name",
    "schema_name",
    "name",
    "storage_location",
    "owner",
    "created_by",
    "updated_by",
)
VERSION_NATIVE_KEYS = (
    "id",
    "catalog_name",
    "schema_name",
    "model_name",
    "status",
    "run_id",
    "run_workspace_id",
    "source",
    "storage_location",
    "created_by",
    "updated_by",
)
OSS_NOTE = "OSS: no aliases, read-only lifecycle"
LOGGED_MODEL_PREFIX = "models:/m-"


def full_name(wire: Mapping[str, Any]) -> str:
    """A model's three-level name (versions carry its parts, not the whole)."""
    if wire.get("full_name"):
        return str(wire["full_name"])
    return f"{wire['catalog_name']}.{wire['schema_name']}.{wire.get('model_name') or wire['name']}"


def alias_names(aliases: Iterable[Mapping[str, Any]] | None, version: int | None = None) -> list[str]:
    """The alias names of ``RegisteredModelAlias`` records (of one version, if given)."""
    return [
        str(a["alias_name"])
        for a in aliases or ()
        if a.get("alias_name") and (version is None or a.get("version_num") == version)
    ]


def to_model(wire: Mapping[str, Any], registry_id: str, team: str | None = None) -> Model:
    native: dict[str, Any] = {k: wire[k] for k in MODEL_NATIVE_KEYS if k in wire}
    if "aliases" in wire:
        native["aliases"] = [dict(a) for a in wire["aliases"] or ()]
    return Model(
        registry_id=registry_id,
        name=full_name(wire),
        description=wire.get("comment") or None,
        team=team,
        created_at=to_utc(wire.get("created_at")),
        updated_at=to_utc(wire.get("updated_at")),
        native=native,
    )


def stage_of(status: str, aliases: list[str] | None, mapping: AliasMapping) -> tuple[Stage, str]:
    """The unified stage and the registry's own word for it. ``aliases`` is None
    on a server without aliases (OSS)."""
    if aliases is None:
        return Stage.DRAFT, f"{status} ({OSS_NOTE})"
    found = mapping.stage_for(aliases)
    if found is not None:
        return found
    return Stage.DRAFT, status


def to_version(
    wire: Mapping[str, Any],
    *,
    registry_id: str,
    aliases: list[str] | None,
    mapping: AliasMapping,
    team: str | None = None,
) -> ModelVersion:
    """One version from its record and (Databricks) the aliases pointing at it."""
    status = str(wire.get("status") or "MODEL_VERSION_STATUS_UNKNOWN")
    stage, native_stage = stage_of(status, aliases, mapping)
    native: dict[str, Any] = {k: wire[k] for k in VERSION_NATIVE_KEYS if k in wire}
    if aliases is not None:
        native["aliases"] = list(aliases)
    return ModelVersion(
        registry_id=registry_id,
        model_name=full_name(wire),
        version=str(wire["version"]),
        stage=stage,
        native_stage=native_stage,
        aliases=tuple(aliases or ()),
        description=wire.get("comment") or None,
        artifact_uri=wire.get("source") or None,
        team=team,
        created_by=wire.get("created_by") or None,
        created_at=to_utc(wire.get("created_at")),
        updated_at=to_utc(wire.get("updated_at")),
        native=native,
    )


def lineage_edges(version: ModelVersion, runs_registry: str) -> list[LineageEdge]:
    """PRODUCED_BY the MLflow run named by ``run_id``; SAME_AS the LoggedModel a
    ``models:/m-<id>`` source names (MLflow 3 registers those)."""
    me = version_node(version)
    edges: list[LineageEdge] = []
    if run_id := version.native.get("run_id"):
        run = LineageNode(mlflow_run_uri(runs_registry, str(run_id)), "run", str(run_id), runs_registry)
        edges.append(LineageEdge(me, run, Relation.PRODUCED_BY))
    source = str(version.native.get("source") or "")
    if source.startswith(LOGGED_MODEL_PREFIX) and (model_id := source[len("models:/") :].split("/")[0]):
        node = LineageNode(
            mlflow_logged_model_uri(runs_registry, model_id), "logged_model", model_id, runs_registry
        )
        edges.append(LineageEdge(me, node, Relation.SAME_AS))
    return edges
