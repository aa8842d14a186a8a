"""Byte budgets of an HTTP request, enforced before anything works on it.

- ``HeaderBudget``: the request line and headers together (``[server]
  max_header_bytes``), as an ASGI middleware over ``scope``, so the limit holds
  whichever HTTP parser uvicorn runs (httptools, installed here, has no limit of
  its own; h11's ``h11_max_incomplete_event_size`` is set from it as well).
- ``read_limited_body``: a body by its ``Content-Length`` and again while it
  streams (a chunked body declares no length), for /graphql and webhooks.
- ``json_nesting``: the depth of a JSON text, measured on its bytes before it is
  decoded: Python's decoder recurses, and 20,000 levels would be a RecursionError.

Refusals are the one error shape of ``gateway.http_errors``: ``extensions.code``
``HEADERS_TOO_LARGE`` (431), ``PAYLOAD_TOO_LARGE`` (413), ``BAD_REQUEST`` (400).
"""

from __future__ import annotations

import json
import re
import uuid
from itertools import accumulate
from typing import Any

from starlette.requests import Request

from gateway.http_errors import REQUEST_ID_HEADER, error_bytes

HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"

# A JSON string, escapes included (unrolled, so the regex engine never backtracks).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def json_nesting(text: str | bytes, limit: int) -> int | None:
    """The nesting depth of JSON ``text`` if it exceeds ``limit``, else None.

    Linear and decoder-free: strings are cut out (a bracket in a string is not
    structure), then the brackets are counted. Malformed text is not judged
    here; the decoder refuses it afterwards."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    structure = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if structure.count(b"[") + structure.count(b"{") <= limit:
        return None  # cannot nest deeper than it has openings
    depth = max(accumulate(map(_STEP.__getitem__, structure)))
    return depth if depth > limit else None


def decode_json_within(text: str | bytes, max_depth: int) -> Any:
    """``json.loads`` after the nesting check; ``ValueError`` names what is wrong."""
    if (depth := json_nesting(text, max_depth)) is not None:
        raise ValueError(f"the JSON body nests {depth} levels deep, more than {max_depth}")
    try:
        return json.loads(text)
    except RecursionError:  # pragma: no cover - the nesting check comes first
        raise ValueError(f"the JSON body nests more than {max_depth} levels deep") from None


class PayloadTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The body, or ``PayloadTooLarge`` as soon as it is known to exceed ``limit``:
    from ``Content-Length`` before reading a byte, else while counting chunks. The
    body is kept on the request, so ``request.body()`` returns it afterwards."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(limit)
    request._body = bytes(body)  # what request.body() (and strawberry) return
    return request._body


def header_bytes(scope: dict[str, Any]) -> int:
    """The size of the request line and headers as they came over the wire (near enough:
    each header line is ``name: value\\r\\n``)."""
    size = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(scope.get("query_string", b""))
    for name, value in scope.get("headers", ()):
        size += len(name) + len(value) + 4
    return size


class HeaderBudget:
    """ASGI middleware: HTTP 431 for a request whose line and headers exceed ``limit``."""

    def __init__(self, app: Any, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or header_bytes(scope) <= self.limit:
            await self.app(scope, receive, send)
            return
        request_id = (scope.get("state") or {}).get("request_id") or uuid.uuid4().hex
        message = f"request line and headers exceed {self.limit} bytes"
        body = error_bytes(HEADERS_TOO_LARGE, message, request_id)
        await send(
            {
                "type": "http.response.start",
                "status": 431,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
