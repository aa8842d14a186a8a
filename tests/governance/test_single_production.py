"""One PRODUCTION version per model: a PRODUCTION write-through archives the
version it replaces in the same transaction (native registry), concurrent
promotions of one model serialise (one process and two replicas), and
re-promoting one of several PRODUCTION versions resolves the conflict that
``modelgate.multiple-production`` reports. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.domain import ModelVersion, Stage
from gateway.errors import BadInput
from gateway.governance import audit
from gateway.governance.compliance import MULTIPLE_PRODUCTION
from gateway.governance.promotions import PromotionRequest, PromotionStatus
from gateway.runtime import Gateway
from tests.fakes.memory_registry import MemoryRegistry
from tests.governance.conftest import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    complete,
    force_stage,
    open_gateway,
    register,
)


async def requested(gw: Gateway, uri: str) -> PromotionRequest:
    """A PRODUCTION request with every approval but the last (SECURITY)."""
    request = await gw.governance.promotions.request(ALICE, uri, Stage.PRODUCTION)
    await gw.governance.promotions.approve(BOB, request.id)
    await gw.governance.promotions.approve(CAROL, request.id)
    return request


async def promote(gw: Gateway, uri: str) -> PromotionRequest:
    applied = await gw.governance.promotions.approve(DAVE, (await requested(gw, uri)).id)
    assert applied.status is PromotionStatus.APPLIED, applied.error
    return applied


async def native_stages(gw: Gateway, model: str) -> dict[str, Stage]:
    versions = (await gw.adapters["platform"].list_versions(model)).items
    return {v.version: v.stage for v in versions}


async def catalogue_stages(gw: Gateway, versions: Sequence[ModelVersion]) -> dict[str, Stage]:
    found = await gw.index.get_versions([v.uri for v in versions])
    return {found[v.uri].version: found[v.uri].stage for v in versions}


async def events(gw: Gateway, action: str) -> list[audit.AuditEvent]:
    page = await audit.query_events(gw.database, audit.AuditFilter(action=action), 100, None)
    return list(reversed(page.events))


async def conflicts(gw: Gateway, versions: Sequence[ModelVersion]) -> set[str]:
    """The versions carrying the multiple-production warning."""
    stored = await gw.governance.stored_compliance([v.uri for v in versions])
    return {uri for uri, c in stored.items() if any(x.policy == MULTIPLE_PRODUCTION for x in c.violations)}


async def test_a_production_write_through_archives_the_previous_version(gov: Gateway) -> None:
    v1 = await register(gov, "fraud", **complete())
    v2 = await register(gov, "fraud", **complete())
    await promote(gov, v1.uri)
    second = await promote(gov, v2.uri)

    assert await native_stages(gov, "fraud") == {"1": Stage.ARCHIVED, "2": Stage.PRODUCTION}
    assert await catalogue_stages(gov, [v1, v2]) == {"1": Stage.ARCHIVED, "2": Stage.PRODUCTION}
    # The demotion has its own history row and audit event, by the request's principal.
    changes = await gov.history.changes(v1.uri)
    assert [(c.from_stage, c.to_stage, c.principal, c.source) for c in changes[-2:]] == [
        (Stage.DRAFT, Stage.PRODUCTION, "alice", "promotion"),
        (Stage.PRODUCTION, Stage.ARCHIVED, "alice", "promotion"),
    ]
    (demoted,) = await events(gov, "stage.demoted")
    assert (demoted.subject, demoted.principal) == (v1.uri, "alice")
    assert demoted.details == {
        "requestId": second.id,
        "from": "PRODUCTION",
        "to": "ARCHIVED",
        "registry": "platform",
        "nativeStage": "ARCHIVED",
        "supersededBy": v2.uri,
    }
    # The sync after the write-through sees nothing it did not know: no second record.
    assert await events(gov, "stage.synced") == []
    assert [c.to_stage for c in await gov.history.changes(v1.uri)].count(Stage.ARCHIVED) == 1
    assert await conflicts(gov, [v1, v2]) == set()
    assert (await gov.governance.verify_audit()).ok


async def test_the_demotion_commits_with_the_promotion_or_not_at_all(
    gov: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = await register(gov, "fraud", **complete())
    v2 = await register(gov, "fraud", **complete())
    await promote(gov, v1.uri)
    request = await requested(gov, v2.uri)
    real_append = audit.append_many

    async def crash(conn, batch, *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(e.action == "promotion.applied" for e in batch):
            raise RuntimeError("power cut")
        return await real_append(conn, batch, *args, **kwargs)

    monkeypatch.setattr(audit, "append_many", crash)
    failed = await gov.governance.promotions.approve(DAVE, request.id)
    assert failed.status is PromotionStatus.FAILED
    assert await native_stages(gov, "fraud") == {"1": Stage.PRODUCTION, "2": Stage.DRAFT}
    assert await events(gov, "stage.demoted") == []
    monkeypatch.setattr(audit, "append_many", real_append)
    retried = await gov.governance.promotions.retry(ALICE, request.id)
    assert retried.status is PromotionStatus.APPLIED
    assert await native_stages(gov, "fraud") == {"1": Stage.ARCHIVED, "2": Stage.PRODUCTION}
    assert [e.subject for e in await events(gov, "stage.demoted")] == [v1.uri]


async def test_concurrent_final_approvals_leave_one_production_version(gov: Gateway) -> None:
    versions = [await register(gov, "fraud", **complete()) for _ in range(3)]
    requests = [await requested(gov, v.uri) for v in versions]
    finals = await asyncio.gather(*(gov.governance.promotions.approve(DAVE, r.id) for r in requests))
    assert [f.status for f in finals] == [PromotionStatus.APPLIED] * 3

    stages = await native_stages(gov, "fraud")
    assert sorted(stages.values()) == sorted([Stage.PRODUCTION, Stage.ARCHIVED, Stage.ARCHIVED])
    # Each write-through demoted the one before it: two demotions, each recorded once.
    demoted = await events(gov, "stage.demoted")
    assert len(demoted) == 2 and len({e.subject for e in demoted}) == 2
    winner = next(v for v in versions if stages[v.version] is Stage.PRODUCTION)
    assert winner.uri not in {e.subject for e in demoted}
    await gov.sync.refresh_model("platform", "fraud")
    assert await catalogue_stages(gov, versions) == stages
    assert await conflicts(gov, versions) == set()


async def test_two_replicas_promoting_one_model_leave_one_production_version(
    postgres_url: str, tmp_path: Path
) -> None:
    """Two gateways over one PostgreSQL database, final approvals split between them."""
    first = await open_gateway(postgres_url, tmp_path)
    second = await open_gateway(postgres_url, tmp_path)
    try:
        versions = [await register(first, "fraud", **complete()) for _ in range(4)]
        await second.sync.refresh_model("platform", "fraud")
        requests = [await requested(first, v.uri) for v in versions]
        replicas = [first, second, first, second]
        finals = await asyncio.gather(
            *(gw.governance.promotions.approve(DAVE, r.id) for gw, r in zip(replicas, requests, strict=True))
        )
        assert [f.status for f in finals] == [PromotionStatus.APPLIED] * 4
        for gw in (first, second):
            stages = await native_stages(gw, "fraud")
            assert list(stages.values()).count(Stage.PRODUCTION) == 1, stages
        assert len(await events(first, "stage.demoted")) == 3
    finally:
        await first.aclose()
        await second.aclose()


async def test_re_promoting_one_of_two_production_versions_resolves_the_conflict(gov: Gateway) -> None:
    v1 = await register(gov, "fraud", **complete())
    v2 = await register(gov, "fraud", **complete())
    await promote(gov, v1.uri)
    await force_stage(gov, v2, Stage.PRODUCTION)  # a second one, as a database from before holds it
    await gov.sync.refresh_model("platform", "fraud")
    assert await conflicts(gov, [v1, v2]) == {v1.uri, v2.uri}

    # What the warning says to do is allowed, and does it.
    resolved = await promote(gov, v2.uri)
    assert resolved.from_stage is Stage.PRODUCTION
    assert await native_stages(gov, "fraud") == {"1": Stage.ARCHIVED, "2": Stage.PRODUCTION}
    assert [e.subject for e in await events(gov, "stage.demoted")] == [v1.uri]
    assert await conflicts(gov, [v1, v2]) == set()
    # Not a stage change of its own: no history row PRODUCTION -> PRODUCTION.
    assert all(c.from_stage is not c.to_stage for c in await gov.history.changes(v2.uri))
    # The sole PRODUCTION version: promoting it again changes nothing and is refused.
    with pytest.raises(BadInput, match="already in PRODUCTION"):
        await gov.governance.promotions.request(ALICE, v2.uri, Stage.PRODUCTION)


async def test_re_promotion_resolves_a_conflict_in_a_remote_registry_too(gov: Gateway) -> None:
    """The rule lives in the promotion code: any kind, here a registry outside the database."""
    remote = MemoryRegistry("mem")
    remote.put("ranker", versions=2, team="platform")
    fields = complete()
    for number, version in remote.versions["ranker"].items():
        remote.versions["ranker"][number] = dataclasses.replace(
            version,
            stage=Stage.PRODUCTION,
            native_stage="PRODUCTION",
            model_card=fields["model_card"],
            training_data=fields["training_data"],
        )
    gov.adapters["mem"] = remote
    await gov.sync.refresh_model("mem", "ranker")
    one, two = (await gov.index.get_versions(["mg://mem/ranker/1", "mg://mem/ranker/2"])).values()
    assert await conflicts(gov, [one, two]) == {one.uri, two.uri}

    await promote(gov, two.uri)
    assert {n: v.stage for n, v in remote.versions["ranker"].items()} == {
        "1": Stage.ARCHIVED,
        "2": Stage.PRODUCTION,
    }
    assert await conflicts(gov, [one, two]) == set()
    with pytest.raises(BadInput, match="already in PRODUCTION"):
        await gov.governance.promotions.request(ALICE, two.uri, Stage.PRODUCTION)
