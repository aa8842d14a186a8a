"""``gateway.artifacts.tiering`` on a ``file://`` store: no storage classes there,
a missing object is reported, and a digest mismatch stops the rewrite."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.artifacts.backends import open_backend
from gateway.artifacts.store import ArtifactStore
from gateway.artifacts.tiering import TieringFailed, _checked, has_classes, storage_class_of
from gateway.config import ArtifactSettings


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(open_backend(ArtifactSettings(url=(tmp_path / "s").as_uri())), max_bytes=1 << 20)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_local_store_has_no_classes_and_no_marker(store: ArtifactStore) -> None:
    assert has_classes(store) is False
    stored = await store.save("platform", "churn", "model.bin", chunks(b"weights"))
    key = store.backend.key_of(stored.uri)
    assert key is not None
    assert await storage_class_of(store, key) is None
    with pytest.raises(TieringFailed, match="is missing"):
        await storage_class_of(store, key + ".absent")


async def test_the_digest_check_passes_bytes_through_and_fails_at_the_end() -> None:
    good = f"sha256:{hashlib.sha256(b'ab').hexdigest()}"
    assert [c async for c in _checked(chunks(b"a", b"b"), good, "s3://b/k")] == [b"a", b"b"]
    seen: list[bytes] = []
    with pytest.raises(TieringFailed, match="does not hash to"):
        async for c in _checked(chunks(b"a", b"c"), good, "s3://b/k"):
            seen.append(c)
    assert seen == [b"a", b"c"]  # raised after the last chunk: before the upload completes
