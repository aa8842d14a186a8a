"""``gateway.store.artifact_records``: native versions' artifact URIs as the
records hold them, and the compare-and-set rewrite (SQLite, ``file://`` store)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import utcnow
from gateway.runtime import Gateway
from gateway.store.artifact_records import archived_since, native_artifacts, rewrite_artifact_uri
from gateway.store.tables import native_changes
from tests.artifacts.test_retention import settings_for, versions


async def test_listing_history_and_compare_and_set(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"url": (tmp_path / "store").as_uri()})
    uris = await versions(settings)
    gw = await Gateway.open(settings)
    try:
        db = gw.database
        assert await native_artifacts(db, []) == [] and await archived_since(db, []) == {}
        found = await native_artifacts(db, ["platform", "research"])
        assert [(v.uri, v.stage) for v in found] == [
            ("mg://platform/fresh/1", "ARCHIVED"),
            ("mg://platform/old/1", "ARCHIVED"),
            ("mg://platform/shared/1", "ARCHIVED"),
            ("mg://platform/shared/2", "PRODUCTION"),
        ]
        assert all(v.artifact_uri == uris[v.uri] and v.artifact_digest for v in found)

        since = await archived_since(db, [v.uri for v in found])
        assert set(since) == {"mg://platform/fresh/1", "mg://platform/old/1", "mg://platform/shared/1"}
        assert since["mg://platform/old/1"] < utcnow() - timedelta(days=39) < since["mg://platform/fresh/1"]

        old = found[1]
        hooked: list[str] = []

        async def within(conn: AsyncConnection) -> None:
            hooked.append("audited")

        async def seq() -> int:
            async with db.read() as conn:
                return int((await conn.execute(select(native_changes.c.seq))).scalar_one())

        before = await seq()
        assert await rewrite_artifact_uri(db, old, "file:///moved/model.bin", "sha256:new", within=within)
        assert hooked == ["audited"] and await seq() == before + 1
        moved = (await native_artifacts(db, ["platform"]))[1]
        assert (moved.artifact_uri, moved.artifact_digest) == ("file:///moved/model.bin", "sha256:new")
        # The record no longer names the URI this item was read with: nothing is written.
        assert not await rewrite_artifact_uri(db, old, "file:///again", "sha256:x", within=within)
        assert hooked == ["audited"]
        absent = dataclasses.replace(old, version=99)
        assert not await rewrite_artifact_uri(db, absent, "file:///again", "sha256:x")
        assert (await native_artifacts(db, ["platform"]))[1].artifact_uri == "file:///moved/model.bin"
    finally:
        await gw.aclose()
