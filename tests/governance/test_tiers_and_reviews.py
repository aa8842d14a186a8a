"""Risk tiers (rules, audited overrides, tier-scoped approvals and policies), reviews
and the periodic-review clock, and the compliance inventory (now and as of a past
time). On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.auth.principal import Principal
from gateway.config import ConfigError
from gateway.domain import DatasetRef, Stage, utcnow
from gateway.errors import BadInput, Forbidden
from gateway.governance import audit
from gateway.governance.inventory import ComplianceState, InventoryFilter
from gateway.governance.policies import parse_policies
from gateway.governance.promotions import PromotionStatus
from gateway.runtime import Gateway
from tests.governance.conftest import (
    ALICE,
    AUDITOR,
    BOB,
    CAROL,
    DAVE,
    POLICIES,
    complete,
    open_gateway,
    register,
    write_policies,
)

TIERS = """
tiers:
  - name: high
    rule: 'model.name.startsWith("credit")'
    review_every_days: 90
    grace_days: 14
  - name: limited
    rule: 'model.registry == "research"'
    review_every_days: 180
  - name: minimal
"""
TIERED = (
    POLICIES.replace(
        "promotions:\n",
        "  - id: high-risk-validation\n"
        "    scope: { stages: [PRODUCTION] }\n"
        "    tiers: [high]\n"
        "    rule: 'version.trainingData.exists(d, d.role == \"validation\")'\n"
        "    severity: error\n"
        "promotions:\n"
        "  - to: PRODUCTION\n    tier: high\n    require: [TEAM_LEAD, RISK_OFFICER]\n",
        1,
    )
    + TIERS
)
RITA = Principal("rita", frozenset({"RISK_OFFICER"}))
CORA = Principal("cora", frozenset({"compliance"}))
VALIDATED = (
    DatasetRef("s3://data/train/", role="training"),
    DatasetRef("s3://data/holdout/", role="validation"),
)


@pytest.fixture
async def tiered(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = await open_gateway(database_url, tmp_path, write_policies(tmp_path, TIERED))
    try:
        yield gw
    finally:
        await gw.aclose()


async def to_production(gw: Gateway, uri: str, approvers: list[Principal]) -> None:
    request = await gw.governance.promotions.request(ALICE, uri, Stage.PRODUCTION, "launch")
    assert request.status is PromotionStatus.PENDING, request.violations
    for who in approvers:
        request = await gw.governance.promotions.approve(who, request.id)
    assert request.status is PromotionStatus.APPLIED


# --- the policy file --------------------------------------------------------------------


def test_tiers_are_parsed_and_checked() -> None:
    policies = parse_policies(TIERED)
    assert policies.tiers.names == ("high", "limited", "minimal")
    assert policies.tiers.get("high").review_every_days == 90  # type: ignore[union-attr]
    rule = policies.promotions[0]
    assert rule.scope.tiers == {"high"} and rule.approvals == ("TEAM_LEAD", "RISK_OFFICER")
    assert policies.required_approvals(Stage.PRODUCTION, "platform", "platform", Stage.DRAFT, "high") == (
        "TEAM_LEAD",
        "RISK_OFFICER",
        "LEGAL",
        "SECURITY",
    )
    assert policies.required_approvals(Stage.PRODUCTION, "platform", "platform", Stage.DRAFT, "minimal") == (
        "TEAM_LEAD",
        "LEGAL",
        "SECURITY",
    )


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (POLICIES + "tiers:\n  - name: high\n    rule: 'model.nope =='\n", "tiers[0].rule", "invalid CEL"),
        (POLICIES + "tiers:\n  - name: low\n  - name: high\n", "tiers[1].name", "would never apply"),
        (POLICIES + "tiers:\n  - name: a\n    review_every_days: -1\n", "tiers[0].review_every_days", ">= 0"),
        (
            POLICIES.replace("  - to: STAGING\n", "  - to: STAGING\n    tier: hgh\n") + TIERS,
            "promotions[1].tiers",
            "unknown tier 'hgh'",
        ),
    ],
)
def test_a_bad_tier_names_its_key(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policies(text, "policies.yaml")
    assert caught.value.key == key and words in str(caught.value)


# --- tiering and scoped approvals ----------------------------------------------------------


async def test_tier_rules_scope_approvals_and_policies(tiered: Gateway) -> None:
    credit = await register(tiered, "credit-scoring", **complete())
    fraud = await register(tiered, "fraud", **complete())
    research = await register(tiered, "nlp", registry="research", actor="bob", **complete())
    tiers = await tiered.governance.tiers_of([credit.model_uri, fraud.model_uri, research.model_uri])
    assert [tiers[u].tier for u in (credit.model_uri, fraud.model_uri, research.model_uri)] == [
        "high",
        "minimal",
        "limited",
    ]
    # The high tier's policy: no validation dataset, so its promotion is blocked ...
    blocked = await tiered.governance.promotions.request(ALICE, credit.uri, Stage.PRODUCTION)
    assert blocked.status is PromotionStatus.BLOCKED
    assert [v.policy for v in blocked.violations] == ["high-risk-validation"]
    # ... and the same rule does not apply to a minimal-tier model.
    ok = await tiered.governance.promotions.request(ALICE, fraud.uri, Stage.PRODUCTION)
    assert ok.status is PromotionStatus.PENDING and ok.required_roles == ("TEAM_LEAD", "LEGAL", "SECURITY")
    # A high-risk production promotion needs the risk officer too.
    credit2 = await register(tiered, "credit-scoring", **complete(training_data=VALIDATED))
    request = await tiered.governance.promotions.request(ALICE, credit2.uri, Stage.PRODUCTION)
    assert request.required_roles == ("TEAM_LEAD", "RISK_OFFICER", "LEGAL", "SECURITY")
    for who in (BOB, CAROL, DAVE):
        request = await tiered.governance.promotions.approve(who, request.id)
    assert request.status is PromotionStatus.PENDING and request.missing_roles == ("RISK_OFFICER",)
    request = await tiered.governance.promotions.approve(RITA, request.id)
    assert request.status is PromotionStatus.APPLIED


async def test_an_override_is_audited_and_rescopes(tiered: Gateway) -> None:
    fraud = await register(tiered, "fraud", **complete())
    with pytest.raises(Forbidden):
        await tiered.governance.set_risk_tier(AUDITOR, fraud.model_uri, "high", "material exposure")
    with pytest.raises(BadInput) as caught:
        await tiered.governance.set_risk_tier(CORA, fraud.model_uri, "extreme", "x")
    assert caught.value.extensions["field"] == "tier"
    with pytest.raises(BadInput) as caught:
        await tiered.governance.set_risk_tier(CORA, fraud.model_uri, "high", "  ")
    assert caught.value.extensions["field"] == "reason"
    assigned = await tiered.governance.set_risk_tier(CORA, fraud.model_uri, "high", "material exposure")
    assert (assigned.tier, assigned.source) == ("high", "override")
    assert assigned.override is not None and assigned.override.set_by == "cora"
    page = await audit.query_events(tiered.database, audit.AuditFilter(action="risk_tier.set"), 10, None)
    (event,) = page.events
    assert event.subject == fraud.model_uri and event.principal == "cora"
    assert dict(event.details) == {"tier": "high", "previous": "minimal", "reason": "material exposure"}
    # Now high: the tier-scoped policy applies (its stored evaluation was redone at once).
    request = await tiered.governance.promotions.request(ALICE, fraud.uri, Stage.PRODUCTION)
    assert request.status is PromotionStatus.BLOCKED
    # Cleared: back to the rules.
    back = await tiered.governance.set_risk_tier(CORA, fraud.model_uri, None, "reassessed")
    assert (back.tier, back.source) == ("minimal", "rule")
    assert (await tiered.governance.verify_audit()).ok


# --- reviews and the review clock ------------------------------------------------------------


async def test_review_due_then_warning_then_error_and_approved_resets(tiered: Gateway) -> None:
    v = await register(tiered, "credit-scoring", **complete(training_data=VALIDATED))
    await to_production(tiered, v.uri, [BOB, CAROL, DAVE, RITA])
    version = await tiered.index.get_version(v.uri)
    assert version is not None and version.stage is Stage.PRODUCTION
    now = utcnow()
    state = (await tiered.governance.review_states([version], now))[v.uri]
    assert state.due is not None and not state.overdue
    entered = state.due - timedelta(days=90)
    assert abs((entered - now).total_seconds()) < 600  # it entered production just now
    assert (await tiered.governance.review_states([version], state.due + timedelta(days=1)))[
        v.uri
    ].severity == "warning"
    late = state.due + timedelta(days=15)
    assert (await tiered.governance.review_states([version], late))[v.uri].severity == "error"

    # Only reviewers may review; a comment is required; outcomes are checked.
    with pytest.raises(Forbidden):
        await tiered.governance.add_review(Principal("vic"), v.uri, "fine", "APPROVED")
    with pytest.raises(BadInput) as caught:
        await tiered.governance.add_review(RITA, v.uri, "fine", "MAYBE")
    assert caught.value.extensions["field"] == "outcome"
    noted = await tiered.governance.add_review(
        RITA, v.uri, "drift within bounds; thresholds kept", "CHANGES_REQUESTED"
    )
    assert (await tiered.governance.review_states([version], late))[v.uri].severity == "error"  # not reset
    approved = await tiered.governance.add_review(AUDITOR, v.uri, "revalidated on Q3 data", "APPROVED")
    reset = (await tiered.governance.review_states([version], approved.at))[v.uri]
    assert reset.due == approved.at + timedelta(days=90) and not reset.overdue
    recorded = (await tiered.governance.reviews_of([v.uri]))[v.uri]
    assert [(r.principal, r.outcome) for r in recorded] == [
        ("rita", noted.outcome),
        ("audrey", "APPROVED"),
    ]
    page = await audit.query_events(tiered.database, audit.AuditFilter(action="review.added"), 10, None)
    assert [e.details["outcome"] for e in reversed(page.events)] == ["CHANGES_REQUESTED", "APPROVED"]


# --- the inventory ------------------------------------------------------------------------


async def test_inventory_now_and_as_of(tiered: Gateway) -> None:
    credit = await register(tiered, "credit-scoring", **complete(training_data=VALIDATED))
    await to_production(tiered, credit.uri, [BOB, CAROL, DAVE, RITA])
    fraud = await register(tiered, "fraud", **complete())
    await register(tiered, "nlp", registry="research", actor="bob", **complete())
    before_override = utcnow()
    await tiered.governance.set_risk_tier(CORA, fraud.model_uri, "limited", "customer-facing")

    inv = await tiered.governance.inventory(InventoryFilter())
    rows = {i.model_name: i for i in inv.items}
    assert set(rows) == {"credit-scoring", "fraud", "nlp"}
    c = rows["credit-scoring"]
    assert (c.registry, c.team, c.tier, c.tier_source) == ("platform", "platform", "high", "rule")
    assert c.production_version == credit.uri and c.state is ComplianceState.COMPLIANT
    assert c.last_approval is not None and (c.last_approval.principal, c.last_approval.role) == (
        "rita",
        "RISK_OFFICER",
    )
    assert c.next_review_due is not None and not c.review.overdue
    assert (rows["fraud"].tier, rows["fraud"].tier_source) == ("limited", "override")
    assert rows["fraud"].production_version is None and rows["fraud"].next_review_due is None
    assert [(t.tier, t.models) for t in inv.by_tier()] == [("high", 1), ("limited", 2)]

    # Filters, and the review clock judged later: overdue past the grace is NON_COMPLIANT.
    assert [
        i.model_name for i in (await tiered.governance.inventory(InventoryFilter(tiers=("limited",)))).items
    ] == [
        "fraud",
        "nlp",
    ]
    later = c.next_review_due + timedelta(days=20)
    overdue = await tiered.governance.inventory(InventoryFilter(review_overdue=True), now=later)
    (row,) = overdue.items
    assert row.model_name == "credit-scoring" and row.state is ComplianceState.NON_COMPLIANT
    assert [(v.policy, v.severity) for v in row.violations] == [("modelgate.review-overdue", "error")]
    with pytest.raises(BadInput) as caught:
        await tiered.governance.inventory(InventoryFilter(tiers=("nope",)))
    assert caught.value.extensions["field"] == "tiers"

    # As of before the override: fraud had its rule's tier.
    past = await tiered.governance.inventory(InventoryFilter(), before_override)
    assert {i.model_name: (i.tier, i.tier_source) for i in past.items}["fraud"] == ("minimal", "rule")
    assert {i.model_name: i.production_version for i in past.items}["credit-scoring"] == credit.uri
    # As of before anything: empty.
    assert (
        await tiered.governance.inventory(InventoryFilter(), before_override - timedelta(days=1))
    ).items == []
