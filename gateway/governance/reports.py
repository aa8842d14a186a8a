"""Compliance reports: by team, registry and policy, with the list of violations.

A current report reads the stored evaluation (``catalogue_versions.compliant``
and ``governance_violations``), which the compliance listener keeps current, so
it costs a few aggregate queries however many policies there are. A report "as
of" a past time is rebuilt from the audit log alone: the last
``compliance.changed``/``version.removed`` event of each version up to that
time, and the policy set of the last ``policy.changed`` event before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, true

from gateway.catalogue.index import SearchFilter

# The catalogue's own filter semantics, so a report filters exactly as search does.
from gateway.catalogue.search import _version_conditions as version_conditions
from gateway.cursors import decode_cursor
from gateway.domain import utcnow
from gateway.errors import BadInput
from gateway.governance.compliance import SNAPSHOT_ACTIONS
from gateway.governance.csvfile import csv_line
from gateway.governance.policies import PolicySet, Scope
from gateway.store.database import Database
from gateway.store.tables import audit_events as ae
from gateway.store.tables import catalogue_versions as cv
from gateway.store.tables import governance_violations as gv
from gateway.tokens import encode_token

NO_TEAM = "(none)"


@dataclass(frozen=True)
class ComplianceGroup:
    key: str
    versions: int
    compliant: int


@dataclass(frozen=True)
class ReportViolation:
    version_uri: str
    registry: str
    team: str | None
    model: str
    version: str
    stage: str
    policy: str
    severity: str
    message: str


@dataclass(frozen=True)
class ViolationPage:
    items: list[ReportViolation]
    cursors: list[str]
    total: int
    has_next: bool


ViolationSource = Callable[[int, str | None], Awaitable[ViolationPage]]


@dataclass
class ComplianceReport:
    generated_at: datetime
    as_of: datetime | None
    total_versions: int
    compliant_versions: int
    by_team: list[ComplianceGroup]
    by_registry: list[ComplianceGroup]
    by_policy: list[ComplianceGroup]
    violations: ViolationSource = field(repr=False)

    async def all_violations(self, batch: int = 1000) -> AsyncIterator[ReportViolation]:
        after: str | None = None
        while True:
            page = await self.violations(batch, after)
            for item in page.items:
                yield item
            if not page.has_next or not page.cursors:
                return
            after = page.cursors[-1]

    def summary(self) -> dict[str, Any]:
        def groups(items: list[ComplianceGroup]) -> list[dict[str, Any]]:
            return [{"key": g.key, "versions": g.versions, "compliant": g.compliant} for g in items]

        return {
            "generatedAt": self.generated_at.isoformat(),
            "asOf": self.as_of.isoformat() if self.as_of else None,
            "totalVersions": self.total_versions,
            "compliantVersions": self.compliant_versions,
            "byTeam": groups(self.by_team),
            "byRegistry": groups(self.by_registry),
            "byPolicy": groups(self.by_policy),
        }


class _Tally:
    """Counts (versions, compliant) per key."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}

    def add(self, key: str, versions: int, compliant: int) -> None:
        slot = self.counts.setdefault(key, [0, 0])
        slot[0] += versions
        slot[1] += compliant

    def groups(self) -> list[ComplianceGroup]:
        return [ComplianceGroup(k, v, c) for k, (v, c) in sorted(self.counts.items())]


def _policy_groups(
    policies: Iterable[tuple[str, Scope]],
    cells: Sequence[tuple[str, str | None, str, int]],
    violated: dict[str, int],
) -> list[ComplianceGroup]:
    """Per policy: the versions in its scope, and how many of them satisfy it.
    ``cells`` are (registry, team, stage, versions) counts."""
    result = []
    for policy_id, scope in policies:
        in_scope = sum(n for registry, team, stage, n in cells if scope.matches(stage, team, registry))
        result.append(ComplianceGroup(policy_id, in_scope, in_scope - violated.get(policy_id, 0)))
    return result


def _cursor(v: ReportViolation) -> str:
    return encode_token({"uri": v.version_uri, "policy": v.policy})


def _decode(after: str) -> tuple[str, str]:
    state = decode_cursor(after, {"uri": str, "policy": str})
    return state["uri"], state["policy"]


async def current_report(database: Database, policies: PolicySet, f: SearchFilter) -> ComplianceReport:
    """The report of the index as it stands, restricted by ``f``."""
    where = and_(true(), *version_conditions(f))
    compliant_flag = case((cv.c.compliant.is_(False), 0), else_=1)  # NULL (not evaluated) counts as compliant
    cell_query = (
        select(cv.c.registry_id, cv.c.team, cv.c.stage, func.count(), func.sum(compliant_flag))
        .where(where)
        .group_by(cv.c.registry_id, cv.c.team, cv.c.stage)
    )
    violated_query = (
        select(gv.c.policy_id, func.count(func.distinct(gv.c.version_uri)))
        .select_from(gv.join(cv, cv.c.uri == gv.c.version_uri))
        .where(where)
        .group_by(gv.c.policy_id)
    )
    async with database.read() as conn:
        cells = [
            (r[0], r[1], r[2], int(r[3]), int(r[4] or 0)) for r in map(tuple, await conn.execute(cell_query))
        ]
        violated = {r[0]: int(r[1]) for r in map(tuple, await conn.execute(violated_query))}
    teams, registries = _Tally(), _Tally()
    for registry, team, _stage, n, ok in cells:
        teams.add(team or NO_TEAM, n, ok)
        registries.add(registry, n, ok)

    async def violations(first: int, after: str | None) -> ViolationPage:
        query = (
            select(
                gv.c.version_uri,
                gv.c.policy_id,
                gv.c.severity,
                gv.c.message,
                cv.c.registry_id,
                cv.c.team,
                cv.c.model_name,
                cv.c.version,
                cv.c.stage,
            )
            .select_from(gv.join(cv, cv.c.uri == gv.c.version_uri))
            .where(where)
        )
        if after:
            uri, policy = _decode(after)
            query = query.where(
                or_(gv.c.version_uri > uri, and_(gv.c.version_uri == uri, gv.c.policy_id > policy))
            )
        query = query.order_by(gv.c.version_uri, gv.c.policy_id).limit(first + 1)
        async with database.read() as conn:
            rows = (await conn.execute(query)).all()
        items = [
            ReportViolation(r[0], r[4], r[5], r[6], r[7], r[8], r[1], r[2], r[3])
            for r in map(tuple, rows[:first])
        ]
        # One row per (version, policy): the per-policy counts add up to the total.
        return ViolationPage(items, [_cursor(v) for v in items], sum(violated.values()), len(rows) > first)

    return ComplianceReport(
        generated_at=utcnow(),
        as_of=None,
        total_versions=sum(c[3] for c in cells),
        compliant_versions=sum(c[4] for c in cells),
        by_team=teams.groups(),
        by_registry=registries.groups(),
        by_policy=_policy_groups(
            ((p.id, p.scope) for p in policies.policies), [c[:4] for c in cells], violated
        ),
        violations=violations,
    )


def _scope(raw: dict[str, Any]) -> Scope:
    return Scope(
        frozenset(raw.get("stages", ())),
        frozenset(raw.get("teams", ())),
        frozenset(raw.get("registries", ())),
    )


async def report_as_of(database: Database, f: SearchFilter, at: datetime) -> ComplianceReport:
    """The report as it stood at ``at``, rebuilt from the audit log."""
    if f.tags or f.frameworks:
        raise BadInput("tag and framework filters are not available as of a past time", field="filter")
    if at.tzinfo is None:
        raise BadInput("asOf needs a time zone (e.g. 2026-01-31T00:00:00Z)", field="asOf")
    last = (
        select(func.max(ae.c.seq))
        .where(ae.c.action.in_(SNAPSHOT_ACTIONS), ae.c.at <= at, ae.c.subject.is_not(None))
        .group_by(ae.c.subject)
    )
    policy_query = (
        select(ae.c.details)
        .where(ae.c.action == "policy.changed", ae.c.at <= at)
        .order_by(ae.c.seq.desc())
        .limit(1)
    )
    async with database.read() as conn:
        rows = (
            await conn.execute(
                select(ae.c.subject, ae.c.details).where(
                    ae.c.seq.in_(last), ae.c.action == "compliance.changed"
                )
            )
        ).all()
        policy_details = (await conn.execute(policy_query)).scalar()
    stages = {s.value for s in f.stages}
    states = []
    for subject, d in map(tuple, rows):
        if f.registries and d.get("registry") not in f.registries:
            continue
        if f.teams and d.get("team") not in f.teams:
            continue
        if stages and d.get("stage") not in stages:
            continue
        if f.compliant is not None and bool(d.get("compliant")) is not f.compliant:
            continue
        states.append((subject, d))
    teams, registries = _Tally(), _Tally()
    cells: dict[tuple[str, str | None, str], int] = {}
    violated: dict[str, int] = {}
    found: list[ReportViolation] = []
    for subject, d in sorted(states, key=lambda s: s[0]):
        ok = 1 if d.get("compliant", True) else 0
        team, registry, stage = d.get("team"), d.get("registry", ""), d.get("stage", "")
        teams.add(team or NO_TEAM, 1, ok)
        registries.add(registry, 1, ok)
        cells[(registry, team, stage)] = cells.get((registry, team, stage), 0) + 1
        version = subject.rsplit("/", 1)[-1]
        for policy, severity, message in sorted(d.get("violations") or []):
            violated[policy] = violated.get(policy, 0) + 1
            found.append(
                ReportViolation(
                    subject, registry, team, d.get("model", ""), version, stage, policy, severity, message
                )
            )
    policies = [(p["id"], _scope(p.get("scope") or {})) for p in (policy_details or {}).get("policies", [])]

    async def violations(first: int, after: str | None) -> ViolationPage:
        start = 0
        if after:
            key = _decode(after)
            start = next((i for i, v in enumerate(found) if (v.version_uri, v.policy) > key), len(found))
        items = found[start : start + first]
        return ViolationPage(items, [_cursor(v) for v in items], len(found), start + first < len(found))

    return ComplianceReport(
        generated_at=utcnow(),
        as_of=at,
        total_versions=len(states),
        compliant_versions=sum(1 for _, d in states if d.get("compliant", True)),
        by_team=teams.groups(),
        by_registry=registries.groups(),
        by_policy=_policy_groups(policies, [(r, t, s, n) for (r, t, s), n in cells.items()], violated),
        violations=violations,
    )


# --- downloads --------------------------------------------------------------------------

VIOLATION_COLUMNS = (
    "version",
    "registry",
    "team",
    "model",
    "versionNumber",
    "stage",
    "policy",
    "severity",
    "message",
)
SUMMARY_COLUMNS = ("group", "key", "versions", "compliant")


def violation_dict(v: ReportViolation) -> dict[str, Any]:
    return {
        "version": v.version_uri,
        "registry": v.registry,
        "team": v.team,
        "model": v.model,
        "versionNumber": v.version,
        "stage": v.stage,
        "policy": v.policy,
        "severity": v.severity,
        "message": v.message,
    }


async def csv_lines(report: ComplianceReport, view: str = "violations") -> AsyncIterator[str]:
    """The report as CSV: one row per violation, or (``view="summary"``) one row per group."""
    if view == "summary":
        yield csv_line(SUMMARY_COLUMNS)
        yield csv_line(("total", "all", report.total_versions, report.compliant_versions))
        for name, groups in (
            ("team", report.by_team),
            ("registry", report.by_registry),
            ("policy", report.by_policy),
        ):
            for g in groups:
                yield csv_line((name, g.key, g.versions, g.compliant))
        return
    if view != "violations":
        raise BadInput(f"unknown report view {view!r} (violations or summary)", field="view")
    yield csv_line(VIOLATION_COLUMNS)
    async for v in report.all_violations():
        yield csv_line(violation_dict(v).values())


async def json_document(report: ComplianceReport) -> dict[str, Any]:
    """The whole report, summary and every violation, as one JSON document."""
    return {**report.summary(), "violations": [violation_dict(v) async for v in report.all_violations()]}
