"""A rollout and its steps as the store keeps them, and the checks on a new one."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.domain import TrafficShare
from gateway.errors import BadInput
from gateway.store.tables import ROLLOUT_ACTIVE_STATUSES

DEFAULT_STEPS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0)
DEFAULT_STEP_SECONDS = 3600
DEFAULT_MAX_ERROR_RATE = 0.01


class RolloutStatus(enum.StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    ROLLED_BACK = "ROLLED_BACK"
    ABORTED = "ABORTED"
    FAILED = "FAILED"


# In progress: the store allows one such rollout per endpoint (its unique index).
ACTIVE = ROLLOUT_ACTIVE_STATUSES


@dataclass(frozen=True)
class RolloutStep:
    position: int
    percent: float
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_rate: float | None = None
    passed: bool | None = None


@dataclass(frozen=True)
class Rollout:
    id: str
    version_uri: str
    registry_id: str
    endpoint_uri: str
    promotion_id: str | None
    status: RolloutStatus
    plan: tuple[float, ...]
    step_seconds: int
    max_error_rate: float
    step_index: int
    current_percent: float
    candidate_variant: str | None
    reason: str | None
    outcome: str | None
    requested_by: str
    steps: tuple[RolloutStep, ...]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_owner: str | None


def rollout_of(row: Any, steps: Sequence[Any]) -> Rollout:
    return Rollout(
        id=row.id,
        version_uri=row.version_uri,
        registry_id=row.registry_id,
        endpoint_uri=row.endpoint_uri,
        promotion_id=row.promotion_id,
        status=RolloutStatus(row.status),
        plan=tuple(float(p) for p in row.steps),
        step_seconds=row.step_seconds,
        max_error_rate=row.max_error_rate,
        step_index=row.step_index,
        current_percent=row.current_percent,
        candidate_variant=row.candidate_variant,
        reason=row.reason,
        outcome=row.outcome,
        requested_by=row.requested_by,
        steps=tuple(
            RolloutStep(s.position, s.percent, s.started_at, s.finished_at, s.error_rate, s.passed)
            for s in sorted(steps, key=lambda s: s.position)
        ),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        lease_owner=row.lease_owner,
    )


def check_plan(
    steps: Sequence[float] | None, step_seconds: int | None, max_error_rate: float | None
) -> tuple[tuple[float, ...], int, float]:
    """The plan with defaults filled in; a bad value is a BadInput naming its field."""
    plan = tuple(float(p) for p in steps) if steps is not None else DEFAULT_STEPS
    if not plan:
        raise BadInput("steps must not be empty", field="steps")
    if any(not 0 < p <= 100 for p in plan):
        raise BadInput("every step is a traffic percentage above 0 and at most 100", field="steps")
    if any(b <= a for a, b in itertools.pairwise(plan)):
        raise BadInput("steps must increase", field="steps")
    if plan[-1] != 100:
        raise BadInput("the last step must be 100 (the rollout ends with all traffic)", field="steps")
    seconds = DEFAULT_STEP_SECONDS if step_seconds is None else step_seconds
    if seconds <= 0:
        raise BadInput("stepSeconds must be greater than 0", field="stepSeconds")
    rate = DEFAULT_MAX_ERROR_RATE if max_error_rate is None else max_error_rate
    if not 0 <= rate <= 1:
        raise BadInput("maxErrorRate is a fraction between 0 and 1", field="maxErrorRate")
    return plan, seconds, rate


def split(previous: Sequence[TrafficShare], candidate: str, percent: float) -> list[TrafficShare]:
    """The candidate variant at ``percent``; the rest shared among the other
    variants in the proportions they had before the rollout (evenly if none had any)."""
    others = [s for s in previous if s.variant != candidate]
    rest = 100.0 - percent
    total = sum(s.percent for s in others)
    shares = [TrafficShare(percent, None, candidate)]
    for s in others:
        share = rest * (s.percent / total) if total > 0 else rest / len(others)
        shares.append(TrafficShare(round(share, 6), s.version_uri, s.variant))
    return shares


def traffic_json(shares: Sequence[TrafficShare]) -> list[dict[str, Any]]:
    return [{"variant": s.variant, "percent": s.percent, "version": s.version_uri} for s in shares]


def traffic_of(raw: Any) -> list[TrafficShare]:
    return [TrafficShare(float(s["percent"]), s.get("version"), s.get("variant")) for s in raw or ()]
