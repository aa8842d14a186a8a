"""``gateway.governance.write_through``: a claimed request's stage written to its
registry and the outcome recorded (APPLIED, FAILED, BLOCKED), on the demo
catalogue's native registry. Requests are opened held (``hold=True``), so nothing
writes them through until the test calls ``WriteThrough.apply`` itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from adapters.protocol import RegistryAdapter
from gateway.auth.principal import Principal
from gateway.domain import ModelVersion, Stage
from gateway.errors import RegistryUnavailable
from gateway.governance.audit import AuditFilter, iter_events
from gateway.governance.evaluation import Evaluation, Violation
from gateway.governance.promotion_requests import (
    BeforeWrite,
    Judge,
    PromotionParts,
    PromotionRequest,
    PromotionStatus,
)
from gateway.governance.write_through import WriteThrough
from gateway.runtime import Gateway

URI = "mg://platform/fraud-detector/6"  # STAGING in the demo
OWNER = Principal("pat", teams=frozenset({"platform"}))


def write_through(
    gateway: Gateway,
    *,
    adapters: Mapping[str, RegistryAdapter] | None = None,
    judge: Judge | None = None,
    before_write: list[BeforeWrite] | None = None,
) -> WriteThrough:
    promotions = gateway.governance.promotions
    parts = PromotionParts(
        gateway.database,
        gateway.index,
        gateway.adapters if adapters is None else adapters,
        gateway.sync,
        judge or promotions.judge,
    )
    return WriteThrough(parts, before_write or [])


async def held(gateway: Gateway, target: Stage = Stage.PRODUCTION) -> PromotionRequest:
    request = await gateway.governance.promotions.request(OWNER, URI, target, "release", hold=True)
    assert request.status is PromotionStatus.PENDING and not request.applying
    return request


async def outcome(gateway: Gateway, request: PromotionRequest) -> PromotionRequest:
    return await gateway.governance.promotions.get(request.id)


async def test_an_applied_request_writes_the_stage_and_records_history_and_events(
    demo_gateway: Gateway,
) -> None:
    request = await held(demo_gateway)
    await write_through(demo_gateway).apply(request)
    done = await outcome(demo_gateway, request)
    assert (done.status, done.attempts, done.error, done.applying) == (
        PromotionStatus.APPLIED,
        1,
        None,
        False,
    )
    version = await demo_gateway.index.get_version(URI)
    assert version is not None and version.stage is Stage.PRODUCTION  # refreshed into the index
    previous = await demo_gateway.index.get_version("mg://platform/fraud-detector/5")
    assert previous is not None and previous.stage is not Stage.PRODUCTION  # one PRODUCTION version
    events = [
        e async for e in iter_events(demo_gateway.database, AuditFilter(subject=URI, action="promotion.*"))
    ]
    (applied,) = [e for e in events if e.action == "promotion.applied"]
    assert (applied.details["requestId"], applied.details["to"], applied.details["attempt"]) == (
        request.id,
        "PRODUCTION",
        1,
    )


async def test_a_version_no_longer_in_the_catalogue_fails_the_request(demo_gateway: Gateway) -> None:
    request = await held(demo_gateway)
    gone = dataclasses.replace(request, version_uri="mg://platform/fraud-detector/999")
    await write_through(demo_gateway).apply(gone)
    failed = await outcome(demo_gateway, request)
    assert failed.status is PromotionStatus.FAILED and "no longer in the catalogue" in (failed.error or "")


async def test_a_registry_configured_away_fails_the_request(demo_gateway: Gateway) -> None:
    request = await held(demo_gateway)
    await write_through(demo_gateway, adapters={}).apply(request)
    failed = await outcome(demo_gateway, request)
    assert failed.status is PromotionStatus.FAILED and "'platform' is no longer configured" in (
        failed.error or ""
    )


async def test_a_version_that_now_violates_a_policy_is_blocked(demo_gateway: Gateway) -> None:
    request = await held(demo_gateway)

    async def strict(version: ModelVersion, stage: Stage | None) -> Evaluation:
        return Evaluation((Violation("model-card", "error", "a model card is required"),))

    await write_through(demo_gateway, judge=strict).apply(request)
    blocked = await outcome(demo_gateway, request)
    assert blocked.status is PromotionStatus.BLOCKED
    assert [v.policy for v in blocked.violations] == ["model-card"]
    version = await demo_gateway.index.get_version(URI)
    assert version is not None and version.stage is Stage.STAGING  # nothing was written


async def test_a_failing_hook_or_adapter_fails_the_request_with_its_message(demo_gateway: Gateway) -> None:
    first = await held(demo_gateway)

    async def restore(request: PromotionRequest) -> None:
        raise RegistryUnavailable("sm", "the endpoint did not answer")

    await write_through(demo_gateway, before_write=[restore]).apply(first)
    assert "the endpoint did not answer" in ((await outcome(demo_gateway, first)).error or "")

    class Broken:  # an adapter with a bug: the request must not stay claimed
        def __getattr__(self, name: str) -> Any:
            return getattr(demo_gateway.adapters["platform"], name)

        async def set_stage(self, *args: Any) -> ModelVersion:
            raise KeyError("oops")

    second = await held(demo_gateway, Stage.ARCHIVED)
    await write_through(demo_gateway, adapters={"platform": Broken()}).apply(second)  # type: ignore[dict-item]
    failed = await outcome(demo_gateway, second)
    assert (failed.status, failed.error, failed.applying) == (
        PromotionStatus.FAILED,
        "internal error: KeyError",
        False,
    )
