"""Canary rollouts on SageMaker, against **moto** in server mode: endpoints,
endpoint configs, variant weights (UpdateEndpointWeightsAndCapacities) and
CloudWatch metrics (PutMetricData / GetMetricStatistics) are all moto's own.

The engine's clock is moved by hand (``DateClock``), so a step's watch time
passes when the test says so; metrics are seeded inside each step's window the
way SageMaker publishes them (per endpoint and variant).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import select

from gateway.domain import Stage
from gateway.errors import BadInput, NotFound
from gateway.rollouts import alerts
from gateway.rollouts.records import RolloutStatus
from gateway.runtime import Gateway
from gateway.store.tables import audit_events
from tests.rollouts.support import (
    ALICE,
    BOB,
    REGION,
    Canary,
    DateClock,
    WebhookReceiver,
    create_canary,
    invocations,
    open_gateway,
    payload,
    rollout_settings,
    webhook_receiver,
    weights,
)

SECRET = "rollout-alert-secret-0123"


@pytest.fixture
def sm(moto_sagemaker_url: str, aws_env: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
def cw(moto_sagemaker_url: str, aws_env: None) -> Any:
    return boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    yield from webhook_receiver()


@pytest.fixture
def clock() -> DateClock:
    return DateClock()


@pytest.fixture
def canary(sm: Any) -> Canary:
    return create_canary(sm)


@pytest.fixture
async def gw(
    database_url: str,
    tmp_path: Path,
    moto_sagemaker_url: str,
    canary: Canary,
    clock: DateClock,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Gateway]:
    monkeypatch.setenv("ROLLOUT_ALERT_SECRET", SECRET)
    settings = rollout_settings(
        database_url,
        tmp_path,
        moto_sagemaker_url,
        webhook_url=receiver.url,
        webhook_secret_env="ROLLOUT_ALERT_SECRET",
    )
    gateway = await open_gateway(settings, clock)
    try:
        yield gateway
    finally:
        await gateway.aclose()


async def actions(gw: Gateway, rollout_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with gw.database.read() as conn:
        rows = await conn.execute(select(audit_events).order_by(audit_events.c.seq))
        return [
            (r.action, dict(r.details))
            for r in rows
            if r.action.startswith("rollout.") and r.details.get("rolloutId") == rollout_id
        ]


async def test_a_healthy_candidate_is_rolled_out_step_by_step_and_written_to_production(
    gw: Gateway, sm: Any, cw: Any, canary: Canary, clock: DateClock, receiver: WebhookReceiver
) -> None:
    engine = gw.rollouts
    rollout = await engine.start(
        ALICE, canary.candidate_uri, canary.endpoint, steps=[10, 50, 100], step_seconds=300, reason="v2"
    )
    assert rollout.status is RolloutStatus.PENDING_APPROVAL
    await engine.tick()
    assert weights(sm, canary.endpoint) == {"current": 1.0, "candidate": 0.0}  # nothing before approval

    await gw.governance.promotions.approve(BOB, rollout.promotion_id or "")
    assert (await gw.governance.promotions.get(rollout.promotion_id or "")).status.value == "PENDING"  # held
    seen = []
    for percent in (10.0, 50.0, 100.0):
        await engine.tick()
        assert weights(sm, canary.endpoint) == {"current": 100.0 - percent, "candidate": percent}
        seen.append((await engine.get(rollout.id)).current_percent)
        invocations(cw, canary.endpoint, "candidate", clock.now, calls=1000, errors=3)  # 0.3 %
        clock.advance(301)
    await engine.tick()

    done = await engine.get(rollout.id)
    assert seen == [10.0, 50.0, 100.0]
    assert done.status is RolloutStatus.SUCCEEDED, done.outcome
    assert [(s.percent, s.passed) for s in done.steps] == [(10.0, True), (50.0, True), (100.0, True)]
    assert [s.error_rate for s in done.steps] == [pytest.approx(0.003)] * 3
    package = sm.describe_model_package(ModelPackageName=canary.candidate_package)
    assert package["ModelApprovalStatus"] == "Approved"  # PRODUCTION written through
    assert (await gw.index.get_version(canary.candidate_uri)).stage.value == "PRODUCTION"  # type: ignore[union-attr]
    changes = [(c.from_stage, c.to_stage, c.source) for c in await gw.history.changes(canary.candidate_uri)]
    assert changes[-1][1:] == (Stage.PRODUCTION, "rollout")  # the stage history names the rollout
    events = await actions(gw, rollout.id)
    assert [a for a, _ in events] == [
        "rollout.requested",
        "rollout.started",
        *["rollout.step"] * 6,  # shifted and judged, per step
        "rollout.succeeded",
    ]
    assert [d["passed"] for a, d in events if d.get("phase") == "judged"] == [True, True, True]
    assert receiver.deliveries == []  # alerts are for rollbacks
    assert (await gw.governance.verify_audit(None)).ok


async def test_a_candidate_over_the_error_threshold_is_rolled_back_with_its_weights_restored(
    gw: Gateway, sm: Any, cw: Any, canary: Canary, clock: DateClock, receiver: WebhookReceiver
) -> None:
    engine = gw.rollouts
    rollout = await engine.start(
        ALICE,
        canary.candidate_uri,
        canary.endpoint,
        steps=[10, 50, 100],
        step_seconds=60,
        max_error_rate=0.02,
    )
    await gw.governance.promotions.approve(BOB, rollout.promotion_id or "")
    await engine.tick()
    invocations(cw, canary.endpoint, "candidate", clock.now, calls=100, errors=1)  # 1 %: passes
    clock.advance(61)
    await engine.tick()
    assert weights(sm, canary.endpoint) == {"current": 50.0, "candidate": 50.0}
    invocations(cw, canary.endpoint, "candidate", clock.now, calls=1000, errors=80)  # 8 %
    invocations(cw, canary.endpoint, "current", clock.now, calls=1000, errors=0)
    clock.advance(61)
    await engine.tick()

    done = await engine.get(rollout.id)
    assert done.status is RolloutStatus.ROLLED_BACK
    assert done.outcome is not None and "0.0800 above 0.0200" in done.outcome
    assert weights(sm, canary.endpoint) == {"current": 100.0, "candidate": 0.0}
    assert done.current_percent == 0.0
    assert [(s.percent, s.passed) for s in done.steps] == [(10.0, True), (50.0, False)]
    promotion = await gw.governance.promotions.get(rollout.promotion_id or "")
    assert promotion.status.value == "REJECTED"  # withdrawn: never written through
    package = sm.describe_model_package(ModelPackageName=canary.candidate_package)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"

    assert len(receiver.deliveries) == 1
    delivery = receiver.deliveries[0]
    assert alerts.verify(SECRET, delivery.headers, delivery.body)
    assert not alerts.verify("another-secret-0123456", delivery.headers, delivery.body)
    assert payload(delivery)["type"] == "rollout.rolled_back"
    assert payload(delivery)["data"]["rolloutId"] == rollout.id
    names = [a for a, _ in await actions(gw, rollout.id)]
    assert names[-2:] == ["rollout.rolled_back", "rollout.alerted"]


async def test_abort_returns_the_traffic_at_once(gw: Gateway, sm: Any, canary: Canary) -> None:
    engine = gw.rollouts
    rollout = await engine.start(
        ALICE, canary.candidate_uri, canary.endpoint, steps=[25, 100], step_seconds=60
    )
    await gw.governance.promotions.approve(BOB, rollout.promotion_id or "")
    await engine.tick()
    assert weights(sm, canary.endpoint) == {"current": 75.0, "candidate": 25.0}

    aborted = await engine.abort(ALICE, rollout.id, "pager went off")

    assert aborted.status is RolloutStatus.ABORTED
    assert aborted.outcome == "aborted by alice: pager went off"
    assert weights(sm, canary.endpoint) == {"current": 100.0, "candidate": 0.0}
    assert (await engine.tick()) == []


async def test_a_rollout_needs_a_catalogue_version_and_a_sane_plan(
    gw: Gateway, sm: Any, canary: Canary
) -> None:
    with pytest.raises(NotFound) as missing:  # a version the catalogue does not have
        await gw.rollouts.start(ALICE, canary.current_uri.replace("/1", "/9"), canary.endpoint)
    assert missing.value.extensions["field"] == "uri"
    for steps, field in (([50, 10, 100], "steps"), ([10, 50], "steps"), ([0, 100], "steps")):
        with pytest.raises(BadInput) as bad:
            await gw.rollouts.start(ALICE, canary.candidate_uri, canary.endpoint, steps=steps)
        assert bad.value.extensions["field"] == field
    with pytest.raises(BadInput) as rate:
        await gw.rollouts.start(ALICE, canary.candidate_uri, canary.endpoint, max_error_rate=2.0)
    assert rate.value.extensions["field"] == "maxErrorRate"
    assert await gw.rollouts.find() == []
