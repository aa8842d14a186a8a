"""Reviews of versions and the periodic-review clock.

A review (``addReview``) is a comment with an outcome, stored in
``version_reviews`` and audited as ``review.added`` in the same transaction.
A PRODUCTION version of a tier with ``review_every_days`` is due for review
that many days after its last APPROVED review, or, before any, after it entered
PRODUCTION (the audit log's last ``promotion.applied``/``stage.synced`` to
PRODUCTION, else the version's creation time). Past the due date it is overdue:
a warning, and an error once the tier's ``grace_days`` have passed too.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import ModelVersion, Review, Stage, utcnow
from gateway.errors import BadInput
from gateway.governance import audit
from gateway.governance.tiers import Tier
from gateway.store.database import ReadConnection
from gateway.store.sql import any_of
from gateway.store.tables import audit_events as ae
from gateway.store.tables import version_reviews as vr

REVIEW_OVERDUE = "modelgate.review-overdue"
MAX_COMMENT = 10_000


class ReviewOutcome(enum.StrEnum):
    APPROVED = "APPROVED"  # the version was revalidated: resets the review clock
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    REJECTED = "REJECTED"


def check_review(comment: str, outcome: str) -> ReviewOutcome:
    if not comment or not comment.strip():
        raise BadInput("a review needs a comment", field="comment")
    if len(comment) > MAX_COMMENT:
        raise BadInput(f"a review comment is at most {MAX_COMMENT} characters", field="comment")
    try:
        return ReviewOutcome(outcome)
    except ValueError:
        raise BadInput(
            f"unknown outcome {outcome!r} (one of {', '.join(ReviewOutcome.__members__)})", field="outcome"
        ) from None


async def add(
    conn: AsyncConnection, version: ModelVersion, principal: str, comment: str, outcome: ReviewOutcome
) -> Review:
    at = utcnow()
    await conn.execute(
        vr.insert().values(
            version_uri=version.uri,
            model_uri=version.model_uri,
            principal=principal,
            comment=comment,
            outcome=outcome.value,
            at=at,
        )
    )
    await audit.append(
        conn,
        "review.added",
        principal,
        version.uri,
        {"comment": comment, "outcome": outcome.value, "stage": version.stage.value},
    )
    return Review(principal, comment, at, outcome.value)


async def reviews_of(
    conn: ReadConnection, version_uris: Sequence[str], until: datetime | None = None
) -> dict[str, list[Review]]:
    """Each version's recorded reviews, oldest first (up to ``until`` when given)."""
    found: dict[str, list[Review]] = {uri: [] for uri in version_uris}
    uris = list(version_uris)
    for i in range(0, len(uris), 500):
        query = select(vr).where(any_of(conn.dialect.name, vr.c.version_uri, uris[i : i + 500]))
        if until is not None:
            query = query.where(vr.c.at <= until)
        for r in await conn.execute(query.order_by(vr.c.at, vr.c.id)):
            found[r.version_uri].append(Review(r.principal, r.comment, r.at, r.outcome))
    return found


async def production_since(
    conn: ReadConnection, version_uris: Sequence[str], until: datetime | None = None
) -> dict[str, datetime]:
    """When each version last entered PRODUCTION, by the audit log (absent: no record)."""
    found: dict[str, datetime] = {}
    uris = list(version_uris)
    for i in range(0, len(uris), 500):
        query = (
            select(ae.c.subject, ae.c.at, ae.c.details)
            .where(
                any_of(conn.dialect.name, ae.c.subject, uris[i : i + 500]),
                ae.c.action.in_(audit.STAGE_ACTIONS),
            )
            .order_by(ae.c.seq)
        )
        if until is not None:
            query = query.where(ae.c.at <= until)
        for row in await conn.execute(query):
            if (row.details or {}).get("to") == Stage.PRODUCTION.value:
                found[row.subject] = row.at
    return found


async def count(conn: ReadConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(vr))).scalar_one())


@dataclass(frozen=True)
class ReviewState:
    """A version's periodic-review position: when the next review is due (None: none
    required) and, past it, the severity (``warning``, ``error`` after the grace)."""

    due: datetime | None = None
    severity: str | None = None

    @property
    def overdue(self) -> bool:
        return self.severity is not None

    def message(self, uri: str) -> str | None:
        if self.due is None or self.severity is None:
            return None
        grace = " and its grace period" if self.severity == "error" else ""
        return f"{uri} was due for review on {self.due.date().isoformat()}{grace}: record an APPROVED review"


def review_state(
    tier: Tier | None,
    stage: Stage,
    entered_production: datetime | None,
    reviews: Sequence[Review],
    now: datetime,
) -> ReviewState:
    """Where a version stands on the review clock at ``now`` (see the module docstring)."""
    if tier is None or tier.review_every_days is None or stage is not Stage.PRODUCTION:
        return ReviewState()
    approved = [r.at for r in reviews if r.outcome == ReviewOutcome.APPROVED.value and r.at <= now]
    start = max(approved) if approved else entered_production
    if start is None:
        return ReviewState()
    due = start + timedelta(days=tier.review_every_days)
    if now <= due:
        return ReviewState(due)
    severity = "error" if now > due + timedelta(days=tier.grace_days) else "warning"
    return ReviewState(due, severity)
