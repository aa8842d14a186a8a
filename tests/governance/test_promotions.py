"""Promotions through every outcome: APPLIED (native and remote write-through),
BLOCKED, REJECTED, FAILED and retried; separation of duties; concurrent and
repeated approvals never apply twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from adapters.protocol import PromotionContext
from gateway.auth.principal import Principal
from gateway.domain import ModelCard, Stage
from gateway.errors import BadInput, Conflict, Forbidden, NotFound, RegistryUnavailable
from gateway.governance import audit
from gateway.governance.promotions import PromotionStatus
from gateway.runtime import Gateway
from tests.fakes.memory_registry import MemoryRegistry
from tests.governance.conftest import ALICE, BOB, CAROL, DAVE, ERIN, OUTSIDER, complete, register


async def actions(gw: Gateway, subject: str) -> list[str]:
    page = await audit.query_events(gw.database, audit.AuditFilter(subject=subject), 100, None)
    return [e.action for e in reversed(page.events) if e.action != "compliance.changed"]


async def test_staging_promotion_is_approved_and_written_through(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    request = await gov.governance.promotions.request(ALICE, v.uri, Stage.STAGING, "shadow traffic")
    assert request.status is PromotionStatus.PENDING
    assert request.missing_roles == ("TEAM_LEAD",) and request.violations == ()

    applied = await gov.governance.promotions.approve(BOB, request.id, "looks good")
    assert applied.status is PromotionStatus.APPLIED and applied.missing_roles == ()
    assert [(a.principal, a.role, a.comment) for a in applied.approvals] == [
        ("bob", "TEAM_LEAD", "looks good")
    ]
    assert (await gov.adapters["platform"].get_version("fraud", v.version)).stage is Stage.STAGING  # type: ignore[union-attr]
    assert (await gov.index.get_version(v.uri)).stage is Stage.STAGING  # type: ignore[union-attr]
    # One event per step; the sync that saw the new stage records nothing twice.
    assert await actions(gov, v.uri) == [
        "version.registered",
        "promotion.requested",
        "promotion.approved",
        "promotion.applied",
    ]
    assert (await gov.governance.verify_audit()).ok


async def test_a_version_violating_an_error_policy_is_blocked(gov: Gateway) -> None:
    v = await register(gov, "no-card", **complete(model_card=ModelCard()))
    request = await gov.governance.promotions.request(ALICE, v.uri, Stage.PRODUCTION)
    assert request.status is PromotionStatus.BLOCKED
    assert [(x.policy, x.severity) for x in request.violations] == [("card-complete", "error")]
    with pytest.raises(Conflict, match="BLOCKED"):
        await gov.governance.promotions.approve(BOB, request.id)
    # Warnings travel with the request but never block.
    w = await register(gov, "low-auc", **complete(metrics={"auc": 0.5}))
    ok = await gov.governance.promotions.request(ALICE, w.uri, Stage.STAGING)
    assert ok.status is PromotionStatus.PENDING and [x.policy for x in ok.violations] == ["min-auc"]


async def test_rejection_by_any_approver_ends_the_request(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    request = await gov.governance.promotions.request(ALICE, v.uri, Stage.PRODUCTION)
    await gov.governance.promotions.approve(BOB, request.id)
    with pytest.raises(BadInput, match="comment"):
        await gov.governance.promotions.reject(CAROL, request.id, " ")
    rejected = await gov.governance.promotions.reject(CAROL, request.id, "no DPIA on file")
    assert rejected.status is PromotionStatus.REJECTED
    assert rejected.rejection is not None and rejected.rejection.principal == "carol"
    assert rejected.rejection.role == "LEGAL" and rejected.rejection.comment == "no DPIA on file"
    with pytest.raises(Conflict, match="REJECTED"):
        await gov.governance.promotions.approve(DAVE, request.id)
    assert (await gov.index.get_version(v.uri)).stage is Stage.DRAFT  # type: ignore[union-attr]
    # A new request for the same move may be made once the old one ended.
    again = await gov.governance.promotions.request(ALICE, v.uri, Stage.PRODUCTION)
    assert again.status is PromotionStatus.PENDING


async def test_separation_of_duties(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    promotions = gov.governance.promotions
    with pytest.raises(Forbidden, match="team"):
        await promotions.request(OUTSIDER, v.uri, Stage.PRODUCTION)  # not on the platform team
    request = await promotions.request(ALICE, v.uri, Stage.PRODUCTION)
    with pytest.raises(Conflict, match="open request"):
        await promotions.request(BOB, v.uri, Stage.PRODUCTION)
    with pytest.raises(Forbidden, match="separation of duties"):
        await promotions.approve(ALICE, request.id)  # alice holds TEAM_LEAD but asked
    with pytest.raises(Forbidden, match="separation of duties"):
        await promotions.reject(ALICE, request.id, "changed my mind")
    with pytest.raises(Forbidden, match="holds none"):
        await promotions.approve(Principal("zed", frozenset({"viewer"})), request.id)
    after_bob = await promotions.approve(BOB, request.id)
    with pytest.raises(Conflict, match="already approved"):
        await promotions.approve(BOB, request.id)  # once per principal
    with pytest.raises(Conflict, match="already approved"):
        await promotions.approve(OUTSIDER, request.id, role="TEAM_LEAD")  # one principal per role
    # erin holds LEGAL and SECURITY but satisfies only one of them.
    after_erin = await promotions.approve(ERIN, request.id)
    assert after_erin.missing_roles == ("SECURITY",) and after_bob.missing_roles == ("LEGAL", "SECURITY")
    with pytest.raises(Conflict, match="already approved"):
        await promotions.approve(ERIN, request.id, role="SECURITY")
    with pytest.raises(NotFound):
        await promotions.approve(BOB, "no-such-request")
    done = await promotions.approve(DAVE, request.id)
    assert done.status is PromotionStatus.APPLIED
    assert {(a.principal, a.role) for a in done.approvals} == {
        ("bob", "TEAM_LEAD"),
        ("erin", "LEGAL"),
        ("dave", "SECURITY"),
    }


async def test_concurrent_and_repeated_approvals_apply_once(gov: Gateway) -> None:
    native = gov.adapters["platform"]
    calls = 0
    original = native.set_stage

    async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await original(*args, **kwargs)

    native.set_stage = counting  # type: ignore[method-assign]
    v = await register(gov, "fraud", **complete())
    request = await gov.governance.promotions.request(ALICE, v.uri, Stage.PRODUCTION)
    await gov.governance.promotions.approve(BOB, request.id)
    outcomes = await asyncio.gather(
        gov.governance.promotions.approve(CAROL, request.id),
        gov.governance.promotions.approve(DAVE, request.id),
        gov.governance.promotions.approve(DAVE, request.id),
        gov.governance.promotions.approve(CAROL, request.id),
        return_exceptions=True,
    )
    successes = [o for o in outcomes if not isinstance(o, Exception)]
    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert len(successes) == 2 and all(isinstance(f, Conflict) for f in failures)
    final = await gov.governance.promotions.get(request.id)
    assert final.status is PromotionStatus.APPLIED and len(final.approvals) == 3
    assert calls == 1
    assert (await actions(gov, v.uri)).count("promotion.applied") == 1


async def test_a_failed_write_through_is_recorded_and_retried(gov: Gateway) -> None:
    native = gov.adapters["platform"]
    original = native.set_stage

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RegistryUnavailable("platform", "database is on fire")

    v = await register(gov, "fraud", **complete())
    request = await gov.governance.promotions.request(ALICE, v.uri, Stage.STAGING)
    native.set_stage = broken  # type: ignore[method-assign]
    failed = await gov.governance.promotions.approve(BOB, request.id)
    assert failed.status is PromotionStatus.FAILED and "database is on fire" in (failed.error or "")
    assert failed.attempts == 1 and not failed.applying
    other = await register(gov, "other", **complete())
    pending = await gov.governance.promotions.request(ALICE, other.uri, Stage.STAGING)
    with pytest.raises(Conflict, match="only a FAILED"):
        await gov.governance.promotions.retry(BOB, pending.id)
    native.set_stage = original  # type: ignore[method-assign]
    with pytest.raises(Forbidden):
        await gov.governance.promotions.retry(OUTSIDER, request.id)
    retried = await gov.governance.promotions.retry(BOB, request.id)
    assert retried.status is PromotionStatus.APPLIED and retried.attempts == 2 and retried.error is None
    assert (await gov.index.get_version(v.uri)).stage is Stage.STAGING  # type: ignore[union-attr]
    assert await actions(gov, v.uri) == [
        "version.registered",
        "promotion.requested",
        "promotion.approved",
        "promotion.failed",
        "promotion.applied",
    ]


async def test_native_stage_write_and_its_event_commit_together(gov: Gateway, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    v = await register(gov, "fraud", **complete())
    request = await gov.governance.promotions.request(ALICE, v.uri, Stage.STAGING)
    real_append = audit.append_many

    async def crash(conn, events, *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(e.action == "promotion.applied" for e in events):
            raise RuntimeError("power cut")
        return await real_append(conn, events, *args, **kwargs)

    monkeypatch.setattr(audit, "append_many", crash)
    failed = await gov.governance.promotions.approve(BOB, request.id)
    assert failed.status is PromotionStatus.FAILED
    # The registry's stage write rolled back with the event that failed.
    assert (await gov.adapters["platform"].get_version("fraud", v.version)).stage is Stage.DRAFT  # type: ignore[union-attr]


async def test_remote_registry_write_through_and_failure(gov: Gateway) -> None:
    remote = MemoryRegistry("mem")
    remote.put("ranker", versions=2, team="platform")
    gov.adapters["mem"] = remote
    await gov.sync.refresh_model("mem", "ranker")
    uri = "mg://mem/ranker/2"
    promotions = gov.governance.promotions
    # The test policies ask staging versions for training data, which this fake lacks: blocked.
    blocked = await promotions.request(ALICE, uri, Stage.STAGING)
    assert blocked.status is PromotionStatus.BLOCKED
    # ARCHIVED needs no approval: applied at once, through the remote adapter.
    remote.failing = True
    failed = await promotions.request(ALICE, uri, Stage.ARCHIVED)
    assert failed.status is PromotionStatus.FAILED and "connection refused" in (failed.error or "")
    remote.failing = False
    applied = await promotions.retry(ALICE, failed.id)
    assert applied.status is PromotionStatus.APPLIED
    assert remote.versions["ranker"]["2"].stage is Stage.ARCHIVED
    assert (await gov.index.get_version(uri)).stage is Stage.ARCHIVED  # type: ignore[union-attr]
    assert (await actions(gov, uri))[-2:] == ["promotion.failed", "promotion.applied"]


async def test_a_stage_changed_outside_modelgate_is_audited_as_synced(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    await gov.adapters["platform"].set_stage(v, Stage.STAGING, PromotionContext("someone"))
    await gov.sync.refresh_model("platform", "fraud")
    page = await audit.query_events(gov.database, audit.AuditFilter(action="stage.synced"), 10, None)
    assert [(e.subject, e.details["from"], e.details["to"]) for e in page.events] == [
        (v.uri, "DRAFT", "STAGING")
    ]


async def test_request_input_is_checked(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    promotions = gov.governance.promotions
    with pytest.raises(BadInput, match="already in DRAFT"):
        await promotions.request(ALICE, v.uri, Stage.DRAFT)
    with pytest.raises(BadInput):
        await promotions.request(ALICE, "mg://platform/fraud", Stage.STAGING)
    with pytest.raises(NotFound):
        await promotions.request(ALICE, "mg://platform/fraud/99", Stage.STAGING)
    with pytest.raises(BadInput, match="status"):
        await promotions.find("DONE")
