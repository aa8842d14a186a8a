"""``gateway.artifacts.migrate``: one artifact copied into a ``file://`` store
from a local path, its digest checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.artifacts.backends import open_backend
from gateway.artifacts.migrate import MigrationFailed, Source, SourceReader, copy_verified, expected_digest
from gateway.artifacts.store import ArtifactStore
from gateway.config import ArtifactSettings

DATA = b"old weights"
DIGEST = f"sha256:{hashlib.sha256(DATA).hexdigest()}"


def file_bytes(uri: str) -> bytes:
    return Path(uri.removeprefix("file://")).read_bytes()


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(open_backend(ArtifactSettings(url=(tmp_path / "s").as_uri())), max_bytes=1 << 20)


@pytest.fixture
def old_file(tmp_path: Path) -> str:
    path = tmp_path / "old" / "model.bin"
    path.parent.mkdir()
    path.write_bytes(DATA)
    return path.as_uri()


def test_expected_digest_from_record_or_content_addressed_path() -> None:
    hexdigest = "a" * 64
    assert expected_digest(f"file:///x/{hexdigest}/model%20a.bin", None) == (
        "model a.bin",
        f"sha256:{hexdigest}",
    )
    assert expected_digest("file:///x/model.bin", DIGEST) == ("model.bin", DIGEST)
    assert expected_digest("file:///x/model.bin", None) == ("model.bin", None)
    with pytest.raises(MigrationFailed, match="the record says"):
        expected_digest(f"file:///x/{hexdigest}/model.bin", DIGEST)
    with pytest.raises(MigrationFailed, match="names no file"):
        expected_digest("file:///", None)


async def test_copy_then_reuse(store: ArtifactStore, old_file: str) -> None:
    reader = SourceReader()
    assert reader.handles(old_file) and not reader.handles("s3://b/k")
    first = await copy_verified(store, reader, "platform", "churn", Source(old_file, "model.bin", DIGEST))
    assert (first.digest, first.size, first.reused) == (DIGEST, len(DATA), False)
    assert first.uri.endswith(f"/platform/churn/{DIGEST[7:]}/model.bin")
    again = await copy_verified(store, reader, "platform", "churn", Source(old_file, "model.bin", DIGEST))
    assert (again.uri, again.reused) == (first.uri, True)
    assert file_bytes(old_file) == DATA  # the source is untouched


async def test_corrupt_missing_and_unsafe_sources_fail(
    store: ArtifactStore, old_file: str, tmp_path: Path
) -> None:
    reader = SourceReader()
    wrong = f"sha256:{'0' * 64}"
    with pytest.raises(MigrationFailed, match="is corrupt"):
        await copy_verified(store, reader, "platform", "churn", Source(old_file, "model.bin", wrong))
    assert not any(p.is_file() for p in (tmp_path / "s").rglob("*"))  # nothing became an object
    with pytest.raises(MigrationFailed, match="is missing"):
        await copy_verified(store, reader, "platform", "churn", Source(old_file + ".gone", "m.bin", None))
    with pytest.raises(MigrationFailed, match="cannot be a key"):
        await copy_verified(store, reader, "platform", "a/b", Source(old_file, "model.bin", None))
    with pytest.raises(MigrationFailed, match="may use only"):
        await copy_verified(store, reader, "platform", "churn", Source(old_file, "../model.bin", None))
    with pytest.raises(MigrationFailed, match="not a path on this machine"):
        await reader.size("file://otherhost/x")
