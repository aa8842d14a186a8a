"""Azure ML's vocabulary ↔ modelgate's: model containers, versions, stages, lineage.

- A modelgate model is a model *container* (``…/models/{name}``); a version is
  ``…/models/{name}/versions/{version}`` (the version id is any string; Azure
  ML numbers auto-registered ones ``1, 2, …``).
- A version's ``modelUri`` is its artifact, ``tags`` its tags, ``systemData`` its
  times and creator; ``flavors``, ``modelType``, ``properties``, ``jobName``,
  ``isAnonymous`` and the ARM ``id`` are kept in ``native``.
- Stages: ``isArchived`` → ARCHIVED; otherwise the free ``stage`` string by
  the configured lists (``Production`` → PRODUCTION, ``Staging`` → STAGING,
  anything else or none → DRAFT). ``nativeStage`` is ``stage`` verbatim; an
  archived version without a stage reports ``Archived``.
- ``jobName`` (the training job, which is also the MLflow run id) becomes a
  PRODUCED_BY edge to the job: its ARM id in a workspace, ``azureml://jobs/NAME``
  from a registry (a registry keeps the name but not the workspace it ran in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.azureml.options import AzureMLSettings, StageMapping
from adapters.toolkit.timestamps import to_utc
from gateway.domain import LineageEdge, LineageNode, Model, ModelVersion, Relation, Stage, version_node

ARCHIVED_WORD = "Archived"
VERSION_NATIVE_KEYS = (
    "isArchived",
    "isAnonymous",
    "stage",
    "flavors",
    "modelType",
    "jobName",
    "properties",
    "provisioningState",
)
READ_ONLY_VERSION_KEYS = ("provisioningState",)


def _props(wire: Mapping[str, Any]) -> Mapping[str, Any]:
    return wire.get("properties") or {}


def stage_of(props: Mapping[str, Any], stages: StageMapping) -> tuple[Stage, str | None]:
    """The unified stage and Azure ML's own word for it."""
    word = props.get("stage") or None
    if props.get("isArchived"):
        return Stage.ARCHIVED, word or ARCHIVED_WORD
    folded = word.casefold() if isinstance(word, str) else None
    if folded in {s.casefold() for s in stages.production}:
        return Stage.PRODUCTION, word
    if folded in {s.casefold() for s in stages.staging}:
        return Stage.STAGING, word
    return Stage.DRAFT, word


def stage_fields(stage: Stage, stages: StageMapping) -> dict[str, Any]:
    """The ``stage``/``isArchived`` values that write ``stage``. ARCHIVED leaves the
    stage string alone (so un-archiving restores the lifecycle it had)."""
    if stage is Stage.ARCHIVED:
        return {"isArchived": True}
    word = {Stage.PRODUCTION: stages.production, Stage.STAGING: stages.staging}.get(stage, stages.draft)[0]
    return {"isArchived": False, "stage": word}


def _system(wire: Mapping[str, Any]) -> Mapping[str, Any]:
    return wire.get("systemData") or {}


def to_model(wire: Mapping[str, Any], registry_id: str) -> Model:
    props = _props(wire)
    system = _system(wire)
    return Model(
        registry_id=registry_id,
        name=str(wire["name"]),
        description=props.get("description") or None,
        tags={k: str(v) for k, v in (props.get("tags") or {}).items() if v is not None},
        created_at=to_utc(system.get("createdAt")),
        updated_at=to_utc(system.get("lastModifiedAt")),
        native={
            "id": wire.get("id"),
            **{
                k: props[k]
                for k in ("isArchived", "latestVersion", "nextVersion", "properties")
                if k in props
            },
        },
    )


def model_name_of(wire: Mapping[str, Any]) -> str:
    """``…/models/{name}/versions/{v}`` → ``name`` (a version's own ``name`` is its version)."""
    parts = str(wire.get("id") or "").split("/")
    try:
        return parts[parts.index("models") + 1]
    except (ValueError, IndexError):
        return ""


def to_version(
    wire: Mapping[str, Any], registry_id: str, stages: StageMapping, model_name: str | None = None
) -> ModelVersion:
    props = _props(wire)
    system = _system(wire)
    stage, native_stage = stage_of(props, stages)
    return ModelVersion(
        registry_id=registry_id,
        model_name=model_name or model_name_of(wire),
        version=str(wire["name"]),
        stage=stage,
        native_stage=native_stage,
        description=props.get("description") or None,
        artifact_uri=props.get("modelUri") or None,
        tags={k: str(v) for k, v in (props.get("tags") or {}).items() if v is not None},
        created_by=system.get("createdBy") or None,
        created_at=to_utc(system.get("createdAt")),
        updated_at=to_utc(system.get("lastModifiedAt")),
        native={"id": wire.get("id"), **{k: props[k] for k in VERSION_NATIVE_KEYS if k in props}},
    )


def writable_properties(wire: Mapping[str, Any]) -> dict[str, Any]:
    """A version's ``properties`` as a PUT body takes them: every field kept, the
    read-only ones dropped."""
    return {k: v for k, v in _props(wire).items() if k not in READ_ONLY_VERSION_KEYS}


def job_edge(version: ModelVersion, settings: AzureMLSettings) -> LineageEdge | None:
    job = version.native.get("jobName")
    if not isinstance(job, str) or not job:
        return None
    uri = f"azureml://jobs/{job}" if settings.is_registry else f"{settings.scope_path}/jobs/{job}"
    return LineageEdge(version_node(version), LineageNode(uri, "run", job, None), Relation.PRODUCED_BY)
