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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, urlsplit

from modelgate_client.errors import ConnectionFailed, DigestMismatch, ModelgateError
from modelgate_client.progress import Progress
from modelgate_client.results import UploadedFile
from modelgate_client.session import USER_AGENT

if TYPE_CHECKING:
    import ssl

    import httpx

    from modelgate_client.session import Session

CHUNK = 1024 * 1024
# Downloads read into a ring of buffers that a writer thread hashes and writes.
BUFFERS = 8
BUFFER_BYTES = 1024 * 1024
HTTPX_CHUNK = 128 * 1024  # httpx hands over at most what one socket read brings
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
    progress.start(label, size)
    try:
        headers = {**session.auth_headers(url), "user-agent": USER_AGENT, "accept-encoding": "identity"}
        if _direct(url):
            received = _fetch_stdlib(session, url, headers, temporary, hasher, progress, label)
        else:
            received = _fetch_httpx(session, url, headers, temporary, hasher, progress, label)
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


def _direct(url: str) -> bool:
    """True when no proxy from the environment applies to ``url``."""
    import urllib.request

    parts = urlsplit(url)
    if parts.scheme not in urllib.request.getproxies():
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname or ""))


def _fetch_stdlib(
    session: Session,
    url: str,
    headers: dict[str, str],
    temporary: Path,
    hasher: Any,
    progress: Progress,
    label: str,
) -> int:
    """The body through the standard library's ``http.client``, read with
    ``readinto`` straight into reused buffers. One stream of httpx's pure-Python
    HTTP/1.1 parser costs about twice the CPU per byte, which shows on a large pull."""
    import http.client

    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=TRANSFER_TIMEOUT, context=_ssl_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TRANSFER_TIMEOUT)
    try:
        try:
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            if response.status != 200:
                raise _answer_error(
                    session, url, response.status, dict(response.getheaders()), response.read(65536)
                )
            with temporary.open("wb") as out:
                return _pump(response.readinto, out, hasher, progress)
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionFailed(
                "CONNECTION_FAILED", f"downloading {label} from {parts.netloc}: {exc}"
            ) from None
    finally:
        connection.close()


def _fetch_httpx(
    session: Session,
    url: str,
    headers: dict[str, str],
    temporary: Path,
    hasher: Any,
    progress: Progress,
    label: str,
) -> int:
    """The body through httpx, which honours the environment's proxies."""
    with (
        session.call(f"GET {label}"),
        session.http.stream("GET", url, headers=headers, timeout=TRANSFER_TIMEOUT) as response,
    ):
        if response.status_code != 200:
            response.read()
            raise session.http_error(response, _json_or_none(response))
        stream = response.iter_raw()
        pending = b""

        def readinto(buffer: memoryview) -> int:
            nonlocal pending
            chunk = pending or next(stream, b"")
            n = min(len(chunk), len(buffer))
            buffer[:n] = chunk[:n]
            pending = chunk[n:]
            return n

        with temporary.open("wb") as out:
            return _pump(readinto, out, hasher, progress, buffer_bytes=HTTPX_CHUNK)


def _ssl_context() -> ssl.SSLContext:
    """Trust what httpx trusts: SSL_CERT_FILE if set, else certifi's bundle."""
    import ssl

    cafile = os.environ.get("SSL_CERT_FILE")
    if not cafile:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:
            cafile = None
    return ssl.create_default_context(cafile=cafile)


def _answer_error(
    session: Session, url: str, status: int, headers: dict[str, str], body: bytes
) -> ModelgateError:
    import httpx

    response = httpx.Response(status, headers=headers, content=body, request=httpx.Request("GET", url))
    return session.http_error(response, _json_or_none(response))


def _pump(
    readinto: Callable[[memoryview], int | None],
    out: BinaryIO,
    hasher: Any,
    progress: Progress,
    *,
    buffer_bytes: int = BUFFER_BYTES,
) -> int:
    """Read into a ring of buffers on this thread; hash and write them on a
    second one. hashlib and file writes release the GIL, so reading the network,
    hashing and writing overlap."""
    free: Queue[bytearray] = Queue()
    for _ in range(BUFFERS):
        free.put(bytearray(buffer_bytes))
    filled: Queue[tuple[bytearray, int] | None] = Queue()
    failure: list[BaseException] = []

    def writer() -> None:
        while (item := filled.get()) is not None:
            buffer, n = item
            if not failure:
                try:
                    view = memoryview(buffer)[:n]
                    hasher.update(view)
                    out.write(view)
                except OSError as exc:  # the disk, not the network
                    failure.append(ModelgateError("WRITE_FAILED", f"cannot write {out.name}: {exc}"))
            free.put(buffer)

    thread = threading.Thread(target=writer, name="modelgate-download-writer", daemon=True)
    thread.start()
    received = 0
    try:
        while not failure:
            buffer = free.get()
            n = readinto(memoryview(buffer)) or 0
            if n == 0:
                break
            received += n
            filled.put((buffer, n))
            progress.advance(n)
    finally:
        filled.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return received


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
