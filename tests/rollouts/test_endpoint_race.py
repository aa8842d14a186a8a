"""At most one active rollout per endpoint, held by the store (a partial unique
index), not by a check before the insert: concurrent ``startRollout`` calls for
different versions on one endpoint leave one rollout, the others get CONFLICT
and leave nothing behind. On SQLite and PostgreSQL, and across two replicas
over one PostgreSQL store. moto's SageMaker serves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import select

from gateway.errors import Conflict
from gateway.governance.promotions import PromotionStatus
from gateway.rollouts.records import ACTIVE
from gateway.runtime import Gateway
from gateway.store.tables import promotion_requests, rollouts
from tests.rollouts.support import (
    ALICE,
    REGION,
    DateClock,
    endpoint_with_candidates,
    open_gateway,
    rollout_settings,
)
from tests.support import gql, served_app

START = "mutation($i: RolloutInput!) { startRollout(input: $i) { id status } }"
CANDIDATES = 3


async def stored(gw: Gateway) -> tuple[list[Any], list[Any]]:
    """Every rollout row, and every promotion request still open."""
    async with gw.database.read() as conn:
        rows = (await conn.execute(select(rollouts))).all()
        open_requests = (
            await conn.execute(
                select(promotion_requests).where(promotion_requests.c.status == PromotionStatus.PENDING.value)
            )
        ).all()
    return list(rows), list(open_requests)


def assert_one_active(rows: list[Any], open_requests: list[Any]) -> None:
    active = [r for r in rows if r.status in ACTIVE]
    assert len(active) == 1, [(r.version_uri, r.status) for r in rows]
    # The refused starts left no rollout and no request waiting for approval.
    assert [r.id for r in rows] == [active[0].id]
    assert [r.id for r in open_requests] == [active[0].promotion_id]


async def test_concurrent_starts_on_one_endpoint_leave_one_rollout(
    database_url: str, tmp_path: Path, moto_sagemaker_url: str, aws_env: None
) -> None:
    sm: Any = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)
    endpoint, uris = endpoint_with_candidates(sm, CANDIDATES)
    gw = await open_gateway(rollout_settings(database_url, tmp_path, moto_sagemaker_url), DateClock())
    try:
        async with served_app(gw, {ALICE.name: ALICE}) as c:
            bodies = await asyncio.gather(
                *(gql(c, START, {"i": {"uri": u, "endpoint": endpoint, "steps": [50, 100]}}) for u in uris)
            )
        started = [b["data"]["startRollout"] for b in bodies if not b.get("errors")]
        refused = [e["extensions"]["code"] for b in bodies for e in b.get("errors") or ()]

        assert [s["status"] for s in started] == ["PENDING_APPROVAL"]
        assert refused == ["CONFLICT"] * (CANDIDATES - 1), bodies
        assert_one_active(*await stored(gw))
    finally:
        await gw.aclose()


@pytest.mark.postgres
async def test_two_replicas_starting_on_one_endpoint_leave_one_rollout(
    postgres_url: str, tmp_path: Path, moto_sagemaker_url: str, aws_env: None
) -> None:
    sm: Any = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)
    endpoint, uris = endpoint_with_candidates(sm, 2)
    settings = rollout_settings(postgres_url, tmp_path, moto_sagemaker_url)
    first, second = await open_gateway(settings, DateClock()), await open_gateway(settings, DateClock())
    try:
        outcomes = await asyncio.gather(
            first.rollouts.start(ALICE, uris[0], endpoint, steps=[50, 100]),
            second.rollouts.start(ALICE, uris[1], endpoint, steps=[50, 100]),
            return_exceptions=True,
        )

        conflicts = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(conflicts) == 1, outcomes
        assert endpoint in conflicts[0].message
        assert_one_active(*await stored(first))
    finally:
        await first.aclose()
        await second.aclose()
