"""Tier overrides: a model's risk tier set by hand (``setRiskTier``), stored in
``model_risk_tiers`` and audited as ``risk_tier.set``; and a model's tier, which
is its override if any, else what the policy file's tier rules say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import Model, utcnow
from gateway.governance import audit
from gateway.governance.tiers import Tiers
from gateway.store.database import ReadConnection
from gateway.store.sql import any_of
from gateway.store.tables import model_risk_tiers as mrt

RULE, OVERRIDE = "rule", "override"


@dataclass(frozen=True)
class Override:
    model_uri: str
    tier: str
    reason: str
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class AssignedTier:
    tier: str | None
    source: str  # RULE or OVERRIDE
    override: Override | None = None


def assigned(tiers: Tiers, model: Model, override: Override | None) -> AssignedTier:
    if override is not None:
        return AssignedTier(override.tier, OVERRIDE, override)
    return AssignedTier(tiers.by_rule(model), RULE)


async def overrides(conn: ReadConnection, model_uris: Sequence[str]) -> dict[str, Override]:
    found: dict[str, Override] = {}
    uris = list(model_uris)
    for i in range(0, len(uris), 500):
        rows = await conn.execute(
            select(mrt).where(any_of(conn.dialect.name, mrt.c.model_uri, uris[i : i + 500]))
        )
        for r in rows:
            found[r.model_uri] = Override(r.model_uri, r.tier, r.reason, r.set_by, r.set_at)
    return found


async def all_overrides(conn: ReadConnection) -> dict[str, Override]:
    rows = await conn.execute(select(mrt))
    return {r.model_uri: Override(r.model_uri, r.tier, r.reason, r.set_by, r.set_at) for r in rows}


async def set_override(
    conn: AsyncConnection, model_uri: str, tier: str | None, reason: str, principal: str, previous: str | None
) -> None:
    """Set (or, with ``tier`` None, clear) a model's override, audited in the same transaction."""
    await conn.execute(delete(mrt).where(mrt.c.model_uri == model_uri))
    if tier is not None:
        await conn.execute(
            mrt.insert().values(
                model_uri=model_uri, tier=tier, reason=reason, set_by=principal, set_at=utcnow()
            )
        )
    await audit.append(
        conn, "risk_tier.set", principal, model_uri, {"tier": tier, "previous": previous, "reason": reason}
    )
