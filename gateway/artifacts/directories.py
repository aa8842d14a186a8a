"""Versions that are directories: several uploaded files under one prefix.

A directory is assembled from files the store already holds for the model
(each uploaded with ``PUT /artifacts/...``) by server-side copies to::

    <registry>/<model>/dirs/<manifest sha256>/<path>

The manifest is the directory's files as ``sha256sum`` prints them, sorted by
path (``<hex>  <path>\\n`` per file), so the prefix names exactly those bytes
under exactly those paths: it is immutable, two registrations of the same files
share it, and a retried assembly finds its files there and copies nothing. The
prefix is what the version's ``artifactUri`` names; ordinary tools read it as a
directory (``aws s3 cp --recursive``, KServe's storage initializer,
``mlflow.pyfunc.load_model``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore

from gateway.artifacts.store import (
    PART_BYTES,
    PARTS_IN_FLIGHT,
    SAFE_NAME,
    ArtifactStore,
    StoredFile,
    check_path,
)
from gateway.domain import VersionFile
from gateway.errors import BadInput

DIRS = "dirs"
MAX_FILES = 10_000
# S3's CopyObject copies at most 5 GiB in one call; larger files are streamed
# through the gateway instead (a part at a time: flat memory).
COPY_LIMIT = 5 * 1024**3
COPIES_IN_FLIGHT = 8
HEX = re.compile(r"^[0-9a-f]{64}$")

T = TypeVar("T")


@dataclass(frozen=True)
class FileSource:
    """One file of a directory to register: its path there, and the ``uri`` an
    upload answered."""

    path: str
    uri: str


def manifest(files: Sequence[VersionFile]) -> str:
    """The directory's files as ``sha256sum`` prints them, sorted by path (the
    text ``sha256sum -c`` checks a downloaded copy with)."""
    return "".join(
        f"{f.digest.removeprefix('sha256:')}  {f.path}\n" for f in sorted(files, key=lambda f: f.path)
    )


def _refused(path: str, why: str) -> BadInput:
    return BadInput(f"files: {path!r} {why}", field="files", path=path)


def _check_paths(sources: Sequence[FileSource]) -> None:
    if not sources:
        raise BadInput("files must list at least one file", field="files")
    if len(sources) > MAX_FILES:
        raise BadInput(
            f"files lists {len(sources)} files; a version holds at most {MAX_FILES}", field="files"
        )
    paths: set[str] = set()
    for source in sources:
        try:
            check_path(source.path)
        except BadInput as exc:
            raise _refused(source.path, f"is not a valid path: {exc.message}") from None
        if source.path in paths:
            raise _refused(source.path, "is listed twice")
        paths.add(source.path)
    for path in paths:  # "a" and "a/b": a file and a directory of one name
        parts = path.split("/")
        for n in range(1, len(parts)):
            if "/".join(parts[:n]) in paths:
                raise _refused(path, f"lies inside {'/'.join(parts[:n])!r}, which is a file")


async def _bounded(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(COPIES_IN_FLIGHT)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def _size(store: ArtifactStore, key: str) -> int | None:
    try:
        return int((await obstore.head_async(store.backend.store, key))["size"])
    except (NotFoundError, FileNotFoundError):
        return None


async def _resolve(
    store: ArtifactStore, registry_id: str, model_name: str, source: FileSource
) -> tuple[str, VersionFile]:
    """The store key of an uploaded file and what it is; refused unless it is a
    file this store holds for this very model."""
    backend = store.backend
    own = backend.key(f"{registry_id}/{model_name}/")
    key = backend.key_of(source.uri)
    if key is None or not key.startswith(own):
        raise _refused(
            source.path,
            f"names {source.uri!r}, which is not a file of {registry_id}/{model_name} in the model store "
            f"(upload it with PUT /artifacts/{registry_id}/{model_name}/<path> and give the uri it answers)",
        )
    hexdigest, _, uploaded = key[len(own) :].partition("/")
    valid = bool(HEX.match(hexdigest))
    if valid:
        try:
            check_path(uploaded)
        except BadInput:
            valid = False
    size = await _size(store, key) if valid else None
    if size is None:
        raise _refused(source.path, f"names {source.uri!r}, which the model store does not hold")
    return key, VersionFile(source.path, f"sha256:{hexdigest}", size)


async def _copy(store: ArtifactStore, source: str, target: str, size: int) -> None:
    backend = store.backend.store
    if await _size(store, target) == size:  # assembled before (a retry, or the same files again)
        return
    if size <= COPY_LIMIT or isinstance(backend, LocalStore):
        await obstore.copy_async(backend, source, target)
        return
    result = await obstore.get_async(backend, source)
    await obstore.put_async(
        backend,
        target,
        result.stream(min_chunk_size=PART_BYTES),
        use_multipart=True,
        chunk_size=PART_BYTES,
        max_concurrency=PARTS_IN_FLIGHT,
    )


async def assemble_directory(
    store: ArtifactStore, registry_id: str, model_name: str, sources: Sequence[FileSource]
) -> tuple[str, tuple[VersionFile, ...]]:
    """Copy the uploaded files ``sources`` into the model's content-addressed
    directory; return its URI and the files (sorted by path). Idempotent."""
    if not SAFE_NAME.match(model_name):
        raise BadInput(f"model {model_name!r} may use only letters, digits, '.', '_' and '-'", field="model")
    _check_paths(sources)
    resolved = await _bounded([partial(_resolve, store, registry_id, model_name, s) for s in sources])
    resolved.sort(key=lambda pair: pair[1].path)
    files = tuple(f for _, f in resolved)
    name = hashlib.sha256(manifest(files).encode()).hexdigest()
    prefix = store.backend.key(f"{registry_id}/{model_name}/{DIRS}/{name}")
    await _bounded([partial(_copy, store, k, f"{prefix}/{f.path}", f.size) for k, f in resolved])
    return store.backend.uri(prefix), files


def directory_files(
    store: ArtifactStore, artifact_uri: str | None, recorded: Sequence[VersionFile]
) -> list[StoredFile]:
    """A directory version's files where the store keeps them (none when its
    ``artifactUri`` lies outside this store)."""
    prefix = store.backend.key_of(artifact_uri) if artifact_uri else None
    if prefix is None:
        return []
    return [StoredFile(f"{prefix}/{f.path}", f.path, f.digest, f.size) for f in recorded]
