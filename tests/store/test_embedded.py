"""``gateway.store.embedded``: the one door of the store open to the native
registry: its three tables, the codec and ``insert_ignore``, nothing else."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

import gateway.store.embedded as embedded
from gateway.domain import ModelVersion, Stage, utcnow


def test_the_door_lends_only_what_the_native_registry_needs() -> None:
    assert sorted(embedded.__all__) == [
        "Database",
        "ReadConnection",
        "insert_ignore",
        "native_changes",
        "native_models",
        "native_version_files",
        "native_versions",
        "version_from_dict",
        "version_to_dict",
    ]
    assert all(hasattr(embedded, name) for name in embedded.__all__)
    assert {t.name for t in (embedded.native_models, embedded.native_versions, embedded.native_changes)} == {
        "native_models",
        "native_versions",
        "native_changes",
    }


def test_the_codec_round_trips_a_version() -> None:
    version = ModelVersion("native", "m", "2", stage=Stage.STAGING, metrics={"auc": 0.9}, tags={"a": "b"})
    assert embedded.version_from_dict(embedded.version_to_dict(version)) == version


async def test_insert_ignore_keeps_the_first_row_of_a_unique_key(tmp_path: Path) -> None:
    db = embedded.Database(f"sqlite:///{tmp_path}/native.db")
    try:
        await db.migrate()
        now = utcnow()
        for description in ("first", "second"):
            async with db.write() as conn:
                await embedded.insert_ignore(
                    conn,
                    embedded.native_models,
                    {
                        "registry_id": "native",
                        "name": "m",
                        "description": description,
                        "tags": {},
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        async with db.read() as conn:
            rows = (await conn.execute(select(embedded.native_models.c.description))).all()
            count = (await conn.execute(select(func.count()).select_from(embedded.native_models))).scalar()
        assert count == 1 and rows[0].description == "first"
    finally:
        await db.aclose()
