"""Every HTTP error body the gateway sends, built here in the GraphQL shape:

    {"errors": [{"message": "...", "extensions": {"code": "...", "requestId": "..."}}]}

The request id is the one ``RequestContextMiddleware`` assigned (it is also the
``X-Request-Id`` response header and in the logs), so a client can quote it.
GraphQL execution errors are formatted by ``gateway.api.errors.format_error``
into the same shape; this module covers everything else: transport errors of
/graphql, REST downloads and exports, authentication, byte budgets, webhooks,
unknown routes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.errors import GatewayError

REQUEST_ID_HEADER = "x-request-id"

# The HTTP status of a GatewayError code on a REST route (anything else is a 500).
STATUS_OF_CODE = {
    "BAD_USER_INPUT": 400,
    "BAD_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "DIGEST_MISMATCH": 400,
    "STORE_UNAVAILABLE": 503,
}


def request_id_of(request: Request) -> str:
    """The id the middleware gave this request (a fresh one for an app without it)."""
    request_id: str | None = getattr(request.state, "request_id", None)
    if request_id is None:
        request_id = uuid.uuid4().hex
        request.state.request_id = request_id
    return request_id


def error_body(
    code: str, message: str, request_id: str, extensions: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON document of one error: ``extensions`` adds fields beside code and requestId."""
    return {
        "errors": [
            {"message": message, "extensions": {**(extensions or {}), "code": code, "requestId": request_id}}
        ]
    }


def error_bytes(
    code: str, message: str, request_id: str, extensions: Mapping[str, Any] | None = None
) -> bytes:
    """``error_body`` encoded, for raw ASGI middleware that sends before any route runs."""
    return json.dumps(error_body(code, message, request_id, extensions)).encode()


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An HTTP error response in the one shape, with the request id header set."""
    return JSONResponse(
        error_body(code, message, request_id, extensions),
        status_code=status,
        headers={**(headers or {}), REQUEST_ID_HEADER: request_id},
    )


def gateway_error_response(exc: GatewayError, request_id: str) -> JSONResponse:
    """A ``GatewayError`` raised by a REST route: its code, message and extensions."""
    extensions = exc.as_extensions()
    code = extensions.pop("code")
    return error_response(STATUS_OF_CODE.get(code, 500), code, exc.message, request_id, extensions=extensions)
