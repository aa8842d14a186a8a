"""JSON-safe encoding of domain objects, for the index and the caches.

One place so the catalogue, the cache and the native store agree on the format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.domain import (
    Approval,
    CodeRef,
    DatasetRef,
    Deployment,
    Model,
    ModelCard,
    ModelVersion,
    Review,
    Stage,
)


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def model_to_dict(m: Model) -> dict[str, Any]:
    return _drop_none(
        {
            "registry_id": m.registry_id,
            "name": m.name,
            "description": m.description,
            "team": m.team,
            "tags": dict(m.tags),
            "created_at": _dt(m.created_at),
            "updated_at": _dt(m.updated_at),
            "native": dict(m.native),
        }
    )


def model_from_dict(d: dict[str, Any]) -> Model:
    return Model(
        registry_id=d["registry_id"],
        name=d["name"],
        description=d.get("description"),
        team=d.get("team"),
        tags=d.get("tags", {}),
        created_at=_parse_dt(d.get("created_at")),
        updated_at=_parse_dt(d.get("updated_at")),
        native=d.get("native", {}),
    )


def card_to_dict(card: ModelCard) -> dict[str, str]:
    return _drop_none({f: getattr(card, f) for f in ModelCard.__dataclass_fields__})


def version_to_dict(v: ModelVersion) -> dict[str, Any]:
    return _drop_none(
        {
            "registry_id": v.registry_id,
            "model_name": v.model_name,
            "version": v.version,
            "stage": v.stage.value,
            "native_stage": v.native_stage,
            "aliases": list(v.aliases),
            "semver": v.semver,
            "description": v.description,
            "artifact_uri": v.artifact_uri,
            "artifact_digest": v.artifact_digest,
            "training_code": (
                _drop_none(
                    {
                        "repository": v.training_code.repository,
                        "commit": v.training_code.commit,
                        "path": v.training_code.path,
                    }
                )
                if v.training_code
                else None
            ),
            "environment": v.environment,
            "training_data": [_drop_none(_dataset(d)) for d in v.training_data],
            "hyperparameters": dict(v.hyperparameters),
            "metrics": dict(v.metrics),
            "parent": v.parent,
            "preprocessing": v.preprocessing,
            "input_signature": v.input_signature,
            "approvals": [
                _drop_none({"principal": a.principal, "role": a.role, "at": _dt(a.at), "comment": a.comment})
                for a in v.approvals
            ],
            "reviews": [{"principal": r.principal, "comment": r.comment, "at": _dt(r.at)} for r in v.reviews],
            "deployments": [
                _drop_none(
                    {
                        "endpoint": d.endpoint,
                        "traffic_percent": d.traffic_percent,
                        "updated_at": _dt(d.updated_at),
                        "registry": d.registry,
                        "variant": d.variant,
                        "status": d.status,
                    }
                )
                for d in v.deployments
            ],
            "model_card": card_to_dict(v.model_card),
            "tags": dict(v.tags),
            "team": v.team,
            "created_by": v.created_by,
            "created_at": _dt(v.created_at),
            "updated_at": _dt(v.updated_at),
            "native": dict(v.native),
            "partial": v.partial or None,
        }
    )


def _dataset(d: DatasetRef) -> dict[str, Any]:
    return {"uri": d.uri, "name": d.name, "digest": d.digest, "role": d.role}


def version_from_dict(d: dict[str, Any]) -> ModelVersion:
    code = d.get("training_code")
    return ModelVersion(
        registry_id=d["registry_id"],
        model_name=d["model_name"],
        version=d["version"],
        stage=Stage(d.get("stage", Stage.DRAFT)),
        native_stage=d.get("native_stage"),
        aliases=tuple(d.get("aliases", ())),
        semver=d.get("semver"),
        description=d.get("description"),
        artifact_uri=d.get("artifact_uri"),
        artifact_digest=d.get("artifact_digest"),
        training_code=CodeRef(**code) if code else None,
        environment=d.get("environment"),
        training_data=tuple(DatasetRef(**x) for x in d.get("training_data", ())),
        hyperparameters=d.get("hyperparameters", {}),
        metrics=d.get("metrics", {}),
        parent=d.get("parent"),
        preprocessing=d.get("preprocessing"),
        input_signature=d.get("input_signature"),
        approvals=tuple(
            Approval(a["principal"], a["role"], _parse_dt(a["at"]), a.get("comment"))  # type: ignore[arg-type]
            for a in d.get("approvals", ())
        ),
        reviews=tuple(
            Review(r["principal"], r["comment"], _parse_dt(r["at"]))  # type: ignore[arg-type]
            for r in d.get("reviews", ())
        ),
        deployments=tuple(
            Deployment(
                x["endpoint"],
                x.get("traffic_percent"),
                _parse_dt(x.get("updated_at")),
                registry=x.get("registry"),
                variant=x.get("variant"),
                status=x.get("status"),
            )
            for x in d.get("deployments", ())
        ),
        model_card=ModelCard(**d.get("model_card", {})),
        tags=d.get("tags", {}),
        team=d.get("team"),
        created_by=d.get("created_by"),
        created_at=_parse_dt(d.get("created_at")),
        updated_at=_parse_dt(d.get("updated_at")),
        native=d.get("native", {}),
        partial=d.get("partial", False),
    )
