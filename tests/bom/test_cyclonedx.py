"""CycloneDX 1.6 ML-BOMs, built from the version record and checked by the official
schema through cyclonedx-python-lib's strict validator."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.bom.cyclonedx import cyclonedx_document
from gateway.bom.facts import BomFacts, gather_facts, parse_digest, signature_fields
from gateway.demo import seed_demo
from gateway.domain import CodeRef, DatasetRef, ModelCard, ModelVersion
from gateway.runtime import Gateway
from tests.bom.validation import cyclonedx_errors

SHA = "9f" * 32


def record(**fields: Any) -> ModelVersion:
    base: dict[str, Any] = {
        "artifact_uri": "s3://models/churn/3/model.pkl",
        "artifact_digest": f"sha256:{SHA}",
        "training_data": (
            DatasetRef("s3://data/churn/train/", "churn-train", f"sha256:{'ab' * 32}", "training"),
            DatasetRef("s3://data/churn/holdout/", "churn-holdout", "etag-7", "validation"),
        ),
        "metrics": {"auc": 0.91},
        "hyperparameters": {"depth": "6"},
        "tags": {"task": "classification", "framework": "lightgbm"},
        "model_card": ModelCard(intended_use="Retention outreach.", limitations="Weak on new accounts."),
    }
    base.update(fields)
    return ModelVersion("platform", "churn", "3", **base)


def bom(version: ModelVersion, **facts: Any) -> dict[str, Any]:
    when = datetime(2026, 12, 1, tzinfo=UTC)
    return cyclonedx_document(
        BomFacts(version, "native", generated_at=when, **facts), serial=uuid.UUID(int=1)
    )


async def test_the_demo_fraud_detector_5_carries_its_datasets_metrics_card_and_parent(
    gateway: Gateway,
) -> None:
    await seed_demo(gateway)
    version = await gateway.index.get_version("mg://platform/fraud-detector/5")
    assert version is not None
    document = cyclonedx_document(await gather_facts(gateway, version, None))
    assert cyclonedx_errors(document) == []

    model = document["metadata"]["component"]
    assert (model["type"], model["group"], model["name"], model["version"]) == (
        "machine-learning-model",
        "platform",
        "fraud-detector",
        "5",
    )
    assert model["supplier"]["name"] == "platform"
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "classification"
    assert card["modelParameters"]["architectureFamily"] == "xgboost"
    # Both datasets: data components with their SHA-256 and their role.
    refs = [d["ref"] for d in card["modelParameters"]["datasets"]]
    datasets = {
        c["bom-ref"]: c for c in document["components"] if c["type"] == "data" and c["bom-ref"] in refs
    }
    assert len(datasets) == 2
    roles = {}
    for component in datasets.values():
        (digest,) = component["hashes"]
        assert digest["alg"] == "SHA-256" and len(digest["content"]) == 64
        props = {p["name"]: p["value"] for p in component["properties"]}
        roles[props["modelgate:dataset:uri"]] = props["modelgate:dataset:role"]
        assert props["modelgate:dataset:digest"] == f"sha256:{digest['content']}"
    assert roles == {
        "s3://acme-data/fraud/transactions/2026-05/": "training",
        "s3://acme-data/fraud/transactions/2026-05-holdout/": "validation",
    }
    metrics = {m["type"]: m["value"] for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics == {"auc": "0.914", "latency_p95_ms": "32"}
    considerations = card["considerations"]
    assert considerations["useCases"] == ["Real-time scoring of card-not-present transactions."]
    assert considerations["technicalLimitations"] == [
        "Not calibrated for merchant categories absent from training data."
    ]
    assert considerations["fairnessAssessments"] == [
        {"mitigationStrategy": "Checked for disparate false-positive rates across regions (within 2%)."}
    ]
    # The parent (a warm start from version 4) and the training code are dependencies.
    (mine,) = [d for d in document["dependencies"] if d["ref"] == "mg://platform/fraud-detector/5"]
    assert "mg://platform/fraud-detector/4" in mine["dependsOn"]
    parent = next(c for c in document["components"] if c["bom-ref"] == "mg://platform/fraud-detector/4")
    assert (parent["type"], parent["version"]) == ("machine-learning-model", "4")
    code = next(c for c in document["components"] if c["bom-ref"].endswith("#training-code"))
    assert code["externalReferences"] == [
        {"type": "vcs", "url": "https://git.acme.example/ml/fraud-detector"}
    ]
    assert code["bom-ref"] in mine["dependsOn"] and set(refs) <= set(mine["dependsOn"])


def test_a_full_record_validates_and_keeps_every_fact() -> None:
    version = record(
        input_signature='[{"type": "double", "name": "tenure"}, {"type": "string", "name": "plan"}]',
        training_code=CodeRef("https://git.example/ml/churn", "c0ffee", "train.py"),
        environment="registry.example:5000/ml/lightgbm-runtime:2026.3",
        model_card=ModelCard(
            summary="Gradient boosting.",
            intended_use="Retention outreach.",
            limitations="Weak on new accounts.",
            bias_assessment="No gap across regions.",
            warnings="Do not use for credit decisions.",
        ),
        tags={"task": "classification", "framework": "lightgbm", "intended_users": "retention team"},
    )
    document = bom(
        version, team="growth", source_url="https://registry.example/models/churn 3", risk_tier="high"
    )
    assert cyclonedx_errors(document) == []
    model = document["metadata"]["component"]
    assert model["hashes"] == [{"alg": "SHA-256", "content": SHA}]
    assert model["supplier"] == {"name": "growth", "url": ["https://registry.example/models/churn%203"]}
    assert {r["type"] for r in model["externalReferences"]} == {"website", "distribution"}
    card = model["modelCard"]
    assert card["modelParameters"]["inputs"] == [{"format": "tenure: double"}, {"format": "plan: string"}]
    assert card["considerations"]["users"] == ["retention team"]
    assert card["considerations"]["ethicalConsiderations"] == [{"name": "Do not use for credit decisions."}]
    props = {p["name"]: p["value"] for p in card["properties"]}
    assert props["modelgate:hyperparameter:depth"] == "6"
    assert {p["name"]: p["value"] for p in model["properties"]}["modelgate:riskTier"] == "high"
    environment = next(c for c in document["components"] if c["bom-ref"].endswith("#environment"))
    assert (environment["type"], environment["name"], environment["version"]) == (
        "container",
        "registry.example:5000/ml/lightgbm-runtime",
        "2026.3",
    )
    # A digest the standards cannot express (an etag) stays as a property, not a hash.
    holdout = next(c for c in document["components"] if c.get("name") == "churn-holdout")
    assert "hashes" not in holdout
    assert {"name": "modelgate:dataset:digest", "value": "etag-7"} in holdout["properties"]


def test_a_bare_record_validates() -> None:
    bare = ModelVersion("mlflow", "m", "1")
    document = bom(bare)
    assert cyclonedx_errors(document) == []
    assert document["metadata"]["component"]["supplier"] == {"name": "mlflow"}
    assert document["components"] == []


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path
        target: Any = document
        for key in parents:
            target = target[key]
        del target[last]

    return mutate


def _rename(path: tuple[Any, ...], new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path
        target: Any = document
        for key in parents:
            target = target[key]
        target[new] = target.pop(last)

    return mutate


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path
        target: Any = document
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


MODEL = ("metadata", "component")


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_drop(("bomFormat",)), id="bomFormat removed"),
        pytest.param(_drop((*MODEL, "type")), id="component type removed"),
        pytest.param(_drop((*MODEL, "name")), id="component name removed"),
        pytest.param(_drop(("components", 0, "data", 0, "type")), id="dataset data type removed"),
        pytest.param(_rename((*MODEL, "modelCard"), "modelcard"), id="modelCard misspelt"),
        pytest.param(
            _rename((*MODEL, "modelCard", "modelParameters"), "modelParameter"), id="modelParameters misspelt"
        ),
        pytest.param(
            _rename((*MODEL, "modelCard", "considerations", "useCases"), "usecases"), id="useCases misspelt"
        ),
        pytest.param(_set((*MODEL, "type"), "machine-learning"), id="component type misspelt"),
        pytest.param(_set((*MODEL, "hashes", 0, "alg"), "SHA256"), id="hash algorithm misspelt"),
        pytest.param(
            _set((*MODEL, "hashes", 0, "content"), "sha256:" + SHA), id="hash content with its prefix"
        ),
    ],
)
def test_a_bom_with_a_field_removed_or_misspelt_fails_validation(
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    document = bom(record())
    assert cyclonedx_errors(document) == []
    broken = copy.deepcopy(document)
    mutate(broken)
    assert broken != document
    assert cyclonedx_errors(broken), "the schema accepted a broken BOM"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"sha256:{SHA}", ("SHA-256", SHA)),
        (SHA.upper(), ("SHA-256", SHA)),
        ("md5:" + "0" * 32, ("MD5", "0" * 32)),
        ("sha256:0005d5a7", None),
        ("etag-7", None),
        (None, None),
    ],
)
def test_digests_the_standards_can_express(text: str | None, expected: tuple[str, str] | None) -> None:
    digest = parse_digest(text)
    assert (None if digest is None else (digest.algorithm, digest.hex)) == expected


def test_signature_fields_of_mlflow_specs_and_free_text() -> None:
    specs = '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "x"}]'
    assert [f.text for f in signature_fields(specs)] == ["x: tensor float32"]
    assert [f.text for f in signature_fields("image 224x224 RGB")] == ["image 224x224 RGB"]
    assert signature_fields(None) == []
