"""SPDX 3.0.1 AI-profile documents, checked against the published SPDX 3.0.1 JSON
schema (vendored, its SHA-256 pinned)."""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.bom.facts import BomFacts, gather_facts
from gateway.bom.spdx import spdx_document
from gateway.demo import seed_demo
from gateway.domain import CodeRef, ModelVersion
from gateway.runtime import Gateway
from tests.bom.test_cyclonedx import SHA, record
from tests.bom.validation import SPDX_SCHEMA, SPDX_SCHEMA_SHA256, spdx_errors


def document(version: ModelVersion, **facts: Any) -> dict[str, Any]:
    when = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
    return spdx_document(BomFacts(version, "native", generated_at=when, **facts), serial=uuid.UUID(int=7))


def by_type(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in doc["@graph"] if e["type"] == kind]


def test_the_vendored_schema_is_the_published_one() -> None:
    assert hashlib.sha256(SPDX_SCHEMA.read_bytes()).hexdigest() == SPDX_SCHEMA_SHA256


async def test_the_demo_fraud_detector_5_as_spdx(gateway: Gateway) -> None:
    await seed_demo(gateway)
    version = await gateway.index.get_version("mg://platform/fraud-detector/5")
    assert version is not None
    doc = spdx_document(await gather_facts(gateway, version, None))
    assert spdx_errors(doc) == []
    (model,) = [e for e in by_type(doc, "ai_AIPackage") if e["spdxId"] == version.uri]
    assert model["software_primaryPurpose"] == "model"
    assert {m["key"]: m["value"] for m in model["ai_metric"]} == {"auc": "0.914", "latency_p95_ms": "32"}
    assert {h["key"] for h in model["ai_hyperparameter"]} == {"max_depth", "eta", "n_estimators", "seed"}
    assert model["ai_limitation"] == "Not calibrated for merchant categories absent from training data."
    assert model["ai_informationAboutApplication"] == "Real-time scoring of card-not-present transactions."
    datasets = {d["spdxId"]: d for d in by_type(doc, "dataset_DatasetPackage")}
    assert len(datasets) == 2 and all(
        d["verifiedUsing"][0]["algorithm"] == "sha256" for d in datasets.values()
    )
    relations = {r["relationshipType"]: r for r in by_type(doc, "Relationship")}
    trained = [datasets[i]["name"] for i in relations["trainedOn"]["to"]]
    tested = [datasets[i]["name"] for i in relations["testedOn"]["to"]]
    assert (trained, tested) == (["fraud-detector-train"], ["fraud-detector-holdout"])
    assert relations["trainedOn"]["from"] == relations["testedOn"]["from"] == version.uri
    assert relations["descendantOf"]["to"] == ["mg://platform/fraud-detector/4"]
    assert relations["generates"]["to"] == [version.uri]
    (creation,) = by_type(doc, "CreationInfo")
    assert creation["specVersion"] == "3.0.1"
    (spdx_doc,) = by_type(doc, "SpdxDocument")
    assert spdx_doc["rootElement"] == [version.uri]


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("high", "high"),
        ("limited", "medium"),
        ("minimal", "low"),
        ("unacceptable", "serious"),
        ("gold", None),
    ],
)
def test_the_safety_risk_assessment_follows_the_risk_tier(tier: str, expected: str | None) -> None:
    doc = document(record(), risk_tier=tier)
    assert spdx_errors(doc) == []
    (model,) = by_type(doc, "ai_AIPackage")
    assert model.get("ai_safetyRiskAssessment") == expected


def test_a_full_and_a_bare_record_validate() -> None:
    full = record(training_code=CodeRef("https://git.example/ml/churn", "c0ffee", "train.py"), semver="1.2.0")
    doc = document(full, team="growth", source_url="https://registry.example/churn", parent="models:/churn/2")
    assert spdx_errors(doc) == []
    (model,) = [e for e in by_type(doc, "ai_AIPackage") if e["spdxId"] == full.uri]
    assert model["verifiedUsing"] == [{"type": "Hash", "algorithm": "sha256", "hashValue": SHA}]
    assert model["externalRef"][0]["locator"] == ["https://registry.example/churn"]
    (creation,) = by_type(doc, "CreationInfo")
    assert creation["created"] == "2026-12-01T09:30:15Z"  # SPDX's one spelling: whole seconds, Z
    assert spdx_errors(document(ModelVersion("mlflow", "m", "1"))) == []
    named = document(record(), parent="churn base model")  # a bare name, no IRI
    assert spdx_errors(named) == []
    (descends,) = [r for r in by_type(named, "Relationship") if r["relationshipType"] == "descendantOf"]
    assert descends["to"] == ["mg://platform/churn/3#parent"]


def _edit(action: Callable[[list[dict[str, Any]]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: action(doc["@graph"])


def _first(kind: str, graph: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in graph if e["type"] == kind)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda doc: doc.pop("@context"), id="@context removed"),
        pytest.param(_edit(lambda g: _first("CreationInfo", g).pop("specVersion")), id="specVersion removed"),
        pytest.param(
            _edit(lambda g: _first("ai_AIPackage", g).pop("creationInfo")), id="creationInfo removed"
        ),
        pytest.param(_edit(lambda g: _first("Relationship", g).pop("to")), id="relationship target removed"),
        pytest.param(
            _edit(lambda g: _first("dataset_DatasetPackage", g).pop("dataset_datasetType")),
            id="datasetType removed",
        ),
        pytest.param(
            _edit(
                lambda g: _first("ai_AIPackage", g).__setitem__(
                    "ai_metrics", _first("ai_AIPackage", g).pop("ai_metric")
                )
            ),
            id="ai_metric misspelt",
        ),
        pytest.param(
            _edit(lambda g: _first("Relationship", g).__setitem__("relationshipType", "trainedon")),
            id="relationship type misspelt",
        ),
        pytest.param(
            _edit(lambda g: _first("ai_AIPackage", g).__setitem__("ai_safetyRiskAssessment", "critical")),
            id="safety risk outside the vocabulary",
        ),
        pytest.param(
            _edit(lambda g: _first("ai_AIPackage", g).__setitem__("type", "AIPackage")), id="type misspelt"
        ),
    ],
)
def test_a_document_with_a_field_removed_or_misspelt_fails_validation(
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    doc = document(record(), risk_tier="high")
    assert spdx_errors(doc) == []
    broken = copy.deepcopy(doc)
    mutate(broken)
    assert broken != doc
    assert spdx_errors(broken), "the schema accepted a broken document"
