"""``gateway.serving.store`` on both databases: endpoints read from a registry
are replaced whole, reported ones slice by slice, and reads give each endpoint's
traffic in order and each served version's deployments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain import Endpoint, TrafficShare
from gateway.serving.store import (
    REGISTRY,
    REPORTED,
    deployments_by_version,
    endpoint_source,
    model_of,
    put_reported_share,
    read_endpoints,
    replace_registry_endpoints,
)
from gateway.store.database import Database

NOW = datetime(2026, 3, 1, tzinfo=UTC)
V1, V2 = "mg://sm/ranker/1", "mg://sm/ranker/2"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.aclose()


def endpoint(name: str, *shares: TrafficShare, status: str = "InService") -> Endpoint:
    return Endpoint(f"arn:{name}", name, "sm", status, shares, NOW)


async def endpoints(db: Database, registries: list[str] | None = None) -> list[Endpoint]:
    async with db.read() as conn:
        return await read_endpoints(conn, registries)


def test_the_model_of_a_version_uri() -> None:
    assert model_of(V1) == "mg://sm/ranker"
    assert model_of("mg://sm/ranker") is None  # a model, not a version
    assert model_of("not a uri") is None and model_of(None) is None


async def test_a_registry_read_replaces_its_endpoints_whole(db: Database) -> None:
    prod = endpoint("prod", TrafficShare(90, V1, "current"), TrafficShare(10, V2, "candidate"))
    async with db.write() as conn:
        await replace_registry_endpoints(conn, "sm", [prod, endpoint("old")], NOW)
        await put_reported_share(conn, "sm", "kserve/x", TrafficShare(100, V1), "Ready", NOW)
        await replace_registry_endpoints(conn, "other", [endpoint("theirs")], NOW)
    assert [e.name for e in await endpoints(db, ["sm"])] == ["kserve/x", "old", "prod"]
    assert (await endpoints(db, ["sm"]))[2].traffic == prod.traffic  # in order

    async with db.write() as conn:  # the next read: "old" is gone, "prod" changed
        await replace_registry_endpoints(
            conn, "sm", [endpoint("prod", TrafficShare(100, V2, "candidate"))], NOW
        )
    after = {e.name: e for e in await endpoints(db, ["sm"])}
    assert sorted(after) == ["kserve/x", "prod"]  # the reported endpoint stays
    assert after["prod"].traffic == (TrafficShare(100, V2, "candidate"),)
    assert [e.name for e in await endpoints(db, ["other"])] == ["theirs"]  # other registries untouched
    assert len(await endpoints(db)) == 3
    async with db.read() as conn:
        assert await endpoint_source(conn, "sm", "arn:prod") == REGISTRY
        assert await endpoint_source(conn, "sm", "kserve/x") == REPORTED
        assert await endpoint_source(conn, "sm", "arn:old") is None

    async with db.write() as conn:  # a registry that now serves nothing
        await replace_registry_endpoints(conn, "sm", [], NOW)
    assert [e.name for e in await endpoints(db, ["sm"])] == ["kserve/x"]


async def test_a_report_changes_only_its_own_slice(db: Database) -> None:
    later = NOW + timedelta(minutes=5)
    async with db.write() as conn:
        await put_reported_share(conn, "sm", "ep", TrafficShare(100, V1, "blue"), "Ready", NOW)
        await put_reported_share(conn, "sm", "ep", TrafficShare(0, V2, "green"), "Ready", NOW)
        await put_reported_share(conn, "sm", "ep", TrafficShare(30, V2, "green"), "Updating", later)
        await put_reported_share(conn, "sm", "ep", TrafficShare(70, V1, "blue"), "Ready", later)
    (ep,) = await endpoints(db)
    # Each slice keeps its position; the endpoint takes the latest status.
    assert ep.traffic == (TrafficShare(70, V1, "blue"), TrafficShare(30, V2, "green"))
    assert (ep.status, ep.updated_at) == ("Ready", later)


async def test_deployments_by_version(db: Database) -> None:
    async with db.write() as conn:
        await replace_registry_endpoints(
            conn,
            "sm",
            [
                endpoint("a", TrafficShare(100, V1, "v")),
                endpoint(
                    "b", TrafficShare(80, V1, "x"), TrafficShare(0, V2, "y"), TrafficShare(20, None, "z")
                ),
                endpoint("c", TrafficShare(100, "mg://sm/other/1", "v")),
            ],
            NOW,
        )
    async with db.read() as conn:
        found = await deployments_by_version(conn, "sm", ["mg://sm/ranker"])
        everything = await deployments_by_version(conn, "sm")
    assert sorted(found) == [V1, V2]  # a 0 % share is a deployment too; unknown versions are not
    assert [(d.endpoint, d.traffic_percent, d.variant) for d in found[V1]] == [
        ("arn:a", 100, "v"),
        ("arn:b", 80, "x"),
    ]
    assert "mg://sm/other/1" in everything and len(everything) == 3
