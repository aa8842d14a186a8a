"""Retention: a dry-run plan that changes nothing, and an apply that archives
through the audited promotion path (keep_last and scopes respected)."""

from __future__ import annotations

from datetime import timedelta

from adapters.protocol import PromotionContext
from gateway.domain import Stage, utcnow
from gateway.governance import audit
from gateway.runtime import Gateway
from tests.governance.conftest import complete, register


async def test_plan_then_apply(gov: Gateway) -> None:
    old = [await register(gov, "fraud", **complete()) for _ in range(3)]  # fraud 1..3, DRAFT
    live = await register(gov, "nlp", registry="research", **complete())
    await gov.adapters["research"].set_stage(live, Stage.PRODUCTION, PromotionContext("ops"))
    await gov.sync.refresh_model("research", "nlp")
    await register(gov, "nlp", registry="research", **complete())  # nlp 2 (DRAFT, newest)

    assert await gov.governance.retention_plan() == []  # nothing is 30 days old yet
    later = utcnow() + timedelta(days=31)
    plan = await gov.governance.retention_plan(later)
    # keep_last: 1 spares each model's newest version; production is out of scope.
    assert [(c.uri, c.rule, c.stage) for c in plan] == [
        (old[0].uri, "stale-candidates", "DRAFT"),
        (old[1].uri, "stale-candidates", "DRAFT"),
    ]
    assert plan[0].age_days == 31 and plan[0].rank == 3
    assert [(await gov.index.get_version(v.uri)).stage for v in old] == [Stage.DRAFT] * 3  # type: ignore[union-attr]

    outcomes = await gov.governance.retention_apply(later)
    assert [(o.uri, o.status) for o in outcomes] == [(old[0].uri, "APPLIED"), (old[1].uri, "APPLIED")]
    stages = [(await gov.index.get_version(v.uri)).stage for v in old]  # type: ignore[union-attr]
    assert stages == [Stage.ARCHIVED, Stage.ARCHIVED, Stage.DRAFT]
    applied = await audit.query_events(gov.database, audit.AuditFilter(action="promotion.applied"), 10, None)
    assert {(e.subject, e.principal, e.details["to"]) for e in applied.events} == {
        (old[0].uri, "retention:stale-candidates", "ARCHIVED"),
        (old[1].uri, "retention:stale-candidates", "ARCHIVED"),
    }
    assert await gov.governance.retention_plan(later) == []  # archived versions are done
