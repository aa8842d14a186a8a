"""The EU AI Act Annex IV map: which recorded facts fill each of the nine sections,
which are missing; a policy that blocks a high-risk promotion with gaps; the
GraphQL field; the evidence pack's PDF (read back with pdftotext)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.protocol import PromotionContext
from gateway.domain import CodeRef, DatasetRef, Deployment, ModelCard, ModelVersion, Stage
from gateway.evidence.gather import gather
from gateway.evidence.render import render
from gateway.governance.annex_iv import (
    DECLARATION_TAG,
    MONITORING_TAG,
    RISK_MANAGEMENT_TAG,
    STANDARDS_TAG,
    annex_iv_map,
)
from gateway.governance.promotions import PromotionStatus
from gateway.runtime import Gateway
from tests.governance.conftest import (
    ALICE,
    AUDITOR,
    BOB,
    CAROL,
    DAVE,
    POLICIES,
    open_gateway,
    register,
    write_policies,
)
from tests.governance.test_evidence import poppler
from tests.governance.test_graphql import graphql_client
from tests.governance.test_tiers_and_reviews import CORA, RITA, TIERS
from tests.support import data_of, gql

SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies.yaml"
FULL_CARD = ModelCard(
    summary="Gradient-boosted trees.",
    intended_use="Credit line decisions, reviewed by an analyst.",
    limitations="Not for applicants without a credit history.",
    training_data_summary="Five years of applications.",
    evaluation="AUC on a held-out quarter.",
    bias_assessment="Approval rates within 2% across age bands.",
    warnings="May under-score thin-file applicants.",
)
DOCUMENTED = {
    "description": "Quarterly retrain with the new bureau feed",
    "semver": "2.1.0",
    "environment": "registry.example/credit/runtime:2.1",
    "training_code": CodeRef("https://git.example/credit", "9f2c1e7", "train.py"),
    "training_data": (
        DatasetRef("s3://data/credit/train/", "credit-train", "sha256:" + "1" * 64, "training"),
        DatasetRef("s3://data/credit/holdout/", "credit-holdout", "sha256:" + "2" * 64, "validation"),
    ),
    "hyperparameters": {"max_depth": "6"},
    "metrics": {"auc": 0.91},
    "preprocessing": "pipelines/credit/features.py",
    "input_signature": '[{"type": "double", "name": "income"}]',
    "model_card": FULL_CARD,
    "tags": {
        STANDARDS_TAG: "ISO/IEC 42001:2023",
        DECLARATION_TAG: "https://docs.example/credit/doc-2.1.pdf",
        RISK_MANAGEMENT_TAG: "https://docs.example/credit/risk-register",
        MONITORING_TAG: "https://docs.example/credit/monitoring",
    },
}


def test_a_documented_version_fills_all_nine_sections() -> None:
    version = ModelVersion("platform", "credit", "3", team="risk", **DOCUMENTED)  # type: ignore[arg-type]
    found = annex_iv_map(version, "high")
    assert [s.number for s in found.sections] == list(range(1, 10))
    assert found.complete and found.missing == []
    filled = {f.label: f.value for s in found.sections for f in s.filled}
    assert filled["Intended purpose"] == "Credit line decisions, reviewed by an analyst."
    assert filled["Dataset digests"] == "2 of 2 datasets"
    assert filled["Risk tier"] == "high"
    assert filled["Standards or other solutions applied"] == "ISO/IEC 42001:2023"


def test_a_bare_version_names_each_gap_and_the_field_to_add() -> None:
    found = annex_iv_map(ModelVersion("mlflow", "m", "1"), None)
    assert not found.complete
    by_section = {s.number: [(g.label, g.field) for g in s.missing] for s in found.sections}
    assert ("Training code", "trainingCode") in by_section[2]
    assert ("Risk tier", "riskTier (the policy file's tiers or setRiskTier)") in by_section[5]
    assert by_section[7] == [("Standards or other solutions applied", f"tag {STANDARDS_TAG}")]
    assert by_section[8] == [("Declaration of conformity", f"tag {DECLARATION_TAG}")]
    assert "2: trainingCode" in found.missing and f"9: tag {MONITORING_TAG}" in found.missing
    # Optional facts (a parent, where it serves) are never gaps.
    assert not any(g.field in ("parent", "deployments") for _, g in found.gaps)


def test_optional_facts_show_when_recorded_and_a_dataset_without_digest_is_a_gap() -> None:
    version = ModelVersion(
        "platform",
        "m",
        "2",
        parent="mg://platform/m/1",
        deployments=(Deployment("https://serving.example/m", 100.0),),
        training_data=(DatasetRef("s3://d/", role="training"),),
    )
    found = annex_iv_map(version, "minimal")
    filled = {f.label: f.value for s in found.sections for f in s.filled}
    assert filled["Pre-trained model it derives from"] == "mg://platform/m/1"
    assert filled["Where it serves"] == "https://serving.example/m"
    assert "2: trainingData[].digest" in found.missing


ANNEX_POLICY = (
    POLICIES.replace(
        "promotions:\n",
        "  - id: annex-iv-complete\n"
        "    description: High-risk models reach production only with complete Annex IV documentation\n"
        "    scope: { stages: [PRODUCTION] }\n"
        "    tiers: [high]\n"
        "    rule: 'version.annexIV.complete'\n"
        "    severity: error\n"
        "  - id: annex-iv-declaration\n"
        "    scope: { stages: [STAGING, PRODUCTION] }\n"
        "    tiers: [high]\n"
        "    rule: '!(\"8: tag annex_iv.declaration_of_conformity\" in version.annexIV.missing)'\n"
        "    severity: warning\n"
        "promotions:\n"
        "  - to: PRODUCTION\n    tier: high\n    require: [TEAM_LEAD, RISK_OFFICER]\n",
        1,
    )
    + TIERS
)


@pytest.fixture
async def annexed(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = await open_gateway(database_url, tmp_path, write_policies(tmp_path, ANNEX_POLICY))
    try:
        yield gw
    finally:
        await gw.aclose()


async def test_a_policy_blocks_a_high_risk_promotion_with_gaps(annexed: Gateway) -> None:
    gaps = dict(DOCUMENTED, tags={STANDARDS_TAG: "ISO/IEC 42001:2023"})  # no declaration, plans
    gapped = await register(annexed, "credit-scoring", **gaps)
    request = await annexed.governance.promotions.request(ALICE, gapped.uri, Stage.PRODUCTION, "launch")
    assert request.status is PromotionStatus.BLOCKED
    (violation,) = [v for v in request.violations if v.severity == "error"]
    assert violation.policy == "annex-iv-complete"
    assert {v.policy for v in request.violations} >= {"annex-iv-declaration"}

    documented = await register(annexed, "credit-scoring", **DOCUMENTED)
    ok = await annexed.governance.promotions.request(ALICE, documented.uri, Stage.PRODUCTION, "launch")
    assert ok.status is PromotionStatus.PENDING, ok.violations
    for who in (BOB, CAROL, DAVE, RITA):
        ok = await annexed.governance.promotions.approve(who, ok.id)
    assert ok.status is PromotionStatus.APPLIED

    # The same gaps on a model of another tier block nothing.
    minimal = await register(annexed, "churn", **gaps)
    other = await annexed.governance.promotions.request(ALICE, minimal.uri, Stage.PRODUCTION, "launch")
    assert other.status is PromotionStatus.PENDING, other.violations


async def test_the_shipped_policy_blocks_a_high_risk_production_promotion_with_gaps(
    database_url: str, tmp_path: Path
) -> None:
    gw = await open_gateway(database_url, tmp_path, SHIPPED_POLICIES)
    try:
        gapped = await register(gw, "credit-scoring", **dict(DOCUMENTED, tags={}))
        documented = await register(gw, "credit-scoring", **DOCUMENTED)
        await gw.governance.set_risk_tier(CORA, gapped.model_uri, "high", "credit decisions")
        blocked = await gw.governance.promotions.request(ALICE, gapped.uri, Stage.PRODUCTION, "launch")
        assert blocked.status is PromotionStatus.BLOCKED
        assert "high-risk-annex-iv-complete" in {
            v.policy for v in blocked.violations if v.severity == "error"
        }
        ok = await gw.governance.promotions.request(ALICE, documented.uri, Stage.PRODUCTION, "launch")
        assert ok.status is PromotionStatus.PENDING, ok.violations
        # To STAGING, the gaps are no obstacle: the rule guards production.
        staging = await gw.governance.promotions.request(ALICE, gapped.uri, Stage.STAGING, "try")
        assert "high-risk-annex-iv-complete" not in {v.policy for v in staging.violations}
    finally:
        await gw.aclose()


async def test_graphql_annex_iv(annexed: Gateway) -> None:
    version = await register(annexed, "credit-scoring", **dict(DOCUMENTED, tags={}))
    await annexed.sync.refresh_model("platform", "credit-scoring")
    async with graphql_client(annexed, "alice") as client:
        body = await gql(
            client,
            "query($uri: String!) { modelVersion(uri: $uri) { annexIV { number title "
            "filled { label value } missing { label field } } } }",
            {"uri": version.uri},
        )
    sections = data_of(body)["modelVersion"]["annexIV"]
    assert [s["number"] for s in sections] == list(range(1, 10))
    assert {"label": "Risk tier", "value": "high"} in sections[4]["filled"]
    assert sections[6]["missing"] == [
        {"label": "Standards or other solutions applied", "field": f"tag {STANDARDS_TAG}"}
    ]
    assert sections[0]["missing"] == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_evidence_pdf_shows_the_annex_iv_map(annexed: Gateway, tmp_path: Path) -> None:
    version = await register(
        annexed, "credit-scoring", **dict(DOCUMENTED, tags={STANDARDS_TAG: "ISO/IEC 42001"})
    )
    pdf = tmp_path / "evidence.pdf"
    pdf.write_bytes(render(await gather(annexed, version.uri, annexed.access(AUDITOR)), "pdf"))
    text = (
        await asyncio.to_thread(
            subprocess.run,
            [poppler("pdftotext"), "-layout", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        )
    ).stdout
    flat = " ".join(text.split())  # table cells wrap: assert on words, not whole cells
    assert "EU AI Act Annex IV map" in flat
    assert "3 gaps. Documentation support, not legal advice." in flat
    for number, words in enumerate(
        (
            "General description of",
            "Elements of the",
            "Monitoring,",
            "Appropriateness of",
            "Risk management",
            "Changes through the",
            "Harmonised",
            "EU declaration of",
            "Post-market",
        ),
        start=1,
    ):
        assert f"{number}. {words}" in flat
    assert "Risk tier: high" in flat and "ISO/IEC 42001" in flat
    assert flat.count("add tag") == 3
    for gap in ("annex_iv.risk_management", "annex_iv.declaration_of_conformity", "annex_iv.monitoring_plan"):
        assert gap in flat


async def test_the_inventory_counts_each_production_version_s_gaps(annexed: Gateway) -> None:
    version = await register(
        annexed, "credit-scoring", **dict(DOCUMENTED, tags={STANDARDS_TAG: "ISO/IEC 42001"})
    )
    await annexed.adapters["platform"].set_stage(version, Stage.PRODUCTION, PromotionContext("setup"))
    await register(annexed, "churn", **DOCUMENTED)  # a draft: no production version
    await annexed.sync.refresh_model("platform", "credit-scoring")
    await annexed.sync.refresh_model("platform", "churn")
    async with graphql_client(annexed, "audrey") as client:
        body = await gql(client, "{ complianceInventory { items { name riskTier { tier } annexIVGaps } } }")
    items = {i["name"]: i for i in data_of(body)["complianceInventory"]["items"]}
    assert items["credit-scoring"] == {
        "name": "credit-scoring",
        "riskTier": {"tier": "high"},
        "annexIVGaps": 3,
    }
    assert items["churn"]["annexIVGaps"] is None
