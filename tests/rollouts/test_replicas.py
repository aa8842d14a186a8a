"""Several gateways over one PostgreSQL store: exactly one drives a rollout at a
time (its lease), and another takes over once the driver's lease has expired
(the driver died). Two real runtimes (``Gateway.open`` twice), moto's SageMaker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import select

from gateway.rollouts.records import RolloutStatus
from gateway.store.tables import audit_events
from tests.rollouts.support import (
    ALICE,
    BOB,
    REGION,
    DateClock,
    create_canary,
    open_gateway,
    rollout_settings,
    weights,
)

pytestmark = pytest.mark.postgres


async def test_one_replica_drives_and_another_takes_over_an_expired_lease(
    postgres_url: str, tmp_path: Path, moto_sagemaker_url: str, aws_env: None
) -> None:
    sm: Any = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)
    canary = create_canary(sm)
    clock = DateClock()
    settings = rollout_settings(postgres_url, tmp_path, moto_sagemaker_url, lease_seconds=30)
    first, second = await open_gateway(settings, clock), await open_gateway(settings, clock)
    try:
        assert first.rollouts.owner != second.rollouts.owner
        rollout = await first.rollouts.start(
            ALICE, canary.candidate_uri, canary.endpoint, steps=[20, 60, 100], step_seconds=60
        )
        await first.governance.promotions.approve(BOB, rollout.promotion_id or "")

        driven = await asyncio.gather(first.rollouts.tick(), second.rollouts.tick())

        assert sorted(len(d) for d in driven) == [0, 1]  # one of them, never both
        driver, other = (first, second) if driven[0] else (second, first)
        assert (await driver.rollouts.get(rollout.id)).lease_owner == driver.rollouts.owner
        assert weights(sm, canary.endpoint) == {"current": 80.0, "candidate": 20.0}
        clock.advance(20)
        assert await other.rollouts.tick() == []  # the lease still holds
        assert await driver.rollouts.tick() == [rollout.id]  # renewed

        clock.advance(61)  # the driver is gone (it stops ticking); its lease runs out
        assert await other.rollouts.tick() == [rollout.id]
        assert (await other.rollouts.get(rollout.id)).lease_owner == other.rollouts.owner
        assert weights(sm, canary.endpoint) == {"current": 40.0, "candidate": 60.0}
        assert await driver.rollouts.tick() == []  # the old driver, back, stays out
        for _ in range(2):  # judge 60 %, shift to 100 %; judge 100 %
            clock.advance(61)
            await other.rollouts.tick()

        done = await first.rollouts.get(rollout.id)
        assert done.status is RolloutStatus.SUCCEEDED, done.outcome
        async with first.database.read() as conn:
            shifted = [
                r.details["percent"]
                for r in await conn.execute(select(audit_events).order_by(audit_events.c.seq))
                if r.action == "rollout.step" and r.details.get("phase") == "shifted"
            ]
        assert shifted == [20.0, 60.0, 100.0]  # each shift sent once, by whoever held the lease
    finally:
        await first.aclose()
        await second.aclose()
