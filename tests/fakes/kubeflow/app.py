"""The fake's HTTP side: routing by API generation, bearer tokens, injected
failures, and the openapi-core checks of every request and response.

See the package docstring for what is faithful and what is not.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.kubeflow.store import HttpError, RegistryStore

SPEC_FILE = Path(__file__).with_name("model-registry.yaml")
PREFIX = "/api/model_registry/"
SPEC_GENERATION = "v1alpha3"
GENERATIONS = ("v1", "v1alpha3")
SPEC_HOST = "http://localhost:8080"  # a server the spec lists: openapi-core matches on it
# Where the published spec and the server disagree, the fake answers as the
# server (and the real client expects): POST inference_services answers 201
# Created (internal/server/openapi/api_model_registry_service_service.go), the
# spec lists only 200. Such a response is validated as the spec's 200, whose
# body schema is the same.
SPEC_ERRATA = {("post", f"{PREFIX}{SPEC_GENERATION}/inference_services"): (201, 200)}
PROXY_FORBIDDEN = "Forbidden (user=system:serviceaccount:ml:modelgate, verb=get, resource=services)\n"


@dataclass
class RecordedRequest:
    method: str
    path: str  # as sent, with its generation prefix
    query: dict[str, str]
    body: Any
    status: int = 0
    generation: str | None = None


@dataclass
class FakeKubeflow:
    """The served registry (``store``) behind the spec checks. Thread-safe: the
    server runs in its own thread while tests read and plant state."""

    tokens: set[str] = field(default_factory=set)
    forbidden_tokens: set[str] = field(default_factory=set)
    generations: set[str] = field(default_factory=lambda: set(GENERATIONS))
    store: RegistryStore = field(default_factory=RegistryStore)
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.openapi = OpenAPI.from_file_path(str(SPEC_FILE))
        self._spec = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
        self._templates = _templates(self._spec)

    # --- test switches --------------------------------------------------------

    def fail_next(self, *statuses: int, method: str | None = None) -> None:
        """Answer the next requests (of ``method``, if given) with these statuses."""
        with self.lock:
            self._failures.extend((s, method) for s in statuses)

    def reset_switches(self) -> None:
        with self.lock:
            self._failures.clear()
            self.forbidden_tokens.clear()
            self.generations = set(GENERATIONS)

    # --- the app ----------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST", "PATCH"])])

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
            status, payload = self._answer(request, raw, query, body, record)
        record.status = status
        if payload is None:  # a path of no generation the fake serves, as Go's mux answers it
            return Response("404 page not found\n", status_code=404, media_type="text/plain")
        if payload is PROXY_FORBIDDEN:
            return Response(PROXY_FORBIDDEN, status_code=403, media_type="text/plain")
        return Response(json.dumps(payload), status_code=status, media_type="application/json")

    def _answer(
        self, request: Request, raw: bytes, query: dict[str, str], body: Any, record: RecordedRequest
    ) -> tuple[int, Any]:
        path = request.url.path
        match = re.match(rf"^{PREFIX}([^/]+)/(.+)$", path)
        if not match or match.group(1) not in self.generations:
            return 404, None
        record.generation = match.group(1)
        spec_path = f"{PREFIX}{SPEC_GENERATION}/{match.group(2)}"
        template = self._template_for(spec_path, request.method)
        if template is None:
            self.violations.append(f"{request.method} {path}: no such operation in the spec")
            return 404, None
        headers = {k: v for k, v in request.headers.items()}
        if (denied := self._check_token(headers)) is not None:
            if denied[0] == 403:
                # Refusals of a token that authenticates come from the proxy in front
                # of the server (kube-rbac-proxy, Istio), in plain text: not the spec's.
                record.generation = None
                return 403, PROXY_FORBIDDEN
            return self._respond(request.method, spec_path, raw, query, headers, *denied)
        if self._failures:
            status, method = self._failures[0]
            if method in (None, request.method):
                self._failures.pop(0)
                return self._respond(
                    request.method, spec_path, raw, query, headers, status, _error(status, "injected failure")
                )
        spec_request = MockRequest(
            SPEC_HOST,
            request.method.lower(),
            spec_path,
            args=query,
            headers=headers,
            data=raw or None,
            content_type=request.headers.get("content-type", "application/json").split(";")[0],
        )
        try:
            self.openapi.validate_request(spec_request)
        except Exception as exc:  # any openapi-core error: the client broke the contract
            self.violations.append(f"request {request.method} {path}?{query} {body!r}: {_describe(exc)}")
            return 500, _error(500, f"request violates the spec: {_describe(exc)}")
        try:
            status, payload = self.store.handle(request.method, match.group(2), query, body)
        except HttpError as exc:
            status, payload = exc.status, _error(exc.status, exc.message)
        return self._respond(request.method, spec_path, raw, query, headers, status, payload, spec_request)

    def _respond(
        self,
        method: str,
        spec_path: str,
        raw: bytes,
        query: dict[str, str],
        headers: dict[str, str],
        status: int,
        payload: Any,
        spec_request: MockRequest | None = None,
    ) -> tuple[int, Any]:
        spec_request = spec_request or MockRequest(
            SPEC_HOST, method.lower(), spec_path, args=query, headers=headers, data=raw or None
        )
        sent, listed = SPEC_ERRATA.get((method.lower(), spec_path), (None, None))
        checked = listed if status == sent and listed is not None else status
        response = MockResponse(json.dumps(payload).encode(), status_code=checked)
        try:
            self.openapi.validate_response(spec_request, response)
        except Exception as exc:
            if status == 401 and "Security" in type(exc).__name__:
                return status, payload  # the request was refused for its credentials, as intended
            self.violations.append(f"response {status} to {method} {spec_path}: {_describe(exc)}")
            return 500, _error(500, f"the fake's response violates the spec: {_describe(exc)}")
        return status, payload

    def _check_token(self, headers: dict[str, str]) -> tuple[int, Any] | None:
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if token and token in self.forbidden_tokens:
            return 403, _error(403, "the token's subject may not use this registry")
        if self.tokens and token not in self.tokens:
            return 401, _error(401, "missing or invalid bearer token")
        return None

    def _template_for(self, spec_path: str, method: str) -> str | None:
        for template, (pattern, methods) in self._templates.items():
            if pattern.match(spec_path) and method.lower() in methods:
                return template
        return None


def _error(status: int, message: str) -> dict[str, str]:
    return {"code": str(status), "message": message}


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


def _templates(spec: dict[str, Any]) -> dict[str, tuple[re.Pattern[str], set[str]]]:
    """Each spec path as a regex, with the methods it has."""
    found = {}
    for template, item in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        found[template] = (pattern, {m for m in item if m in ("get", "post", "patch", "put", "delete")})
    return found
