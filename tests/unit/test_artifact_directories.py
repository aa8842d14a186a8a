"""``gateway.artifacts.directories``: directory versions assembled from uploaded
files in a ``file://`` store."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.artifacts.backends import open_backend
from gateway.artifacts.directories import FileSource, assemble_directory, directory_files, manifest
from gateway.artifacts.store import ArtifactStore
from gateway.config import ArtifactSettings
from gateway.domain import VersionFile
from gateway.errors import BadInput


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(open_backend(ArtifactSettings(url=(tmp_path / "s").as_uri())), max_bytes=1 << 20)


async def upload(store: ArtifactStore, model: str, path: str, data: bytes) -> str:
    async def chunks() -> AsyncIterator[bytes]:
        yield data

    return (await store.save("platform", model, path, chunks())).uri


def test_manifest_is_sorted_sha256sum_text() -> None:
    a, b = VersionFile("b/x", "sha256:" + "1" * 64, 1), VersionFile("a", "sha256:" + "2" * 64, 2)
    assert manifest([a, b]) == f"{'2' * 64}  a\n{'1' * 64}  b/x\n"
    assert manifest([a, b]) == manifest([b, a])


async def test_assembly_is_deterministic_and_order_independent(store: ArtifactStore, tmp_path: Path) -> None:
    m = await upload(store, "churn", "MLmodel", b"flavors: {}")
    w = await upload(store, "churn", "model.pkl", b"weights")
    first_uri, files = await assemble_directory(
        store, "platform", "churn", [FileSource("MLmodel", m), FileSource("data/model.pkl", w)]
    )
    again_uri, again = await assemble_directory(
        store, "platform", "churn", [FileSource("data/model.pkl", w), FileSource("MLmodel", m)]
    )
    assert (first_uri, files) == (again_uri, again)
    assert [f.path for f in files] == ["MLmodel", "data/model.pkl"]
    assert files[1] == VersionFile("data/model.pkl", f"sha256:{hashlib.sha256(b'weights').hexdigest()}", 7)
    assert first_uri.endswith(f"/platform/churn/dirs/{hashlib.sha256(manifest(files).encode()).hexdigest()}")
    folder = Path(first_uri.removeprefix("file://"))
    assert (folder / "data" / "model.pkl").read_bytes() == b"weights"
    listed = directory_files(store, first_uri, files)
    assert [(f.path, f.key.endswith("/data/model.pkl")) for f in listed][1] == ("data/model.pkl", True)
    assert directory_files(store, "s3://elsewhere/x", files) == []


@pytest.mark.parametrize(
    ("paths", "why"),
    [
        (["../escape"], "is not a valid path"),
        (["a", "a"], "is listed twice"),
        (["a", "a/b"], "lies inside 'a', which is a file"),
    ],
)
async def test_refused_layouts(store: ArtifactStore, paths: list[str], why: str) -> None:
    uri = await upload(store, "churn", "f.bin", b"x")
    with pytest.raises(BadInput) as caught:
        await assemble_directory(store, "platform", "churn", [FileSource(p, uri) for p in paths])
    assert caught.value.code == "BAD_USER_INPUT"
    assert why in caught.value.message


async def test_refuses_another_models_file_and_an_empty_list(store: ArtifactStore) -> None:
    other = await upload(store, "fraud", "f.bin", b"x")
    with pytest.raises(BadInput, match="not a file of platform/churn"):
        await assemble_directory(store, "platform", "churn", [FileSource("f.bin", other)])
    with pytest.raises(BadInput, match="at least one file"):
        await assemble_directory(store, "platform", "churn", [])
    absent = other.replace("/fraud/", "/churn/")
    with pytest.raises(BadInput, match="does not hold"):
        await assemble_directory(store, "platform", "churn", [FileSource("f.bin", absent)])
