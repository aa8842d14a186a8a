"""``gateway.governance.tier_store`` on both databases: a hand-set tier overrides
the rules, clearing it returns the model to them, and every change is audited
in the same transaction."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from gateway.domain import Model
from gateway.governance import audit
from gateway.governance.tier_store import OVERRIDE, RULE, all_overrides, assigned, overrides, set_override
from gateway.governance.tiers import parse_tiers
from gateway.store.database import Database

TIERS = parse_tiers(
    [{"name": "high", "rule": 'model.tags["risk"] == "high"'}, {"name": "minimal"}], None, re.compile(r".+")
)
RISKY = Model("r", "risky", tags={"risk": "high"})
PLAIN = Model("r", "plain")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.aclose()


async def test_an_override_wins_over_the_rules_until_cleared(db: Database) -> None:
    async with db.write() as conn:
        await set_override(conn, PLAIN.uri, "high", "handles payments", "carol", previous="minimal")
    async with db.read() as conn:
        found = await overrides(conn, [PLAIN.uri, RISKY.uri])
        assert list(found) == [PLAIN.uri] and await all_overrides(conn) == found
    override = found[PLAIN.uri]
    assert (override.tier, override.reason, override.set_by) == ("high", "handles payments", "carol")
    assert (assigned(TIERS, PLAIN, override).tier, assigned(TIERS, PLAIN, override).source) == (
        "high",
        OVERRIDE,
    )
    assert assigned(TIERS, RISKY, None).tier == "high" and assigned(TIERS, RISKY, None).source == RULE
    assert assigned(TIERS, PLAIN, None).tier == "minimal"

    async with db.write() as conn:  # set again: replaced, not added
        await set_override(conn, PLAIN.uri, "minimal", "reassessed", "dave", previous="high")
    async with db.read() as conn:
        assert (await overrides(conn, [PLAIN.uri]))[PLAIN.uri].tier == "minimal"

    async with db.write() as conn:  # cleared: back to the rules
        await set_override(conn, PLAIN.uri, None, "rules suffice", "dave", previous="minimal")
    async with db.read() as conn:
        assert await overrides(conn, [PLAIN.uri]) == {}

    events = [e async for e in audit.iter_events(db) if e.action == "risk_tier.set"]
    assert [(e.principal, e.subject, e.details["tier"], e.details["previous"]) for e in events] == [
        ("carol", PLAIN.uri, "high", "minimal"),
        ("dave", PLAIN.uri, "minimal", "high"),
        ("dave", PLAIN.uri, None, "minimal"),
    ]


async def test_an_override_rolled_back_leaves_no_event(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await set_override(conn, PLAIN.uri, "high", "x", "carol", previous=None)
            raise RuntimeError("the surrounding change failed")
    async with db.read() as conn:
        assert await all_overrides(conn) == {}
    assert [e async for e in audit.iter_events(db) if e.action == "risk_tier.set"] == []
