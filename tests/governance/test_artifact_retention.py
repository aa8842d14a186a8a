"""``gateway.governance.artifact_retention``: which files of ARCHIVED versions are
candidates for a colder class (SQLite, ``file://`` store, which has no classes)."""

from __future__ import annotations

from pathlib import Path

from gateway.domain import utcnow
from gateway.governance.artifact_retention import apply, current_class, plan
from gateway.runtime import Gateway
from tests.artifacts.test_retention import OLD, settings_for, versions


def file_bytes(uri: str) -> bytes:
    return Path(uri.removeprefix("file://")).read_bytes()


async def test_plan_keeps_shared_and_fresh_files(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"url": (tmp_path / "store").as_uri()})
    uris = await versions(settings)
    gw = await Gateway.open(settings)
    try:
        tiers = await plan(
            gw.database, gw.artifacts, ["platform"], after_days=30, storage_class="COLD", now=utcnow()
        )
        assert [(c.uri, c.versions, c.archived_days) for c in tiers.candidates] == [
            (uris["mg://platform/old/1"], ["mg://platform/old/1"], 40)
        ]
        assert tiers.kept == {uris["mg://platform/shared/1"]: ["mg://platform/shared/2"]}
        assert tiers.bytes == len(OLD) and tiers.storage_class == "COLD"
        assert await current_class(gw.artifacts, tiers.candidates[0]) is None

        later = await plan(
            gw.database, gw.artifacts, ["platform"], after_days=50, storage_class="COLD", now=utcnow()
        )
        assert later.candidates == [] and later.bytes == 0

        # A directory store refuses the class: reported per file, nothing raised.
        outcomes = await apply(gw.database, gw.artifacts, tiers)
        assert [(o.candidate.uri, o.status) for o in outcomes] == [(uris["mg://platform/old/1"], "FAILED")]
        assert outcomes[0].detail
        assert file_bytes(uris["mg://platform/old/1"]) == OLD
    finally:
        await gw.aclose()
