"""The fake's HTTP side: bearer tokens, injected failures, and the openapi-core
checks of every request and response. See the package docstring."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openapi_core.testing import MockRequest, MockResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.unity_catalog.spec import BASE_PATH, SPEC_HOST, openapi
from tests.fakes.unity_catalog.store import HttpError, UnityCatalogStore

METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
ERROR_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class FakeUnityCatalog:
    """One Unity Catalog server, ``flavor`` "oss" or "databricks". Thread-safe: the
    server runs in its own thread while tests read and plant state."""

    root: Path
    flavor: str = "oss"
    tokens: set[str] = field(default_factory=set)
    forbidden_tokens: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.openapi = openapi(self.flavor)
        self.store = UnityCatalogStore(self.root, aliases_enabled=self.flavor == "databricks")

    # --- test switches --------------------------------------------------------

    def fail_next(self, *statuses: int, method: str | None = None) -> None:
        """Answer the next requests (of ``method``, if given) with these statuses."""
        with self.lock:
            self._failures.extend((s, method) for s in statuses)

    def reset_switches(self) -> None:
        with self.lock:
            self._failures.clear()
            self.forbidden_tokens.clear()

    # --- the app ----------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._endpoint, methods=METHODS)])

    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()
        query = dict(request.query_params)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = RecordedRequest(request.method, request.url.path, query, body)
        with self.lock:
            self.requests.append(record)
            status, payload = self._answer(request, raw, query, body)
        record.status = status
        return Response(json.dumps(payload), status_code=status, media_type="application/json")

    def _answer(self, request: Request, raw: bytes, query: dict[str, str], body: Any) -> tuple[int, Any]:
        path = request.url.path
        if not path.startswith(BASE_PATH + "/"):
            return 404, HttpError("NOT_FOUND", f"no route for {path}").body()
        headers = {k: v for k, v in request.headers.items()}
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if token and token in self.forbidden_tokens:
            return 403, HttpError("PERMISSION_DENIED", "the principal may not use this catalog").body()
        if self.tokens and token not in self.tokens:
            return 401, HttpError("UNAUTHENTICATED", "Invalid access token.").body()
        spec_request = MockRequest(
            SPEC_HOST,
            request.method.lower(),
            path,
            args=query,
            headers=headers,
            data=raw or None,
            content_type=headers.get("content-type", "application/json").split(";")[0],
        )
        try:
            self.openapi.validate_request(spec_request)
        except Exception as exc:  # any openapi-core error: the client broke the contract
            self.violations.append(f"request {request.method} {path}?{query} {body!r}: {_describe(exc)}")
            return 400, HttpError("INVALID_ARGUMENT", f"request violates the spec: {_describe(exc)}").body()
        if self._failures:
            status, method = self._failures[0]
            if method in (None, request.method):
                self._failures.pop(0)
                code = ERROR_CODES.get(status, "INTERNAL")
                return status, HttpError(code, "injected failure", status).body()
        try:
            payload = self.store.handle(request.method, path[len(BASE_PATH) :], query, body)
        except HttpError as exc:
            # The spec declares no error responses: the body is the server's
            # GlobalExceptionHandler shape, checked by the store, not by openapi-core.
            return exc.status, exc.body()
        response = MockResponse(json.dumps(payload).encode(), status_code=200)
        try:
            self.openapi.validate_response(spec_request, response)
        except Exception as exc:
            self.violations.append(f"response to {request.method} {path}: {_describe(exc)}")
            return 500, HttpError(
                "INTERNAL", f"the fake's response violates the spec: {_describe(exc)}"
            ).body()
        return 200, payload


def _describe(exc: BaseException) -> str:
    causes: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(causes) < 4:
        detail = getattr(current, "schema_errors", None)
        text = f"{type(current).__name__}: {current}"
        if detail:
            text += " [" + "; ".join(str(e.message) for e in list(detail)[:3]) + "]"
        causes.append(text)
        current = current.__cause__
    return " <- ".join(causes)
