"""Kubeflow Model Registry's vocabulary ↔ modelgate's.

- A modelgate model is a ``RegisteredModel`` (by name); a version is a
  ``ModelVersion`` of it, by its name (``v1``, ``1.2.0``…: client-chosen and
  unique within the model). Names may hold ``/`` (models imported from Hugging
  Face are named ``org/model``), which ``mg://`` URIs cannot, so modelgate spells
  ``/`` as ``%2F``, ``@`` (which starts a reference) as ``%40`` and ``%`` as
  ``%25``, and reverses it when calling the registry. ``owner`` (model) and
  ``author`` (version) become ``created_by``.
- The version's first ``model-artifact`` gives ``artifact_uri``; its
  ``modelFormatName`` the framework. ``dataset-artifact``s are training data (a
  ``role`` custom property on the dataset says which role), ``metric`` and
  ``parameter`` artifacts are metrics and hyperparameters.
- Typed ``customProperties``, by their type: ``MetadataDoubleValue`` → a
  metric; a key under ``param_prefix`` (default ``param.``) → a hyperparameter,
  prefix removed; other string, int and bool values → tags (ints in decimal,
  bools ``true``/``false``); struct and proto values only in ``native``. Every
  value survives verbatim in ``native["customProperties"]``. A metric or
  parameter *artifact* wins over a custom property of the same name.
- Stages: ``state = ARCHIVED`` (the version's, or its registered model's) →
  ARCHIVED. Otherwise the stage property (default
  ``stage``) when its value is a configured one; otherwise PRODUCTION when an
  InferenceService with ``desiredState = DEPLOYED`` serves the version; else
  DRAFT. ``native_stage`` is the word that decided: the property value,
  ``ARCHIVED``, ``DEPLOYED``, or the version's ``state`` (``LIVE``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.kubeflow.options import StageMapping
from adapters.toolkit.timestamps import to_utc
from gateway.domain import (
    DatasetRef,
    Deployment,
    Endpoint,
    LineageEdge,
    LineageNode,
    Model,
    ModelVersion,
    Relation,
    Stage,
    TrafficShare,
    version_node,
)

MODEL_ARTIFACT = "model-artifact"
DATASET_ARTIFACT = "dataset-artifact"
METRIC_ARTIFACT = "metric"
PARAMETER_ARTIFACT = "parameter"
MODEL_NATIVE_KEYS = (
    "id",
    "externalId",
    "state",
    "owner",
    "readme",
    "maturity",
    "language",
    "tasks",
    "provider",
    "logo",
    "license",
    "licenseLink",
    "libraryName",
    "customProperties",
)
VERSION_NATIVE_KEYS = ("id", "externalId", "registeredModelId", "state", "author", "customProperties")
ARTIFACT_NATIVE_KEYS = (
    "id",
    "name",
    "uri",
    "state",
    "modelFormatName",
    "modelFormatVersion",
    "storageKey",
    "storagePath",
    "serviceAccountName",
    "modelSourceKind",
    "modelSourceClass",
    "modelSourceGroup",
    "modelSourceId",
    "modelSourceName",
)


def domain_name(name: str) -> str:
    """A registry name as a modelgate name: ``/`` would split an ``mg://`` URI and
    ``@`` start a reference by stage or alias (``mg://r/m@production``)."""
    return name.replace("%", "%25").replace("/", "%2F").replace("@", "%40")


def registry_name(name: str) -> str:
    """The inverse of ``domain_name``."""
    return name.replace("%2F", "/").replace("%2f", "/").replace("%40", "@").replace("%25", "%")


def property_value(value: Mapping[str, Any]) -> Any:
    """A ``MetadataValue`` as Python: str, int, float, bool, a decoded struct, or
    the proto value verbatim."""
    kind = value.get("metadataType")
    if kind == "MetadataStringValue":
        return value.get("string_value")
    if kind == "MetadataIntValue":
        text = str(value.get("int_value") or "0")  # int32 as a decimal string on the wire
        return int(text) if text.lstrip("-").isdigit() else text
    if kind == "MetadataDoubleValue":
        return float(value.get("double_value") or 0.0)
    if kind == "MetadataBoolValue":
        return bool(value.get("bool_value"))
    if kind == "MetadataStructValue":
        try:  # base64 of the struct's JSON, as the Python client writes it
            return json.loads(base64.b64decode(value.get("struct_value") or ""))
        except (ValueError, TypeError):
            return value.get("struct_value")
    return dict(value)


def string_property(text: str) -> dict[str, str]:
    return {"metadataType": "MetadataStringValue", "string_value": text}


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def split_properties(
    properties: Mapping[str, Mapping[str, Any]], param_prefix: str
) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """Custom properties → (tags, metrics, hyperparameters), by type and prefix."""
    tags: dict[str, str] = {}
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    for key, raw in properties.items():
        kind = raw.get("metadataType")
        if kind in ("MetadataStructValue", "MetadataProtoValue"):
            continue  # only in native: no scalar to show
        value = property_value(raw)
        if param_prefix and key.startswith(param_prefix) and len(key) > len(param_prefix):
            params[key[len(param_prefix) :]] = _text(value)
        elif kind == "MetadataDoubleValue":
            metrics[key] = value
        else:
            tags[key] = _text(value)
    return tags, metrics, params


def to_model(wire: Mapping[str, Any], registry_id: str, team: str | None = None) -> Model:
    tags, _, _ = split_properties(wire.get("customProperties") or {}, "")
    native = {k: wire[k] for k in MODEL_NATIVE_KEYS if k in wire}
    return Model(
        registry_id=registry_id,
        name=domain_name(wire["name"]),
        description=wire.get("description") or None,
        team=team,
        tags=tags,
        created_at=to_utc(wire.get("createTimeSinceEpoch")),
        updated_at=to_utc(wire.get("lastUpdateTimeSinceEpoch")),
        native=native,
    )


def stage_of(
    wire: Mapping[str, Any], stages: StageMapping, deployed: bool, *, model_archived: bool = False
) -> tuple[Stage, str]:
    """The unified stage and the registry's own word that decided it. The versions
    of an archived registered model are archived too: the Kubeflow UI archives a
    model (only one with no deployed version) by its state alone, and hides it
    with all its versions."""
    if wire.get("state") == "ARCHIVED" or model_archived:
        return Stage.ARCHIVED, "ARCHIVED"
    raw = (wire.get("customProperties") or {}).get(stages.property)
    if raw and raw.get("metadataType") == "MetadataStringValue":
        text = str(raw.get("string_value") or "")
        stage = stages.stage_for(text)
        # "archived" in the property of a LIVE version: someone restored it in the
        # registry, whose own state is the truth.
        if stage is not None and stage is not Stage.ARCHIVED:
            return stage, text
    if deployed and stages.deployed_is_production:
        return Stage.PRODUCTION, "DEPLOYED"
    return Stage.DRAFT, str(wire.get("state") or "LIVE")


def to_version(
    wire: Mapping[str, Any],
    model: Mapping[str, Any],
    artifacts: Sequence[Mapping[str, Any]],
    deployments: Iterable[Deployment],
    *,
    registry_id: str,
    stages: StageMapping,
    param_prefix: str,
    team: str | None = None,
) -> ModelVersion:
    """One version from its record, its model's record, its artifacts and the
    deployments (DEPLOYED InferenceServices) that serve it."""
    served = tuple(deployments)
    model_archived = model.get("state") == "ARCHIVED"
    stage, native_stage = stage_of(wire, stages, bool(served), model_archived=model_archived)
    tags, metrics, params = split_properties(wire.get("customProperties") or {}, param_prefix)
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for artifact in artifacts:
        by_type.setdefault(str(artifact.get("artifactType")), []).append(artifact)
    for metric in by_type.get(METRIC_ARTIFACT, ()):
        if metric.get("name") and isinstance(metric.get("value"), int | float):
            metrics[metric["name"]] = float(metric["value"])
    for param in by_type.get(PARAMETER_ARTIFACT, ()):
        if param.get("name") and param.get("value") is not None:
            params[param["name"]] = str(param["value"])
    model_artifacts = by_type.get(MODEL_ARTIFACT, [])
    primary = model_artifacts[0] if model_artifacts else {}
    native: dict[str, Any] = {k: wire[k] for k in VERSION_NATIVE_KEYS if k in wire}
    native["registeredModelState"] = model.get("state") or "LIVE"
    native["modelArtifacts"] = [{k: a[k] for k in ARTIFACT_NATIVE_KEYS if k in a} for a in model_artifacts]
    if primary.get("modelFormatName"):
        native["framework"] = primary["modelFormatName"]
        if primary.get("modelFormatVersion"):
            native["frameworkVersion"] = primary["modelFormatVersion"]
    if others := [a for a in artifacts if a.get("artifactType") == "doc-artifact"]:
        native["docArtifacts"] = [{k: a[k] for k in ("id", "name", "uri") if k in a} for a in others]
    return ModelVersion(
        registry_id=registry_id,
        model_name=domain_name(model["name"]),
        version=domain_name(wire["name"]),
        stage=stage,
        native_stage=native_stage,
        description=wire.get("description") or None,
        artifact_uri=primary.get("uri") or None,
        training_data=tuple(_dataset(d) for d in by_type.get(DATASET_ARTIFACT, ()) if d.get("uri")),
        hyperparameters=params,
        metrics=metrics,
        deployments=served,
        tags=tags,
        team=team,
        created_by=wire.get("author") or model.get("owner") or None,
        created_at=to_utc(wire.get("createTimeSinceEpoch")),
        updated_at=to_utc(wire.get("lastUpdateTimeSinceEpoch")),
        native=native,
    )


def _dataset(artifact: Mapping[str, Any]) -> DatasetRef:
    role = (artifact.get("customProperties") or {}).get("role")
    return DatasetRef(
        uri=artifact["uri"],
        name=artifact.get("name") or None,
        digest=artifact.get("digest") or None,
        role=str(property_value(role)) if role else "training",
    )


def deployment_of(service: Mapping[str, Any], environment: str | None) -> Deployment:
    """An InferenceService as a deployment: ``<serving environment>/<name>`` (the
    environment is usually the Kubernetes namespace KServe serves it in)."""
    name = service.get("name") or f"inference-service-{service.get('id')}"
    return Deployment(
        endpoint=f"{environment}/{name}" if environment else name,
        traffic_percent=None,  # the registry does not know how KServe splits traffic
        updated_at=to_utc(service.get("lastUpdateTimeSinceEpoch")),
    )


def endpoint_of(
    service: Mapping[str, Any], environment: str | None, version_uri: str | None, registry_id: str
) -> Endpoint:
    """An InferenceService as a serving endpoint: ``<serving environment>/<name>``
    (what its versions' deployments are called), its ``desiredState`` as status,
    and all traffic on the version it serves while DEPLOYED (0 % once UNDEPLOYED:
    KServe has taken it down). The registry records one version per service, so
    no finer split."""
    deployment = deployment_of(service, environment)
    state = service.get("desiredState") or "DEPLOYED"
    return Endpoint(
        uri=deployment.endpoint,
        name=service.get("name") or deployment.endpoint,
        registry_id=registry_id,
        status=state,
        traffic=(TrafficShare(100.0 if state == "DEPLOYED" else 0.0, version_uri),) if version_uri else (),
        updated_at=deployment.updated_at,
    )


SOURCE_PARTS = ("modelSourceKind", "modelSourceClass", "modelSourceGroup", "modelSourceId")


def source_edges(version: ModelVersion) -> list[LineageEdge]:
    """PRODUCED_BY the run a model artifact names as its source: Kubeflow Pipelines
    registers ``modelSourceKind=kfp``, ``modelSourceClass=pipelinerun``,
    ``modelSourceGroup=<namespace>``, ``modelSourceId=<run id>``. The node is
    ``model-source://<kind>/<class>/<group>/<id>`` (empty parts left out), the same
    for every registry that names that run, labelled with ``modelSourceName``."""
    me = version_node(version)
    edges = []
    for artifact in version.native.get("modelArtifacts") or ():
        parts = [str(artifact[k]) for k in SOURCE_PARTS if artifact.get(k)]
        if not artifact.get("modelSourceKind") or not artifact.get("modelSourceId"):
            continue
        uri = "model-source://" + "/".join(parts)
        run = LineageNode(uri, "run", artifact.get("modelSourceName") or None, None)
        edges.append(LineageEdge(me, run, Relation.PRODUCED_BY))
    return edges
