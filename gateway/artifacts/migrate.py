"""Copying one artifact from where a version's record says it is into the
artifact store, with its digest checked on the way (``modelgate artifacts
migrate``; the records are rewritten by ``gateway.store.artifact_records``).

A source is a ``file://`` URI (the older local store, or any path on this
machine) or a key of another store (``--from URL``). The bytes stream through
``ArtifactStore.save`` (a staging object, renamed to the digest-named key only
when complete) while a second hash checks them against the digest the record
expects: a mismatch raises before the rename, so a corrupted source never
becomes an object. After the copy the object is read back and hashed again.
Nothing here deletes or changes the source.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import obstore
from obstore.exceptions import NotFoundError

from gateway.artifacts.backends import Backend
from gateway.artifacts.store import SAFE_NAME, ArtifactStore, check_path, read_range
from gateway.errors import BadInput

READ_BYTES = 8 * 1024 * 1024
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class MigrationFailed(Exception):
    """This artifact was not copied; the message says why (its source is untouched)."""


@dataclass(frozen=True)
class Source:
    """Where a version's artifact is now, and what it should hash to."""

    uri: str
    path: str  # the file's name inside the version ("model.bin")
    expected: str | None  # "sha256:<hex>", from the record or the old store's layout


@dataclass(frozen=True)
class Copied:
    uri: str
    digest: str
    size: int
    reused: bool  # the store held these bytes already (an earlier, interrupted run)


def expected_digest(uri: str, recorded: str | None) -> tuple[str, str | None]:
    """The file's name and the digest it must have: the record's, else the one its
    content-addressed path names (``…/<sha256>/<name>``, the older local layout).
    Both given and different: ``MigrationFailed``."""
    segments = [s for s in urlsplit(uri).path.split("/") if s]
    if not segments:
        raise MigrationFailed(f"{uri} names no file")
    name = unquote(segments[-1])
    from_path = f"sha256:{segments[-2]}" if len(segments) >= 2 and HEX64.match(segments[-2]) else None
    if recorded is not None and from_path is not None and recorded != from_path:
        raise MigrationFailed(f"the record says {recorded} but the path of {uri} names {from_path}")
    return name, recorded or from_path


class SourceReader:
    """Opens sources: ``file://`` paths on this machine, and keys of ``origin``
    (the ``--from`` store) when given."""

    def __init__(self, origin: Backend | None = None):
        self.origin = origin

    def handles(self, uri: str) -> bool:
        if self.origin is not None:
            return self.origin.key_of(uri) is not None
        return uri.startswith("file://")

    async def size(self, uri: str) -> int:
        try:
            if self.origin is not None:
                key = self._key(uri)
                return int((await obstore.head_async(self.origin.store, key))["size"])
            return (await asyncio.to_thread(_local_path(uri).stat)).st_size
        except (NotFoundError, FileNotFoundError):
            raise MigrationFailed(f"{uri} is missing") from None

    async def chunks(self, uri: str) -> AsyncIterator[bytes]:
        if self.origin is not None:
            try:
                result = await obstore.get_async(self.origin.store, self._key(uri))
            except (NotFoundError, FileNotFoundError):
                raise MigrationFailed(f"{uri} is missing") from None
            async for chunk in result.stream(min_chunk_size=READ_BYTES):
                yield bytes(chunk)
            return
        try:
            handle = await asyncio.to_thread(_local_path(uri).open, "rb")
        except FileNotFoundError:
            raise MigrationFailed(f"{uri} is missing") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, READ_BYTES):
                yield chunk
        finally:
            handle.close()

    def _key(self, uri: str) -> str:
        assert self.origin is not None
        key = self.origin.key_of(uri)
        if key is None:
            raise MigrationFailed(f"{uri} is not in the store {self.origin.root}/{self.origin.prefix}")
        return key


def _local_path(uri: str) -> Path:
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise MigrationFailed(f"{uri} is not a path on this machine")
    return Path(unquote(parts.path))


async def _checked(chunks: AsyncIterator[bytes], expected: str | None, uri: str) -> AsyncIterator[bytes]:
    """The chunks, unchanged; at their end a mismatch with ``expected`` raises,
    which aborts the upload they feed before anything becomes visible."""
    digest = hashlib.sha256()
    async for chunk in chunks:
        digest.update(chunk)
        yield chunk
    found = f"sha256:{digest.hexdigest()}"
    if expected is not None and found != expected:
        raise MigrationFailed(f"{uri} is corrupt: it hashes to {found}, the record expects {expected}")


async def verify_stored(store: ArtifactStore, key: str, digest: str) -> int:
    """Read the stored object back and hash it; its size, or ``MigrationFailed``."""
    try:
        size = int((await obstore.head_async(store.backend.store, key))["size"])
    except (NotFoundError, FileNotFoundError):
        raise MigrationFailed(f"{store.backend.uri(key)} is missing after the copy") from None
    hashed = hashlib.sha256()
    async for chunk in read_range(store, key, 0, size):
        hashed.update(chunk)
    if f"sha256:{hashed.hexdigest()}" != digest:
        raise MigrationFailed(f"{store.backend.uri(key)} does not hash to {digest} after the copy")
    return size


async def copy_verified(
    store: ArtifactStore, reader: SourceReader, registry_id: str, model_name: str, source: Source
) -> Copied:
    """Copy ``source`` to ``<registry>/<model>/<sha256>/<path>`` in ``store``, or
    find it there already (a run interrupted after its copy); verified either way."""
    if not SAFE_NAME.match(model_name):
        raise MigrationFailed(f"model name {model_name!r} cannot be a key in the store")
    try:
        check_path(source.path)
    except BadInput as exc:
        raise MigrationFailed(exc.message) from None
    if source.expected is not None:
        key = store.backend.key(f"{registry_id}/{model_name}/{source.expected[7:]}/{source.path}")
        try:
            size = await verify_stored(store, key, source.expected)
        except MigrationFailed:
            pass  # not there (or not those bytes): copy it
        else:
            return Copied(store.backend.uri(key), source.expected, size, reused=True)
    stored = await store.save(
        registry_id,
        model_name,
        source.path,
        _checked(reader.chunks(source.uri), source.expected, source.uri),
    )
    stored_key = store.backend.key_of(stored.uri)
    assert stored_key is not None  # save names a key of its own store
    size = await verify_stored(store, stored_key, stored.digest)
    return Copied(stored.uri, stored.digest, size, reused=False)
