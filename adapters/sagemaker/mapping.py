"""SageMaker records (boto3 response dicts) -> modelgate domain objects.

Pure functions: no client, no I/O, so every mapping is testable on a dict.
Everything SageMaker reports that has no unified field is kept in ``native``
(JSON-safe: the catalogue stores it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.conventions import code_of, environment_of, merge_cards, model_card_of, semver_of
from adapters.sagemaker.options import StageMapping
from adapters.toolkit.timestamps import to_utc
from gateway.domain import CodeRef, Model, ModelCard, ModelVersion

MODEL_PACKAGE_ARN = ":model-package/"


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_utc(value).isoformat()  # type: ignore[union-attr]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def principal(user: Mapping[str, Any] | None) -> str | None:
    """Who did it: the IAM identity if SageMaker recorded one, else the Studio user."""
    if not user:
        return None
    iam = user.get("IamIdentity") or {}
    return iam.get("Arn") or user.get("UserProfileName") or user.get("UserProfileArn")


def model_from_group(
    registry_id: str, group: Mapping[str, Any], tags: Mapping[str, str], team: str | None
) -> Model:
    """A model package group. SageMaker has no update time for a group (packages
    change without touching it), so ``updated_at`` stays empty."""
    return Model(
        registry_id=registry_id,
        name=group["ModelPackageGroupName"],
        description=group.get("ModelPackageGroupDescription") or None,
        team=team,
        tags=dict(tags),
        created_at=to_utc(group.get("CreationTime")),
        native=_json_safe(
            {
                k: v
                for k, v in {
                    "arn": group.get("ModelPackageGroupArn"),
                    "status": group.get("ModelPackageGroupStatus"),
                    "created_by": principal(group.get("CreatedBy")),  # Describe only, not the listing
                }.items()
                if v is not None
            }
        ),
    )


def _container_uri(container: Mapping[str, Any]) -> str | None:
    # Compressed models use ModelDataUrl; uncompressed ones (2024+) ModelDataSource.
    if container.get("ModelDataUrl"):
        return str(container["ModelDataUrl"])
    source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
    return source.get("S3Uri")


def metric_reports(metrics: Mapping[str, Any] | None) -> dict[str, str]:
    """``ModelMetrics`` are S3 report files, not numbers: ``{"ModelQuality.Statistics": "s3://..."}``."""
    reports: dict[str, str] = {}
    for family, reports_by_kind in (metrics or {}).items():
        for kind, source in (reports_by_kind or {}).items():
            if isinstance(source, Mapping) and source.get("S3Uri"):
                reports[f"{family}.{kind}"] = source["S3Uri"]
    return reports


# Model card content keys (SageMaker's model card JSON schema) -> ModelCard fields.
CARD_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "summary": (("model_overview", "model_description"),),
    "intended_use": (("intended_uses", "intended_uses"), ("intended_uses", "purpose_of_model")),
    "limitations": (
        ("additional_information", "caveats_and_recommendations"),
        ("intended_uses", "factors_affecting_model_efficiency"),
    ),
    "training_data_summary": (("training_details", "training_observations"),),
    "bias_assessment": (("additional_information", "ethical_considerations"),),
}


def model_card_from_content(content: str | None) -> ModelCard:
    """Map SageMaker model card content (a JSON string) onto the unified card.

    Mapped keys: ``model_overview.model_description`` -> summary;
    ``intended_uses.intended_uses`` and ``.purpose_of_model`` -> intended use;
    ``additional_information.caveats_and_recommendations`` and
    ``intended_uses.factors_affecting_model_efficiency`` -> limitations;
    ``training_details.training_observations`` -> training data summary;
    ``evaluation_details[].evaluation_observation`` -> evaluation;
    ``additional_information.ethical_considerations`` -> bias assessment;
    ``intended_uses.risk_rating`` with ``explanations_for_risk_rating`` -> warnings.
    Content that is not JSON becomes the summary, so it is still searchable.
    """
    if not content:
        return ModelCard()
    try:
        card = json.loads(content)
    except ValueError:
        return ModelCard(summary=content)
    if not isinstance(card, Mapping):
        return ModelCard()

    def text(section: str, key: str) -> str | None:
        value = (card.get(section) or {}).get(key) if isinstance(card.get(section), Mapping) else None
        return value.strip() if isinstance(value, str) and value.strip() else None

    fields: dict[str, str | None] = {}
    for name, paths in CARD_FIELDS.items():
        parts = [t for section, key in paths if (t := text(section, key))]
        fields[name] = "\n\n".join(dict.fromkeys(parts)) or None
    evaluations = card.get("evaluation_details")
    if isinstance(evaluations, list):
        observed = [
            f"{e.get('name')}: {e['evaluation_observation']}"
            if e.get("name")
            else e["evaluation_observation"]
            for e in evaluations
            if isinstance(e, Mapping) and isinstance(e.get("evaluation_observation"), str)
        ]
        fields["evaluation"] = "\n\n".join(observed) or None
    risk = text("intended_uses", "risk_rating")
    if risk and risk.lower() not in ("low", "unknown"):
        why = text("intended_uses", "explanations_for_risk_rating")
        fields["warnings"] = f"risk rating {risk}" + (f": {why}" if why else "")
    return ModelCard(**fields)


def parent_from_source_uri(source_uri: str | None) -> str | None:
    """A package cloned from another package carries the parent's ARN as ``SourceUri``
    (AWS: "to clone a model package, set it to the model package ARN")."""
    if source_uri and source_uri.startswith("arn:") and MODEL_PACKAGE_ARN in source_uri:
        return source_uri
    return None


def version_from_package(
    registry_id: str, package: Mapping[str, Any], mapping: StageMapping, team: str | None
) -> ModelVersion:
    """A DescribeModelPackage answer as a version."""
    approval = package.get("ModelApprovalStatus")
    lifecycle = package.get("ModelLifeCycle") or None
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    uris = [u for c in containers if (u := _container_uri(c))]
    images = [c["Image"] for c in containers if c.get("Image")]
    meta = package.get("MetadataProperties") or {}
    properties = package.get("CustomerMetadataProperties") or {}
    code: CodeRef | None = CodeRef(repository=meta.get("Repository"), commit=meta.get("CommitId"))
    if not str(code):  # MetadataProperties are set at creation only; the convention fills in
        code = code_of(properties)
    card = package.get("ModelCard") or {}
    # The ModelCard content wins; model_card.* properties fill what it leaves out (moto,
    # and packages whose card lives in a separate SageMaker ModelCard resource).
    model_card = merge_cards(model_card_from_content(card.get("ModelCardContent")), model_card_of(properties))
    created = to_utc(package.get("CreationTime"))
    return ModelVersion(
        registry_id=registry_id,
        # Versioned packages have no name of their own; SageMaker fills
        # ModelPackageName with the group's, moto leaves it out.
        model_name=package.get("ModelPackageGroupName") or package["ModelPackageName"],
        version=str(package["ModelPackageVersion"]),
        stage=mapping.read(approval, lifecycle),
        native_stage=mapping.native_words(approval, lifecycle),
        description=package.get("ModelPackageDescription") or None,
        artifact_uri=uris[0] if uris else None,
        semver=semver_of(properties),
        training_code=code if code is not None and str(code) else None,
        environment=environment_of(properties) or (images[0] if images else None),
        parent=parent_from_source_uri(package.get("SourceUri")),
        model_card=model_card,
        tags=dict(package.get("CustomerMetadataProperties") or {}),
        team=team,
        created_by=principal(package.get("CreatedBy")),
        created_at=created,
        updated_at=to_utc(package.get("LastModifiedTime")) or created,
        native=_json_safe(
            {
                k: v
                for k, v in {
                    "arn": package.get("ModelPackageArn"),
                    "approval_status": approval,
                    "approval_description": package.get("ApprovalDescription"),
                    "lifecycle": lifecycle,
                    "package_status": package.get("ModelPackageStatus"),
                    "metrics_reports": metric_reports(package.get("ModelMetrics")) or None,
                    "source_uri": package.get("SourceUri"),
                    "artifact_uris": uris if len(uris) > 1 else None,
                    "images": images or None,
                    "metadata_properties": meta or None,
                    "model_card_status": card.get("ModelCardStatus"),
                    "model_card_content": card.get("ModelCardContent"),
                    "last_modified_by": principal(package.get("LastModifiedBy")),
                    "domain": package.get("Domain"),
                    "task": package.get("Task"),
                }.items()
                if v is not None
            }
        ),
    )
