"""Retention: which versions the policy file's retention rules would archive.

A version is a candidate of a rule when its stage, team and registry are in the
rule's scope (stages default to DRAFT and STAGING), it was created more than
``older_than_days`` ago, and it is not among the ``keep_last`` newest versions
of its model (by version number, whatever their stage). A version without a
creation time is never a candidate: its age is unknown.

``plan`` only reads. Applying archives each candidate through the promotion
path (a request to ARCHIVED by ``retention:<rule-id>``), so the policy check,
any approvals the file requires for ARCHIVED, the write-through to the source
registry and the audit events are exactly those of a person's request.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from gateway.auth.principal import ADMIN, Principal
from gateway.domain import Stage
from gateway.errors import GatewayError
from gateway.governance.policies import PolicySet
from gateway.governance.promotions import Promotions
from gateway.store.database import Database
from gateway.store.tables import catalogue_versions as cv


@dataclass(frozen=True)
class RetentionCandidate:
    uri: str
    rule: str
    stage: str
    team: str | None
    created_at: datetime
    age_days: int
    rank: int  # 1 = the model's newest version

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.uri,
            "rule": self.rule,
            "stage": self.stage,
            "team": self.team,
            "createdAt": self.created_at.isoformat(),
            "ageDays": self.age_days,
            "rank": self.rank,
        }


@dataclass(frozen=True)
class RetentionOutcome:
    uri: str
    rule: str
    status: str  # the promotion request's status, or ERROR
    detail: str | None = None


async def plan(database: Database, policies: PolicySet, now: datetime) -> list[RetentionCandidate]:
    """Every version some retention rule would archive (first matching rule wins)."""
    if not policies.retention:
        return []
    query = select(
        cv.c.uri,
        cv.c.model_uri,
        cv.c.version,
        cv.c.version_order,
        cv.c.stage,
        cv.c.team,
        cv.c.registry_id,
        cv.c.created_at,
    ).where(cv.c.stage != Stage.ARCHIVED.value)
    async with database.read() as conn:
        rows = (await conn.execute(query)).all()
    by_model: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_model[row.model_uri].append(row)
    candidates = []
    for versions in by_model.values():
        versions.sort(key=lambda r: (r.version_order, r.version), reverse=True)
        for rank, row in enumerate(versions, start=1):
            if row.created_at is None:
                continue
            age = now - row.created_at
            for rule in policies.retention:
                if (
                    rule.scope.matches(row.stage, row.team, row.registry_id)
                    and rank > rule.keep_last
                    and age > timedelta(days=rule.older_than_days)
                ):
                    candidates.append(
                        RetentionCandidate(
                            row.uri, rule.id, row.stage, row.team, row.created_at, age.days, rank
                        )
                    )
                    break
    return sorted(candidates, key=lambda c: c.uri)


async def apply(
    promotions: Promotions, candidates: list[RetentionCandidate], reason_prefix: str = "retention rule"
) -> list[RetentionOutcome]:
    """Request ARCHIVED for every candidate through the audited promotion path."""
    outcomes = []
    for c in candidates:
        principal = Principal(f"retention:{c.rule}", frozenset({ADMIN}))
        try:
            request = await promotions.request(
                principal, c.uri, Stage.ARCHIVED, f"{reason_prefix} {c.rule}: {c.age_days} days old"
            )
        except GatewayError as exc:
            outcomes.append(RetentionOutcome(c.uri, c.rule, "ERROR", exc.message))
            continue
        outcomes.append(RetentionOutcome(c.uri, c.rule, request.status.value, request.error))
    return outcomes
