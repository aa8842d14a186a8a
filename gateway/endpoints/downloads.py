"""``GET /artifacts/{registry}/{model}/{version}/{path}``: one file of a native
version, streamed from the artifact store, with ``ETag`` (the file's digest,
which a client checks the bytes against) and single-range ``Range`` requests.
``HEAD`` answers the same status and headers with no body (and reads nothing
from the store).

The version passes the catalogue's visibility gate first: a version the caller
may not see answers 404 ``NOT_FOUND`` exactly as an absent one does, and so
does a path that is not one of its files."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.artifacts.store import StoredFile, read_range
from gateway.catalogue.refs import resolve_version_uri
from gateway.domain import version_segment_uri
from gateway.endpoints import gateway_of
from gateway.endpoints.reports import content_disposition
from gateway.errors import GatewayError, NotFound
from gateway.http_auth import current_principal
from gateway.http_errors import error_response, gateway_error_response, request_id_of

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single ``Range: bytes=…`` (RFC 9110 §14.1.2); None
    for no header or a form not served as a range (several ranges: the whole
    file); ``(-1, -1)`` for an unsatisfiable one."""
    match = RANGE.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        return (max(size - n, 0), size) if n > 0 and size > 0 else (-1, -1)
    start = int(first)
    if start >= size:
        return (-1, -1)
    end = min(int(last) + 1, size) if last else size
    return (start, end) if end > start else (-1, -1)


async def download_artifact(request: Request) -> Response:
    response = await _answer(request)
    if request.method == "HEAD":  # the GET's status and headers (Content-Length included), no body
        return Response(status_code=response.status_code, headers=dict(response.headers))
    return response


async def _answer(request: Request) -> Response:
    request_id = request_id_of(request)
    gw = gateway_of(request)
    p = request.path_params
    # The version segment may be a reference (``@production``): the file of the version
    # holding it now, named in Content-Location.
    uri = version_segment_uri(p["registry"], p["model"], p["version"])
    try:
        access = gw.access(await current_principal(request))
        if p["version"].startswith("@"):
            uri = await resolve_version_uri(gw.index, uri, access.visibility, field="version")
        version = await access.visible_version(gw.index, uri)
        found: StoredFile | None = next(
            (f for f in await gw.stored_files(version) if f.path == p["path"]), None
        )
        if found is None:
            raise NotFound(f"no file {p['path']!r} in {uri}")
    except GatewayError as exc:
        if exc.code == "BAD_USER_INPUT":  # a malformed version name is an absent one here
            return error_response(404, "NOT_FOUND", f"no version {uri} in the catalogue", request_id)
        return gateway_error_response(exc, request_id)
    etag = f'"{found.digest}"'
    headers = {
        "etag": etag,
        "accept-ranges": "bytes",
        "content-disposition": content_disposition(found.path.rsplit("/", 1)[-1]),
        "x-content-digest": found.digest,
    }
    if p["version"].startswith("@"):
        headers["content-location"] = f"/artifacts/{p['registry']}/{p['model']}/{version.version}/{p['path']}"
        headers["x-modelgate-version"] = version.uri
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    wanted = byte_range(request.headers.get("range"), found.size)
    if_range = request.headers.get("if-range")
    if wanted is not None and if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's copy is of other bytes: send the whole file
    if wanted == (-1, -1):
        return error_response(
            416,
            "RANGE_NOT_SATISFIABLE",
            f"the range lies outside the file's {found.size} bytes",
            request_id,
            headers={**headers, "content-range": f"bytes */{found.size}"},
        )
    start, end = wanted or (0, found.size)
    if wanted is not None:
        headers["content-range"] = f"bytes {start}-{end - 1}/{found.size}"
    headers["content-length"] = str(end - start)
    return StreamingResponse(
        read_range(gw.artifacts, found.key, start, end),
        status_code=206 if wanted is not None else 200,
        media_type="application/octet-stream",
        headers=headers,
    )
