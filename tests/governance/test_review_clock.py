"""``gateway.governance.reviews``: the periodic-review clock at a given moment
(due, warning, error after the grace) and the checks on a review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain import Review, Stage
from gateway.errors import BadInput
from gateway.governance.reviews import MAX_COMMENT, ReviewOutcome, ReviewState, check_review, review_state
from gateway.governance.tiers import Tier

ENTERED = datetime(2026, 1, 1, tzinfo=UTC)
HIGH = Tier("high", review_every_days=90, grace_days=14)
DUE = ENTERED + timedelta(days=90)


def at(days: float) -> datetime:
    return ENTERED + timedelta(days=days)


def review(days: float, outcome: ReviewOutcome = ReviewOutcome.APPROVED) -> Review:
    return Review("carol", "revalidated", at(days), outcome.value)


def test_a_production_version_is_due_then_warned_then_in_error() -> None:
    assert review_state(HIGH, Stage.PRODUCTION, ENTERED, [], at(90)) == ReviewState(DUE)  # due, not late
    late = review_state(HIGH, Stage.PRODUCTION, ENTERED, [], at(91))
    assert (late.due, late.severity, late.overdue) == (DUE, "warning", True)
    assert review_state(HIGH, Stage.PRODUCTION, ENTERED, [], at(104)).severity == "warning"  # in the grace
    assert review_state(HIGH, Stage.PRODUCTION, ENTERED, [], at(105)).severity == "error"


def test_an_approved_review_restarts_the_clock_and_others_do_not() -> None:
    reviews = [review(80), review(100, ReviewOutcome.CHANGES_REQUESTED), review(85, ReviewOutcome.REJECTED)]
    state = review_state(HIGH, Stage.PRODUCTION, ENTERED, reviews, at(120))
    assert state == ReviewState(at(170))  # 80 + 90: the last APPROVED one counts
    # A review after ``now`` (an as-of reading of the past) does not count yet.
    assert review_state(HIGH, Stage.PRODUCTION, ENTERED, [review(95)], at(92)).severity == "warning"
    assert review_state(HIGH, Stage.PRODUCTION, ENTERED, [review(10), review(50)], at(139)) == ReviewState(
        at(140)
    )


@pytest.mark.parametrize(
    ("tier", "stage", "entered"),
    [
        (None, Stage.PRODUCTION, ENTERED),  # no tier
        (Tier("low"), Stage.PRODUCTION, ENTERED),  # a tier without periodic review
        (HIGH, Stage.STAGING, ENTERED),  # only production is reviewed
        (HIGH, Stage.PRODUCTION, None),  # no known start and no review
    ],
)
def test_no_clock_runs_without_a_reviewed_tier_in_production(
    tier: Tier | None, stage: Stage, entered: datetime | None
) -> None:
    assert review_state(tier, stage, entered, [], at(1000)) == ReviewState()


def test_the_overdue_message_names_the_date_and_the_grace() -> None:
    warning = review_state(HIGH, Stage.PRODUCTION, ENTERED, [], at(91))
    error = review_state(HIGH, Stage.PRODUCTION, ENTERED, [], at(200))
    assert warning.message("mg://r/m/1") == (
        "mg://r/m/1 was due for review on 2026-04-01: record an APPROVED review"
    )
    assert error.message("mg://r/m/1") == (
        "mg://r/m/1 was due for review on 2026-04-01 and its grace period: record an APPROVED review"
    )
    assert ReviewState(DUE).message("mg://r/m/1") is None


def test_a_review_needs_a_comment_and_a_known_outcome() -> None:
    assert check_review("looks fine", "APPROVED") is ReviewOutcome.APPROVED
    for comment in ("", "   ", "x" * (MAX_COMMENT + 1)):
        with pytest.raises(BadInput) as caught:
            check_review(comment, "APPROVED")
        assert caught.value.extensions["field"] == "comment"
    check_review("x" * MAX_COMMENT, "REJECTED")
    with pytest.raises(BadInput) as outcome:
        check_review("ok", "MAYBE")
    assert outcome.value.extensions["field"] == "outcome" and "CHANGES_REQUESTED" in outcome.value.message
