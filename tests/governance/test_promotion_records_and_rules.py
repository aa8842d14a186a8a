"""``gateway.governance.promotion_records`` (requests as stored, the claim, the
rejection) and ``promotion_rules`` (who may decide, as which role), each on its
own over the demo catalogue's database and a policy file given as text."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gateway.auth.principal import Principal
from gateway.domain import ModelVersion, Stage
from gateway.errors import BadInput, Conflict, Forbidden, NotFound
from gateway.governance.audit import AuditFilter, iter_events
from gateway.governance.policies import parse_policies
from gateway.governance.promotion_records import MAX_LIST, PromotionRecords, pending_key
from gateway.governance.promotion_requests import PromotionStatus
from gateway.governance.promotion_rules import PromotionRules
from gateway.runtime import Gateway

POLICIES = parse_policies(
    """
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD, LEGAL]
roles:
  team_scoped: [TEAM_LEAD]
"""
)
URI = "mg://platform/fraud-detector/6"
OWNER = Principal("pat", teams=frozenset({"platform"}))
LEAD = Principal("lee", frozenset({"TEAM_LEAD"}), frozenset({"platform"}))
OTHER_LEAD = Principal("ola", frozenset({"TEAM_LEAD"}), frozenset({"research"}))
LAWYER = Principal("lou", frozenset({"LEGAL"}))


def rules_for(gateway: Gateway) -> PromotionRules:
    registries = {r.id: r for r in gateway.settings.registries}
    return PromotionRules(gateway.index, registries, POLICIES, PromotionRecords(gateway.database))


async def test_an_unknown_request_or_status_is_refused(demo_gateway: Gateway) -> None:
    records = PromotionRecords(demo_gateway.database)
    with pytest.raises(NotFound):
        await records.get("no-such-request")
    with pytest.raises(BadInput) as refused:
        await records.find(status="DONE")
    assert refused.value.as_extensions()["field"] == "status"
    assert await records.find(limit=MAX_LIST * 10) == [] and await records.applied_approvals([]) == {}
    assert pending_key(URI, Stage.PRODUCTION) == f"{URI} PRODUCTION"


async def test_a_claim_is_won_once_and_a_rejection_ends_the_request(demo_gateway: Gateway) -> None:
    promotions = demo_gateway.governance.promotions
    request = await promotions.request(OWNER, URI, Stage.PRODUCTION, "release", hold=True)
    records = PromotionRecords(demo_gateway.database)
    async with demo_gateway.database.write() as conn:
        assert await records.claim(conn, request.id, "a", PromotionStatus.PENDING)
        assert not await records.claim(conn, request.id, "b", PromotionStatus.PENDING)
        assert not await records.claim(
            conn, request.id, "b", PromotionStatus.PENDING, stale=True
        )  # fresh claim
    assert (await records.get(request.id)).applying
    async with demo_gateway.database.write() as conn:
        row = await records.load(conn, request.id, lock=True)
        await records.end_rejected(conn, row, "system", None, "the rollout was aborted")
    ended = await records.get(request.id)
    assert ended.status is PromotionStatus.REJECTED and ended.rejection is not None
    assert (ended.rejection.principal, ended.rejection.role, ended.rejection.comment) == (
        "system",
        "",
        "the rollout was aborted",
    )
    (event,) = [
        e
        async for e in iter_events(
            demo_gateway.database, AuditFilter(subject=URI, action="promotion.rejected")
        )
    ]
    assert "role" not in event.details and event.details["requestId"] == request.id
    assert [r.id for r in await records.find(PromotionStatus.REJECTED.value, URI)] == [request.id]


async def test_a_versions_team_is_its_registrys_else_its_own_else_its_models(demo_gateway: Gateway) -> None:
    rules = rules_for(demo_gateway)
    assert await rules.team_of(ModelVersion("platform", "fraud-detector", "6")) == "platform"
    assert await rules.team_of(ModelVersion("gone", "m", "1", team="ads")) == "ads"
    assert await rules.team_of(ModelVersion("gone", "m", "1")) is None
    assert await rules.request_team("mg://gone/m/1", "research") == "research"


async def test_only_the_owning_team_may_ask_and_production_is_shared_only_when_several_hold_it(
    demo_gateway: Gateway,
) -> None:
    rules = rules_for(demo_gateway)
    version, team = await rules.writable_version(OWNER, URI)
    assert (version.uri, team) == (URI, "platform")
    with pytest.raises(Forbidden):
        await rules.writable_version(Principal("rae", teams=frozenset({"research"})), URI)
    production = await demo_gateway.index.get_version("mg://platform/fraud-detector/5")
    assert production is not None and production.stage is Stage.PRODUCTION
    assert not await rules.shares_production(production) and not await rules.shares_production(version)


def request_row(**changed: Any) -> Any:
    """A stored request's row, as ``check_open`` reads it."""
    fields = {"id": "r1", "status": "PENDING", "claimed_at": None, "requested_by": "pat"}
    return SimpleNamespace(**{**fields, **changed})


def test_a_decision_needs_an_open_request_and_another_principal() -> None:
    PromotionRules.check_open(request_row(), LEAD, "approve", allow_failed=False)
    for changed, who, error in [
        ({"status": "FAILED"}, LEAD, Conflict),
        ({"claimed_at": "now"}, LEAD, Conflict),
        ({}, OWNER, Forbidden),  # separation of duties
    ]:
        with pytest.raises(error):
            PromotionRules.check_open(request_row(**changed), who, "approve", allow_failed=False)
    PromotionRules.check_open(request_row(status="FAILED"), LEAD, "reject", allow_failed=True)


async def test_an_approver_acts_as_a_role_they_hold_for_the_models_team(demo_gateway: Gateway) -> None:
    rules = rules_for(demo_gateway)
    required = ("TEAM_LEAD", "LEGAL")
    assert rules.choose_role(LEAD, "platform", required, required, None, "approve") == "TEAM_LEAD"
    assert rules.choose_role(LAWYER, "platform", required, ["LEGAL"], "LEGAL", "approve") == "LEGAL"
    refusals = [
        (LEAD, required, "SECURITY", BadInput),  # not a role of this request
        (LEAD, ["LEGAL"], "TEAM_LEAD", Conflict),  # already approved
        (LAWYER, required, "TEAM_LEAD", Forbidden),  # not held
        (OTHER_LEAD, required, "TEAM_LEAD", Forbidden),  # team-scoped, another team's lead
        (OTHER_LEAD, required, None, Forbidden),  # none left they may act as
    ]
    for who, candidates, role, error in refusals:
        with pytest.raises(error):
            rules.choose_role(who, "platform", required, candidates, role, "approve")
