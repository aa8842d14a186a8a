"""The JSON MLflow's client reads (``mlflow/protos/model_registry.proto``:
``RegisteredModel``, ``ModelVersion``), built from catalogue records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from gateway.domain import Model, ModelVersion, Stage
from gateway.mlflow_api.artifacts import PROXY
from gateway.mlflow_api.names import MLFLOW_STAGE, mlflow_name

# The unified stage's alias on a version in it (MLflow aliases are lower case by habit).
STAGE_ALIAS = {Stage.PRODUCTION: "production", Stage.STAGING: "staging"}


def millis(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at is not None else None


def _tags(tags: Any) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in sorted(dict(tags).items())]


def _dropping_none(body: dict[str, Any]) -> dict[str, Any]:
    """Proto3 JSON leaves unset fields out; MLflow's client reads them as absent."""
    return {k: v for k, v in body.items() if v is not None}


def version_aliases(version: ModelVersion) -> list[str]:
    """The unified stage as an alias, then the registry's own aliases."""
    aliases = [STAGE_ALIAS[version.stage]] if version.stage in STAGE_ALIAS else []
    return aliases + [a for a in version.aliases if a not in aliases]


def run_id_of(version: ModelVersion) -> str | None:
    run_id = version.native.get("run_id")
    return str(run_id) if run_id else None


def source_of(version: ModelVersion) -> str | None:
    """A native version's files through the gateway's MLflow artifact proxy (see
    ``gateway.mlflow_api.artifacts``); any other version's own artifact URI."""
    proxy = PROXY.get()
    proxied = (
        proxy.source(version.registry_id, version.model_name, version.version, version.artifact_uri)
        if proxy
        else None
    )
    return proxied or version.artifact_uri


def model_version(version: ModelVersion) -> dict[str, Any]:
    return _dropping_none(
        {
            "name": mlflow_name(version.registry_id, version.model_name),
            "version": version.version,
            "creation_timestamp": millis(version.created_at),
            "last_updated_timestamp": millis(version.updated_at or version.created_at),
            "user_id": version.created_by,
            "current_stage": MLFLOW_STAGE[version.stage],
            "description": version.description,
            "source": source_of(version),
            "run_id": run_id_of(version),
            "status": "READY",
            "tags": _tags(version.tags),
            "aliases": version_aliases(version),
        }
    )


def model_aliases(versions: Iterable[ModelVersion]) -> list[dict[str, str]]:
    """``[{alias, version}]`` over the versions given (the first version holding an
    alias keeps it: callers pass the newest first)."""
    seen: dict[str, str] = {}
    for v in versions:
        for alias in version_aliases(v):
            seen.setdefault(alias, v.version)
    return [{"alias": a, "version": seen[a]} for a in sorted(seen)]


def registered_model(
    model: Model, latest: Sequence[ModelVersion] = (), aliased: Iterable[ModelVersion] = ()
) -> dict[str, Any]:
    return _dropping_none(
        {
            "name": mlflow_name(model.registry_id, model.name),
            "creation_timestamp": millis(model.created_at),
            "last_updated_timestamp": millis(model.updated_at or model.created_at),
            "description": model.description,
            "latest_versions": [model_version(v) for v in latest],
            "tags": _tags(model.tags),
            "aliases": model_aliases(aliased),
        }
    )
