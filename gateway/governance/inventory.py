"""The compliance inventory: every model with its owner team, registry, risk
tier, PRODUCTION version and where it serves, last approval, compliance state
and next review due.

Now, it reads the catalogue index and the stored evaluation; "as of" a past
time it is rebuilt from the audit log (each version's last ``compliance.changed``
snapshot, ``risk_tier.set`` overrides, ``promotion.approved`` events,
reviews and stage changes up to that time). Two things the audit log does not
hold come from the index as it stands: a model's tags (for tier rules) and
where a version serves.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from gateway.codec import model_from_dict, version_from_dict
from gateway.domain import Approval, Deployment, Model, Stage, parse_uri, utcnow, version_sort_key
from gateway.errors import BadInput
from gateway.governance import reviews, tier_store
from gateway.governance.compliance import SNAPSHOT_ACTIONS
from gateway.governance.evaluation import Violation
from gateway.governance.reviews import REVIEW_OVERDUE, ReviewState
from gateway.governance.tiers import Tiers
from gateway.store.database import Database, ReadConnection
from gateway.store.sql import any_of
from gateway.store.tables import audit_events as ae
from gateway.store.tables import catalogue_models as cm
from gateway.store.tables import catalogue_versions as cv
from gateway.store.tables import governance_violations as gv


class ComplianceState(enum.StrEnum):
    COMPLIANT = "COMPLIANT"  # no violation at all
    WARNING = "WARNING"  # only warnings (a policy warning, a review overdue within its grace)
    NON_COMPLIANT = "NON_COMPLIANT"  # an error-severity violation, or a review overdue past its grace


@dataclass(frozen=True)
class InventoryFilter:
    registries: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    states: tuple[ComplianceState, ...] = ()
    review_overdue: bool | None = None


@dataclass(frozen=True)
class InventoryItem:
    model_uri: str
    model_name: str
    registry: str
    team: str | None
    tier: str | None
    tier_source: str  # rule | override
    production_version: str | None  # the version URI
    deployments: tuple[Deployment, ...]
    last_approval: Approval | None
    state: ComplianceState
    violations: tuple[Violation, ...]
    review: ReviewState = field(default_factory=ReviewState)

    @property
    def next_review_due(self) -> datetime | None:
        return self.review.due


@dataclass(frozen=True)
class TierCount:
    tier: str | None
    models: int
    overdue: int
    non_compliant: int


@dataclass(frozen=True)
class Inventory:
    generated_at: datetime
    as_of: datetime | None
    items: list[InventoryItem]

    def by_tier(self) -> list[TierCount]:
        counts: dict[str | None, list[int]] = {}
        for item in self.items:
            c = counts.setdefault(item.tier, [0, 0, 0])
            c[0] += 1
            c[1] += item.review.overdue
            c[2] += item.state is ComplianceState.NON_COMPLIANT
        return [
            TierCount(t, *c) for t, c in sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ]


@dataclass
class _Model:
    """What the inventory gathers about one model before composing its row."""

    uri: str
    name: str
    registry: str
    team: str | None
    model: Model | None  # the indexed model (None: gone from the index)
    compliant: bool  # every version compliant (when no version is in production)
    versions: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # uri -> stage, compliant, ...


def _state(violations: Sequence[Violation]) -> ComplianceState:
    if any(v.severity == "error" for v in violations):
        return ComplianceState.NON_COMPLIANT
    return ComplianceState.WARNING if violations else ComplianceState.COMPLIANT


async def _approvals(conn: ReadConnection, until: datetime | None) -> dict[str, Approval]:
    """The last ``promotion.approved`` of each model, by the audit log."""
    query = select(ae.c.subject, ae.c.principal, ae.c.at, ae.c.details).where(
        ae.c.action == "promotion.approved"
    )
    if until is not None:
        query = query.where(ae.c.at <= until)
    found: dict[str, Approval] = {}
    for row in await conn.execute(query.order_by(ae.c.seq)):
        if row.subject:
            d = row.details or {}
            found[row.subject.rsplit("/", 1)[0]] = Approval(
                row.principal, str(d.get("role", "")), row.at, d.get("comment")
            )
    return found


async def _overrides_as_of(conn: ReadConnection, at: datetime) -> dict[str, str | None]:
    rows = await conn.execute(
        select(ae.c.subject, ae.c.details)
        .where(ae.c.action == "risk_tier.set", ae.c.at <= at)
        .order_by(ae.c.seq)
    )
    return {row.subject: (row.details or {}).get("tier") for row in rows if row.subject}


async def _current_models(conn: ReadConnection) -> dict[str, _Model]:
    models: dict[str, _Model] = {}
    for row in await conn.execute(
        select(cm.c.uri, cm.c.registry_id, cm.c.name, cm.c.team, cm.c.record, cm.c.compliant)
    ):
        models[row.uri] = _Model(
            row.uri,
            row.name,
            row.registry_id,
            row.team,
            model_from_dict(dict(row.record)),
            row.compliant is not False,
        )
    production = await conn.execute(
        select(cv.c.uri, cv.c.model_uri, cv.c.version).where(cv.c.stage == Stage.PRODUCTION.value)
    )
    for prod in production:
        if (m := models.get(prod.model_uri)) is not None:
            m.versions[prod.uri] = {"version": prod.version, "stage": Stage.PRODUCTION.value}
    return models


async def _models_as_of(conn: ReadConnection, at: datetime) -> dict[str, _Model]:
    last = (
        select(func.max(ae.c.seq))
        .where(ae.c.action.in_(SNAPSHOT_ACTIONS), ae.c.at <= at, ae.c.subject.is_not(None))
        .group_by(ae.c.subject)
    )
    rows = await conn.execute(
        select(ae.c.subject, ae.c.details).where(ae.c.seq.in_(last), ae.c.action == "compliance.changed")
    )
    indexed = {
        row.uri: model_from_dict(dict(row.record))
        for row in await conn.execute(select(cm.c.uri, cm.c.record))
    }
    models: dict[str, _Model] = {}
    for row in rows:
        subject, d = row.subject, dict(row.details or {})
        try:
            parsed = parse_uri(subject)
        except ValueError:
            continue
        uri = parsed.model_uri
        m = models.get(uri)
        if m is None:
            m = models[uri] = _Model(
                uri, parsed.model_name, parsed.registry_id, d.get("team"), indexed.get(uri), True
            )
        m.team = m.team or d.get("team")
        m.compliant = m.compliant and bool(d.get("compliant", True))
        m.versions[subject] = {**d, "version": parsed.version}
    return models


async def build(
    database: Database,
    tiers: Tiers,
    f: InventoryFilter,
    at: datetime | None = None,
    now: datetime | None = None,
) -> Inventory:
    """The inventory now (``at`` None) or as it stood at ``at``; ``now`` is the
    moment review due dates are judged against (default: ``at``, else the clock)."""
    if at is not None and at.tzinfo is None:
        raise BadInput("asOf needs a time zone (e.g. 2026-01-31T00:00:00Z)", field="asOf")
    unknown = [t for t in f.tiers if t not in tiers.names]
    if unknown:
        raise BadInput(
            f"unknown tier {unknown[0]!r} (tiers: {', '.join(tiers.names) or 'none defined'})", field="tiers"
        )
    judged_at = now or at or utcnow()
    async with database.read() as conn:
        models = await _current_models(conn) if at is None else await _models_as_of(conn, at)
        chosen = [
            m
            for m in models.values()
            if (not f.registries or m.registry in f.registries) and (not f.teams or m.team in f.teams)
        ]
        production: dict[str, str] = {}
        for m in chosen:
            live = [uri for uri, d in m.versions.items() if d.get("stage") == Stage.PRODUCTION.value]
            if live:
                production[m.uri] = max(live, key=lambda u: version_sort_key(str(m.versions[u]["version"])))
        prod_uris = list(production.values())
        if at is None:
            overrides: dict[str, str | None] = {
                uri: o.tier for uri, o in (await tier_store.all_overrides(conn)).items()
            }
            violations = await _violations(conn, prod_uris)
        else:
            overrides = await _overrides_as_of(conn, at)
            violations = {
                uri: tuple(
                    Violation(*v)
                    for v in (models[uri.rsplit("/", 1)[0]].versions[uri].get("violations") or [])
                )
                for uri in prod_uris
            }
        deployments = await _deployments(conn, prod_uris)
        approvals = await _approvals(conn, at)
        recorded = await reviews.reviews_of(conn, prod_uris, at)
        since = await reviews.production_since(conn, prod_uris, at)
        created = await _created(conn, [u for u in prod_uris if u not in since])
    items: list[InventoryItem] = []
    for m in sorted(chosen, key=lambda m: m.uri):
        if m.uri in overrides and overrides[m.uri] is not None:
            tier, source = overrides[m.uri], tier_store.OVERRIDE
        else:
            tier, source = (tiers.by_rule(m.model) if m.model else None), tier_store.RULE
        prod = production.get(m.uri)
        found: tuple[Violation, ...] = ()
        review = ReviewState()
        if prod is not None:
            found = violations.get(prod, ())
            review = reviews.review_state(
                tiers.get(tier),
                Stage.PRODUCTION,
                since.get(prod) or created.get(prod),
                recorded.get(prod, []),
                judged_at,
            )
            if review.severity is not None:
                found = (*found, Violation(REVIEW_OVERDUE, review.severity, review.message(prod) or ""))
            state = _state(found)
        else:
            state = ComplianceState.COMPLIANT if m.compliant else ComplianceState.NON_COMPLIANT
        item = InventoryItem(
            model_uri=m.uri,
            model_name=m.name,
            registry=m.registry,
            team=m.team,
            tier=tier,
            tier_source=source,
            production_version=prod,
            deployments=deployments.get(prod, ()) if prod else (),
            last_approval=approvals.get(m.uri),
            state=state,
            violations=found,
            review=review,
        )
        if f.tiers and item.tier not in f.tiers:
            continue
        if f.states and item.state not in f.states:
            continue
        if f.review_overdue is not None and item.review.overdue is not f.review_overdue:
            continue
        items.append(item)
    return Inventory(utcnow(), at, items)


async def _violations(conn: ReadConnection, uris: Sequence[str]) -> dict[str, tuple[Violation, ...]]:
    found: dict[str, list[Violation]] = {}
    for i in range(0, len(uris), 500):
        rows = await conn.execute(
            select(gv.c.version_uri, gv.c.policy_id, gv.c.severity, gv.c.message)
            .where(any_of(conn.dialect.name, gv.c.version_uri, list(uris[i : i + 500])))
            .order_by(gv.c.version_uri, gv.c.policy_id)
        )
        for r in rows:
            found.setdefault(r.version_uri, []).append(Violation(r.policy_id, r.severity, r.message))
    return {k: tuple(v) for k, v in found.items()}


async def _deployments(conn: ReadConnection, uris: Sequence[str]) -> dict[str, tuple[Deployment, ...]]:
    """Where each version serves, as the index's record says (``ModelVersion.deployments``)."""
    found: dict[str, tuple[Deployment, ...]] = {}
    for i in range(0, len(uris), 500):
        for row in await conn.execute(
            select(cv.c.uri, cv.c.record).where(any_of(conn.dialect.name, cv.c.uri, list(uris[i : i + 500])))
        ):
            found[row.uri] = version_from_dict(dict(row.record)).deployments
    return found


async def _created(conn: ReadConnection, uris: Sequence[str]) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for i in range(0, len(uris), 500):
        rows = await conn.execute(
            select(cv.c.uri, cv.c.created_at, cv.c.indexed_at).where(
                any_of(conn.dialect.name, cv.c.uri, list(uris[i : i + 500]))
            )
        )
        for row in rows:
            found[row.uri] = row.created_at or row.indexed_at
    return found


# --- downloads --------------------------------------------------------------------------

COLUMNS = (
    "model",
    "name",
    "registry",
    "team",
    "tier",
    "tierSource",
    "productionVersion",
    "servesAt",
    "lastApprovalBy",
    "lastApprovalRole",
    "lastApprovalAt",
    "complianceState",
    "violations",
    "nextReviewDue",
    "reviewOverdue",
)


def item_dict(item: InventoryItem) -> dict[str, Any]:
    a = item.last_approval
    return {
        "model": item.model_uri,
        "name": item.model_name,
        "registry": item.registry,
        "team": item.team,
        "tier": item.tier,
        "tierSource": item.tier_source,
        "productionVersion": item.production_version,
        "servesAt": [d.endpoint for d in item.deployments],
        "lastApprovalBy": a.principal if a else None,
        "lastApprovalRole": a.role if a else None,
        "lastApprovalAt": a.at.isoformat() if a else None,
        "complianceState": item.state.value,
        "violations": [v.as_dict() for v in item.violations],
        "nextReviewDue": item.review.due.isoformat() if item.review.due else None,
        "reviewOverdue": item.review.overdue,
    }


def csv_rows(inventory: Inventory) -> list[list[Any]]:
    rows: list[list[Any]] = [list(COLUMNS)]
    for item in inventory.items:
        d = item_dict(item)
        d["servesAt"] = " ".join(d["servesAt"])
        d["violations"] = " ".join(f"{v['policy']}:{v['severity']}" for v in d["violations"])
        rows.append(["" if d[c] is None else d[c] for c in COLUMNS])
    return rows


def json_document(inventory: Inventory) -> dict[str, Any]:
    return {
        "generatedAt": inventory.generated_at.isoformat(),
        "asOf": inventory.as_of.isoformat() if inventory.as_of else None,
        "byTier": [
            {"tier": t.tier, "models": t.models, "overdue": t.overdue, "nonCompliant": t.non_compliant}
            for t in inventory.by_tier()
        ],
        "models": [item_dict(i) for i in inventory.items],
    }
