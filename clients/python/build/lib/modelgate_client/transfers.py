"""Moving bytes: uploads into the model store and downloads out of it, streamed
(a file is never held in memory) and checked against sha256 digests.

An upload hashes the file while it streams and compares the digest the gateway
answers with its own: what was registered is what left this machine. A download
writes to a temporary file beside its destination and renames it only once its
digest matches; a mismatch deletes it and raises ``DigestMismatch``, so a
half-written or altered file never appears under the real name.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from modelgate_client.errors import DigestMismatch, ModelgateError
from modelgate_client.progress import Progress
from modelgate_client.results import UploadedFile

if TYPE_CHECKING:
    import httpx

    from modelgate_client.session import Session

CHUNK = 1024 * 1024
# Downloads hand chunks to a writer thread (hashing and disk writes overlap the
# network); at most this many chunks wait in between.
QUEUED_CHUNKS = 16
# Transfers of large files: no read deadline per chunk beyond this.
TRANSFER_TIMEOUT = 300.0


@dataclass(frozen=True)
class LocalFile:
    """A file to upload and the path it takes inside the version."""

    source: Path
    path: str  # "/"-separated


def collect_files(paths: list[str | os.PathLike[str]]) -> tuple[list[LocalFile], bool]:
    """The files to upload, and whether a directory was given (then the version is
    a directory). A file keeps its name; a directory's files keep their path
    under it. Hidden files and directories (``.git``, ``.DS_Store``) are left out:
    the store refuses hidden names."""
    found: list[LocalFile] = []
    directory = False
    for given in paths:
        root = Path(given)
        if root.is_dir():
            directory = True
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    source = Path(dirpath) / name
                    found.append(LocalFile(source, source.relative_to(root).as_posix()))
        elif root.is_file():
            found.append(LocalFile(root, root.name))
        else:
            raise ModelgateError("BAD_USER_INPUT", f"{given}: no such file or directory")
    if not found:
        raise ModelgateError("BAD_USER_INPUT", "nothing to upload: the directories given hold no files")
    seen: dict[str, Path] = {}
    for f in found:
        if f.path in seen:
            raise ModelgateError(
                "BAD_USER_INPUT", f"{f.source} and {seen[f.path]} would both be {f.path!r} in the version"
            )
        seen[f.path] = f.source
    return found, directory


def upload(session: Session, registry: str, model: str, file: LocalFile, progress: Progress) -> UploadedFile:
    """``PUT /artifacts/{registry}/{model}/{path}``, streamed; the answered digest
    must be the sha256 computed here while sending."""
    digest = hashlib.sha256()
    size = file.source.stat().st_size

    def body() -> Iterator[bytes]:
        with file.source.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                progress.advance(len(chunk))
                yield chunk

    route = f"/artifacts/{quote(registry, safe='')}/{quote(model, safe='')}/{quote(file.path, safe='/')}"
    progress.start(file.path, size)
    try:
        with session.call(f"PUT {route}"):
            response = session.http.put(
                route,
                content=body(),
                headers={**session.auth_headers(), "content-length": str(size)},
                timeout=TRANSFER_TIMEOUT,
            )
    finally:
        progress.finish()
    answer = session.decode(response)
    local = f"sha256:{digest.hexdigest()}"
    if answer.get("digest") != local or answer.get("size") != size:
        raise DigestMismatch(
            "DIGEST_MISMATCH",
            f"{file.source}: the gateway stored {answer.get('digest')} ({answer.get('size')} bytes) but "
            f"this file is {local} ({size} bytes); it changed while uploading or was altered on the way",
        )
    return UploadedFile(path=file.path, uri=str(answer["uri"]), digest=local, size=size)


def safe_destination(root: Path, path: str) -> Path:
    """Where a version's file goes under ``root``; a path that would leave it is refused."""
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise ModelgateError("BAD_ANSWER", f"the gateway named an unsafe file path {path!r}")
    return root.joinpath(*parts)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def download(
    session: Session, url: str, destination: Path, digest: str, size: int, label: str, progress: Progress
) -> None:
    """Fetch ``url`` into ``destination``, verified against ``digest`` and ``size``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.{threading.get_ident()}.part")
    hasher = hashlib.sha256()
    received = 0
    progress.start(label, size)
    try:
        with (
            session.call(f"GET {label}"),
            session.http.stream(
                "GET", url, headers=session.auth_headers(url), timeout=TRANSFER_TIMEOUT
            ) as response,
        ):
            if response.status_code != 200:
                response.read()
                raise session.http_error(response, _json_or_none(response))
            with temporary.open("wb") as out:
                received = _write_verified(response.iter_bytes(CHUNK), out, hasher, progress)
        got = f"sha256:{hasher.hexdigest()}"
        if got != digest or received != size:
            raise DigestMismatch(
                "DIGEST_MISMATCH",
                f"{label}: received {received} bytes with {got}, but the version records {size} bytes "
                f"with {digest}; nothing was written",
            )
        os.replace(temporary, destination)
    finally:
        progress.finish()
        temporary.unlink(missing_ok=True)


def _write_verified(chunks: Iterator[bytes], out: BinaryIO, hasher: Any, progress: Progress) -> int:
    """Write and hash the chunks on a second thread while this one reads the
    network: hashlib and file writes release the GIL, so both run at once."""
    queue: Queue[bytes | None] = Queue(QUEUED_CHUNKS)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (chunk := queue.get()) is not None:
                hasher.update(chunk)
                out.write(chunk)
        except BaseException as exc:  # reported to the reading thread
            failure.append(exc)
            while queue.get() is not None:  # drain so the reader never blocks
                pass

    thread = threading.Thread(target=writer, name="modelgate-download-writer", daemon=True)
    thread.start()
    received = 0
    try:
        for chunk in chunks:
            received += len(chunk)
            queue.put(chunk)
            progress.advance(len(chunk))
    finally:
        queue.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return received


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
