"""``gateway.artifacts`` on the ``file://`` store: uploads land content-addressed
under the registry and model, names are checked before anything is written, and
an upload over the limit or cut short leaves no file behind (nor a staging one)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from gateway.artifacts.backends import open_backend
from gateway.artifacts.store import ArtifactStore, StoreUnavailable
from gateway.config import ArtifactSettings
from gateway.errors import BadInput


async def chunks(parts: Iterable[bytes], fail_after: int | None = None) -> AsyncIterator[bytes]:
    for i, part in enumerate(parts):
        if fail_after is not None and i == fail_after:
            raise ConnectionResetError("client went away")
        yield part


def local_store(root: Path, max_bytes: int) -> ArtifactStore:
    return ArtifactStore(open_backend(ArtifactSettings(url=root.as_uri())), max_bytes=max_bytes)


def entries(root: Path) -> list[Path]:
    return list(root.rglob("*"))


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_an_upload_is_stored_by_its_digest(tmp_path: Path) -> None:
    store = local_store(tmp_path, 6)
    stored = await store.save("native", "ranker", "model.pkl", chunks([b"abc", b"def"]))
    hexdigest = hashlib.sha256(b"abcdef").hexdigest()
    assert (stored.digest, stored.size) == (f"sha256:{hexdigest}", 6)
    final = tmp_path / "native" / "ranker" / hexdigest / "model.pkl"
    assert stored.uri == final.as_uri() and final.read_bytes() == b"abcdef"
    # The same bytes again: the same place, still one file.
    again = await store.save("native", "ranker", "model.pkl", chunks([b"abcdef"]))
    assert again == stored and files(tmp_path) == [f"native/ranker/{hexdigest}/model.pkl"]


@pytest.mark.parametrize(
    ("model", "filename"),
    [("../etc", "x"), ("ranker", "../../passwd"), ("ranker", ".hidden"), ("a/b", "x"), ("ranker", "")],
)
async def test_unsafe_names_are_refused_before_writing(tmp_path: Path, model: str, filename: str) -> None:
    with pytest.raises(BadInput, match="may use only letters"):
        await local_store(tmp_path, 10).save("native", model, filename, chunks([b"x"]))
    assert entries(tmp_path) == []  # not even the model's folder


async def test_an_upload_over_the_limit_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="larger than the limit of 4 bytes"):
        await local_store(tmp_path, 4).save("native", "m", "f", chunks([b"abc", b"de"]))
    assert files(tmp_path) == []  # no temporary file either


async def test_an_upload_cut_short_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConnectionResetError):
        await local_store(tmp_path, 9).save("native", "m", "f", chunks([b"a", b"b"], fail_after=1))
    assert files(tmp_path) == []


async def test_a_store_that_fails_mid_upload_answers_a_coded_retryable_error(tmp_path: Path) -> None:
    # A plain file where the model's folder must go: the store cannot publish the upload.
    (tmp_path / "native").write_bytes(b"in the way")
    store = local_store(tmp_path, 1024)
    with pytest.raises(StoreUnavailable) as raised:
        await store.save("native", "ranker", "model.pkl", chunks([b"abcdef"]))
    assert raised.value.code == "STORE_UNAVAILABLE" and "model.pkl" in raised.value.message
    assert files(tmp_path) == ["native"]  # nothing published, no staging file left
