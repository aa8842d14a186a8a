"""Moving a stored file to a colder storage class, in place, digest-checked.

obstore (``object_store``) sets a class only when it writes an object: its
``Storage-Class`` attribute becomes S3's ``x-amz-storage-class``, GCS's
``x-goog-storage-class`` and Azure's ``x-ms-access-tier``. Its copy takes no
attributes, and no server-side ``CopyObject`` with a new class is exposed. So
a file is rewritten under its own key: its bytes stream out of the store and
back in (a multipart upload, flat memory) with the new class, hashed on the way.
The object is replaced only when the upload completes, and a hash that differs
from the digest its key names aborts the upload first: the old object then stays
as it was. The same key, the same bytes: every record that names the file still
does, so nothing a version references is ever deleted.

The class is also written as the object's metadata ``modelgatestorageclass``,
which a read returns (obstore does not return the class itself): a file already
carrying the wanted class is skipped, which makes a rerun cheap.

``file://`` stores have no classes: callers report that and do nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore

from gateway.artifacts.store import PART_BYTES, PARTS_IN_FLIGHT, ArtifactStore, StoredFile, read_range

# Letters only: Azure metadata names must be identifiers, and proxies may drop "_" headers.
MARKER = "modelgatestorageclass"


class TieringFailed(Exception):
    """The file was left as it was; the message says why."""


@dataclass(frozen=True)
class Tiered:
    key: str
    storage_class: str
    size: int
    moved: bool  # False: it had the class already


def has_classes(store: ArtifactStore) -> bool:
    return not isinstance(store.backend.store, LocalStore)


async def storage_class_of(store: ArtifactStore, key: str) -> str | None:
    """The class modelgate last gave this object (its marker), or None."""
    try:
        result = await obstore.get_async(store.backend.store, key, options={"head": True})
    except (NotFoundError, FileNotFoundError):
        raise TieringFailed(f"{store.backend.uri(key)} is missing") from None
    return result.attributes.get(MARKER)


async def _checked(chunks: AsyncIterator[bytes], digest: str, uri: str) -> AsyncIterator[bytes]:
    hashed = hashlib.sha256()
    async for chunk in chunks:
        hashed.update(chunk)
        yield chunk
    if f"sha256:{hashed.hexdigest()}" != digest:
        # Raised before the upload completes: the object in the store is untouched.
        raise TieringFailed(f"{uri} does not hash to {digest}; left as it was")


async def move_to_class(store: ArtifactStore, file: StoredFile, storage_class: str) -> Tiered:
    """Give ``file`` the class ``storage_class``, verifying its digest on the way."""
    if await storage_class_of(store, file.key) == storage_class:
        return Tiered(file.key, storage_class, file.size, moved=False)
    uri = store.backend.uri(file.key)
    await obstore.put_async(
        store.backend.store,
        file.key,
        _checked(read_range(store, file.key, 0, file.size), file.digest, uri),
        attributes={"Storage-Class": storage_class, MARKER: storage_class},
        use_multipart=True,
        chunk_size=PART_BYTES,
        max_concurrency=PARTS_IN_FLIGHT,
    )
    head = await obstore.head_async(store.backend.store, file.key)
    if int(head["size"]) != file.size:
        raise TieringFailed(f"{uri} has {head['size']} bytes after the move, not {file.size}")
    return Tiered(file.key, storage_class, file.size, moved=True)
