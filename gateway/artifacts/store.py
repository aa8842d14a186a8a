"""The artifact store: files of native registries' versions, in object storage.

Layout (keys under the configured prefix)::

    <registry>/<model>/<sha256>/<path>    a stored file: readable name, content-addressed
    <registry>/<model>/dirs/<sha256>/...  a directory version's files (``directories``)
    .uploads/<random>                     an upload in flight (S3/GCS/Azure: a multipart
                                          upload, invisible until completed)

An upload streams into a staging object while its sha256 is computed; only when
every byte has arrived is it renamed to the digest-named key. An upload that
declares its sha256 (``save(declared=)``) goes straight to that key instead, and
is verified before the store completes it (see ``_save_declared``). An interrupted
upload therefore never shows under a final key, and the same bytes uploaded
twice under the same name are kept once (the second rename finds the key there
and drops its copy).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import LocalStore

from gateway.artifacts.backends import Backend
from gateway.errors import BadInput, GatewayError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$")
# A path segment may also start with "_" (a model's code: __init__.py); never "."
# (no "..", no hidden files).
PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,255}$")
STAGING = ".uploads/"
# Multipart part size and parts in flight: an upload holds at most about
# PART_BYTES * (PARTS_IN_FLIGHT + 1) in memory, whatever the file's size.
PART_BYTES = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 4
HASH_BYTES = 1024 * 1024  # a piece hashed in a worker thread while the next arrives


async def _pieces(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """The stream regrouped into pieces of about ``size`` bytes (the last smaller):
    a server hands the body over in small chunks, too small to hand each to a thread."""
    held: list[bytes] = []
    count = 0
    async for chunk in chunks:
        held.append(chunk)
        count += len(chunk)
        if count >= size:
            yield b"".join(held)
            held, count = [], 0
    if held:
        yield b"".join(held)


class TooLarge(BadInput):
    code = "PAYLOAD_TOO_LARGE"


class StoreUnavailable(GatewayError):
    """The object store failed or timed out mid-upload; nothing was published."""

    code = "STORE_UNAVAILABLE"


class DigestMismatch(BadInput):
    """The body is not the bytes whose sha256 the client declared."""

    code = "DIGEST_MISMATCH"


@dataclass(frozen=True)
class StoredArtifact:
    uri: str
    digest: str  # "sha256:<hex>"
    size: int


def check_path(path: str) -> str:
    """A file's path inside a model directory: ``/``-separated safe names only
    (no ``..``, no empty or hidden segments)."""
    segments = path.split("/")
    if not path or len(path) > 1024 or not all(PATH_SEGMENT.match(s) for s in segments):
        raise BadInput(f"path {path!r} may use only letters, digits, '.', '_', '-' and '/' between names")
    return path


class ArtifactStore:
    def __init__(self, backend: Backend, *, max_bytes: int, presigned_seconds: int = 0):
        self.backend = backend
        self.max_bytes = max_bytes
        self.presigned_seconds = presigned_seconds

    async def save(
        self,
        registry_id: str,
        model_name: str,
        path: str,
        chunks: AsyncIterator[bytes],
        *,
        declared: str | None = None,
    ) -> StoredArtifact:
        """Store one file (see ``_save``). A store that fails or times out part-way
        answers ``STORE_UNAVAILABLE`` (retryable, nothing published), not a bare 500."""
        try:
            return await self._save(registry_id, model_name, path, chunks, declared=declared)
        except (BaseError, FileNotFoundError, TimeoutError) as exc:
            problem = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise StoreUnavailable(
                f"the model store did not complete the upload of {path!r} ({problem}); nothing was "
                "stored, try again"
            ) from exc

    async def _save(
        self,
        registry_id: str,
        model_name: str,
        path: str,
        chunks: AsyncIterator[bytes],
        *,
        declared: str | None = None,
    ) -> StoredArtifact:
        """Store one file. With ``declared`` (the hex sha256 the client says the
        bytes have) it is written straight to its final key, and verified as the
        last byte arrives, before the store completes the object: a body that is
        not those bytes raises ``DigestMismatch`` and leaves nothing visible."""
        if not SAFE_NAME.match(model_name):
            raise BadInput(f"model {model_name!r} may use only letters, digits, '.', '_' and '-'")
        check_path(path)
        digest = hashlib.sha256()
        size = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size
            # The sha256 of a piece runs in a worker thread (hashlib lets go of the
            # GIL) while the next piece is received and this one is sent: hashing
            # overlaps the transfer instead of stalling the event loop between them.
            loop = asyncio.get_running_loop()
            hashing: asyncio.Future[None] | None = None
            async for chunk in _pieces(chunks, HASH_BYTES):
                size += len(chunk)
                if size > self.max_bytes:
                    raise TooLarge(f"artifact larger than the limit of {self.max_bytes} bytes")
                if hashing is not None:
                    await hashing
                hashing = loop.run_in_executor(None, digest.update, chunk)
                yield chunk
            if hashing is not None:
                await hashing
            if declared is not None and digest.hexdigest() != declared:
                # Raised into the store's upload before it completes: the multipart
                # upload (or the local staging file) is aborted, never published.
                raise DigestMismatch(
                    f"the body's sha256 is {digest.hexdigest()}, not the declared {declared}",
                    declared=f"sha256:{declared}",
                    received=f"sha256:{digest.hexdigest()}",
                )

        if declared is not None:
            return await self._save_declared(registry_id, model_name, path, declared, counted(), lambda: size)
        store = self.backend.store
        staging = self.backend.key(f"{STAGING}{uuid.uuid4().hex}")
        try:
            await self._upload(staging, counted())
        except BaseException:
            await self._forget(staging)  # a multipart upload is aborted by the library
            raise
        final = self.backend.key(f"{registry_id}/{model_name}/{digest.hexdigest()}/{path}")
        try:
            if await self._exists(final):  # content-addressed: the same bytes are there already
                await obstore.delete_async(store, staging)
            else:
                await obstore.rename_async(store, staging, final)
        except BaseException:
            await self._forget(staging)
            raise
        return StoredArtifact(self.backend.uri(final), f"sha256:{digest.hexdigest()}", size)

    async def _save_declared(
        self,
        registry_id: str,
        model_name: str,
        path: str,
        declared: str,
        verified: AsyncIterator[bytes],
        size: Callable[[], int],
    ) -> StoredArtifact:
        """Straight to the content-addressed key: no staging copy (so no copy cost
        and no 5 GiB CopyObject limit on S3). The key is never deleted here: an
        object there was completed only after its bytes matched its name, by this
        upload or a concurrent one of the same content, so a refused body cannot
        take a correct object away. When the object is already there the body is
        read and checked all the same (the answer vouches for the client's bytes)
        but not written again."""
        final = self.backend.key(f"{registry_id}/{model_name}/{declared}/{path}")
        if await self._exists(final):
            async for _ in verified:
                pass
        else:
            await self._upload(final, verified)
        return StoredArtifact(self.backend.uri(final), f"sha256:{declared}", size())

    async def _upload(self, key: str, body: AsyncIterator[bytes]) -> None:
        """One PUT for a body no larger than a part (a model's small files: one
        request instead of a multipart upload's three), else a multipart upload
        (a part at a time: flat memory). Either way the object appears whole or
        not at all, and only once ``body`` has ended without raising."""
        first: list[bytes] = []
        held = 0
        async for piece in body:
            first.append(piece)
            held += len(piece)
            if held > PART_BYTES:
                break
        else:
            await obstore.put_async(self.backend.store, key, b"".join(first))
            return

        async def whole() -> AsyncIterator[bytes]:
            while first:  # handed on and let go: not held for the rest of the upload
                yield first.pop(0)
            async for piece in body:
                yield piece

        await obstore.put_async(
            self.backend.store,
            key,
            whole(),
            use_multipart=True,
            chunk_size=PART_BYTES,
            max_concurrency=PARTS_IN_FLIGHT,
        )

    async def _exists(self, key: str) -> bool:
        try:
            await obstore.head_async(self.backend.store, key)
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    async def _forget(self, key: str) -> None:
        with contextlib.suppress(Exception):  # best effort: staging keys are never served
            await obstore.delete_async(self.backend.store, key)


@dataclass(frozen=True)
class StoredFile:
    """One stored file of a version, as the store holds it."""

    key: str
    path: str  # inside the version ("model.bin", "tokenizer/vocab.txt")
    digest: str
    size: int


def _parse_key(backend: Backend, registry_id: str, model_name: str, key: str) -> tuple[str, str] | None:
    """``(hex digest, path)`` of a key under ``<registry>/<model>/<sha256>/``, else None."""
    start = backend.key(f"{registry_id}/{model_name}/")
    if not key.startswith(start):
        return None
    hexdigest, _, path = key[len(start) :].partition("/")
    if len(hexdigest) != 64 or not path:
        return None
    return hexdigest, path


async def _stat(store: ArtifactStore, key: str) -> int | None:
    try:
        return int((await obstore.head_async(store.backend.store, key))["size"])
    except (NotFoundError, FileNotFoundError):
        return None


async def version_files(
    store: ArtifactStore, registry_id: str, model_name: str, artifact_uri: str | None
) -> list[StoredFile]:
    """The stored files of a version whose artifact is ``artifact_uri``: the one
    file, when it is a file this store keeps for this very model (a URI pointing
    into another model's files, or outside the store, gives none)."""
    key = store.backend.key_of(artifact_uri) if artifact_uri else None
    parsed = _parse_key(store.backend, registry_id, model_name, key) if key else None
    if key is None or parsed is None:
        return []
    size = await _stat(store, key)
    return [] if size is None else [StoredFile(key, parsed[1], f"sha256:{parsed[0]}", size)]


async def version_file(
    store: ArtifactStore, registry_id: str, model_name: str, artifact_uri: str | None, path: str
) -> StoredFile | None:
    """The file ``path`` of a version (see ``version_files``), else None."""
    found = await version_files(store, registry_id, model_name, artifact_uri)
    return next((f for f in found if f.path == path), None)


async def signed_url(store: ArtifactStore, file: StoredFile) -> tuple[str, datetime] | None:
    """A URL the store itself serves ``file`` at, valid ``presigned_seconds``, and
    its expiry; None where the store does not sign or signing is off."""
    backend = store.backend.store
    if isinstance(backend, LocalStore) or store.presigned_seconds <= 0:
        return None
    lifetime = timedelta(seconds=store.presigned_seconds)
    expires = datetime.now(UTC) + lifetime
    return await obstore.sign_async(backend, "GET", file.key, lifetime), expires


async def read_range(store: ArtifactStore, key: str, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes ``[start, end)`` of a stored object, streamed as the store sends them."""
    if end <= start:
        return
    result = await obstore.get_async(store.backend.store, key, options={"range": (start, end)})
    async for chunk in result.stream(min_chunk_size=1024 * 1024):
        yield bytes(chunk)
