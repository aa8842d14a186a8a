"""The fake's Starlette app, its in-memory store, and the openapi-core checks.

See the package docstring for what is faithful and what is not.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
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

from tests.fakes.kubeflow.filters import FilterError, parse

SPEC_FILE = Path(__file__).with_name("model-registry.yaml")
PREFIX = "/api/model_registry/"
SPEC_GENERATION = "v1alpha3"
GENERATIONS = ("v1", "v1alpha3")
SPEC_HOST = "http://localhost:8080"  # a server the spec lists: openapi-core matches on it
DEFAULT_PAGE_SIZE = 100
ORDER_FIELDS = {
    "ID": "id",
    "CREATE_TIME": "createTimeSinceEpoch",
    "LAST_UPDATE_TIME": "lastUpdateTimeSinceEpoch",
}
CONTEXTS = ("registered_models", "model_versions", "serving_environments", "inference_services")
# The spec's artifact-type-specific collections, and the artifactType they hold.
TYPED_ARTIFACTS = {"model_artifacts": "model-artifact"}
FINDS = {
    "registered_model": "registered_models",
    "model_version": "model_versions",
    "serving_environment": "serving_environments",
    "inference_service": "inference_services",
    "model_artifact": "model_artifacts",
    "artifact": "artifacts",
}
# Which context a child collection's parent id names, and the field that links them.
CHILDREN = {
    ("registered_models", "versions"): ("model_versions", "registeredModelId"),
    ("serving_environments", "inference_services"): ("inference_services", "servingEnvironmentId"),
}
# Where the published spec and the server disagree, the fake answers as the
# server (and the real client expects): POST inference_services answers 201
# Created (internal/server/openapi/api_model_registry_service_service.go), the
# spec lists only 200. Such a response is validated as the spec's 200, whose
# body schema is the same.
SPEC_ERRATA = {("post", f"{PREFIX}{SPEC_GENERATION}/inference_services"): (201, 200)}
PROXY_FORBIDDEN = "Forbidden (user=system:serviceaccount:ml:modelgate, verb=get, resource=services)\n"
# Fields the server owns: a client's value is ignored on create and update.
SERVER_FIELDS = ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")


@dataclass
class RecordedRequest:
    method: str
    path: str  # as sent, with its generation prefix
    query: dict[str, str]
    body: Any
    status: int = 0
    generation: str | None = None


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class FakeKubeflow:
    """The in-memory registry. Thread-safe: tests seed it from their own thread."""

    tokens: set[str] = field(default_factory=set)
    forbidden_tokens: set[str] = field(default_factory=set)
    generations: set[str] = field(default_factory=lambda: set(GENERATIONS))
    clock: Callable[[], float] = time.time
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _store: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _version_artifacts: dict[str, list[str]] = field(default_factory=dict)
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    _next_context: int = 1
    _next_artifact: int = 1
    _last_ms: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.openapi = OpenAPI.from_file_path(str(SPEC_FILE))
        self._spec = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
        self._templates = _templates(self._spec)
        for collection in (*CONTEXTS, "artifacts"):
            self._store[collection] = {}

    # --- test switches --------------------------------------------------------

    def fail_next(self, *statuses: int, method: str | None = None) -> None:
        """Answer the next requests (of ``method``, if given) with these statuses."""
        with self._lock:
            self._failures.extend((s, method) for s in statuses)

    def reset_switches(self) -> None:
        with self._lock:
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
        with self._lock:
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
            status, payload = self._handle(request.method, match.group(2), query, body)
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

    # --- the registry -------------------------------------------------------------

    def _handle(self, method: str, rest: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = rest.split("/")
        if len(parts) == 1 and parts[0] in FINDS:
            return 200, self._find(parts[0], query)
        collection = parts[0]
        if len(parts) == 1:
            if method == "GET":
                return 200, self._list(self._items(collection), query)
            return 201, self._create(collection, body or {})
        entity_id = parts[1]
        if len(parts) == 2:
            entity = self._get(collection, entity_id)
            if method == "PATCH":
                return 200, self._patch(collection, entity, body or {})
            return 200, entity
        parent = self._get(collection, entity_id)
        child = parts[2]
        if collection == "model_versions" and child == "artifacts":
            if method == "GET":
                items = [self._store["artifacts"][a] for a in self._version_artifacts.get(parent["id"], [])]
                if kind := query.get("artifactType"):
                    items = [a for a in items if a.get("artifactType") == kind]
                return 200, self._list(items, query)
            return self._upsert_version_artifact(parent, body or {})
        if (collection, child) in CHILDREN:
            target, link = CHILDREN[(collection, child)]
            if method == "GET":
                items = [e for e in self._store[target].values() if e.get(link) == parent["id"]]
                return 200, self._list(items, query)
            return 201, self._create(target, {**(body or {}), link: parent["id"]})
        if collection == "inference_services" and child == "model":
            return 200, self._get("registered_models", parent["registeredModelId"])
        raise HttpError(404, f"{rest} is not served by the fake")

    def _items(self, collection: str) -> list[dict[str, Any]]:
        if collection in TYPED_ARTIFACTS:
            kind = TYPED_ARTIFACTS[collection]
            return [a for a in self._store["artifacts"].values() if a.get("artifactType") == kind]
        if collection not in self._store:
            raise HttpError(404, f"{collection} is not served by the fake")
        return list(self._store[collection].values())

    def _get(self, collection: str, entity_id: str) -> dict[str, Any]:
        store = "artifacts" if collection in TYPED_ARTIFACTS else collection
        entity = self._store.get(store, {}).get(entity_id)
        if entity is None or (
            collection in TYPED_ARTIFACTS and entity.get("artifactType") != TYPED_ARTIFACTS[collection]
        ):
            raise HttpError(404, f"no {collection[:-1].replace('_', ' ')} with id {entity_id}")
        return entity

    def _find(self, kind: str, query: dict[str, str]) -> dict[str, Any]:
        collection = FINDS[kind]
        name, external_id, parent = query.get("name"), query.get("externalId"), query.get("parentResourceId")
        if not name and not external_id:
            raise HttpError(400, "either name or externalId is required")
        if name and collection == "model_versions" and not parent:
            raise HttpError(400, "a model version name is only unique with parentResourceId")
        for entity in self._items(collection):
            if external_id and entity.get("externalId") != external_id:
                continue
            if name and entity.get("name") != name:
                continue
            if parent and collection == "model_versions" and entity.get("registeredModelId") != parent:
                continue
            return entity
        raise HttpError(404, f"no {kind.replace('_', ' ')} matches {query}")

    def _list(self, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        size = int(query.get("pageSize") or DEFAULT_PAGE_SIZE)
        order = ORDER_FIELDS.get(query.get("orderBy") or "ID")
        if order is None:
            raise HttpError(400, f"cannot order by {query.get('orderBy')!r}")
        descending = (query.get("sortOrder") or "ASC") == "DESC"
        if query.get("filterQuery"):
            try:
                predicate = parse(query["filterQuery"])
            except FilterError as exc:
                raise HttpError(400, str(exc)) from None
            items = [i for i in items if predicate(i)]

        def key(item: dict[str, Any]) -> tuple[int, int]:
            return int(item.get(order) or 0), int(item["id"])

        ordered = sorted(items, key=key, reverse=descending)
        if token := query.get("nextPageToken"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(token.encode())))
            except (ValueError, TypeError):
                raise HttpError(400, f"invalid nextPageToken {token!r}") from None
            ordered = [i for i in ordered if (key(i) < after if descending else key(i) > after)]
        page = ordered[:size]
        more = len(ordered) > size
        next_token = base64.urlsafe_b64encode(json.dumps(key(page[-1])).encode()).decode() if more else ""
        return {"items": page, "nextPageToken": next_token, "pageSize": size, "size": len(page)}

    def _now(self) -> str:
        ms = max(int(self.clock() * 1000), self._last_ms + 1)  # strictly increasing, like row order
        self._last_ms = ms
        return str(ms)

    def _create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        if collection in TYPED_ARTIFACTS or collection == "artifacts":
            kind = TYPED_ARTIFACTS.get(collection) or body.get("artifactType")
            return self._new_artifact({**body, "artifactType": kind})
        if collection not in CONTEXTS:
            raise HttpError(404, f"{collection} is not served by the fake")
        entity = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        name = entity.get("name")
        if collection == "model_versions":
            model_id = str(entity.get("registeredModelId") or "")
            if model_id not in self._store["registered_models"]:
                raise HttpError(404, f"no registered model with id {model_id}")
            clash = [v for v in self._store[collection].values() if v["registeredModelId"] == model_id]
        elif collection == "inference_services":
            for link, target in (
                ("registeredModelId", "registered_models"),
                ("servingEnvironmentId", "serving_environments"),
                ("modelVersionId", "model_versions"),
            ):
                if entity.get(link) and str(entity[link]) not in self._store[target]:
                    raise HttpError(404, f"no {target[:-1].replace('_', ' ')} with id {entity[link]}")
            clash = [
                s
                for s in self._store[collection].values()
                if s["servingEnvironmentId"] == entity.get("servingEnvironmentId")
            ]
        else:
            clash = list(self._store[collection].values())
        if name and any(e.get("name") == name for e in clash):
            raise HttpError(409, f"{collection[:-1].replace('_', ' ')} {name!r} already exists")
        now = self._now()
        entity_id = str(self._next_context)
        self._next_context += 1
        entity.update(id=entity_id, createTimeSinceEpoch=now, lastUpdateTimeSinceEpoch=now)
        entity.setdefault("customProperties", {})
        if collection in ("registered_models", "model_versions"):
            entity.setdefault("state", "LIVE")
        if collection == "inference_services":
            entity.setdefault("desiredState", "DEPLOYED")
        self._store[collection][entity_id] = entity
        return entity

    def _new_artifact(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        artifact = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        artifact.update(id=str(self._next_artifact), createTimeSinceEpoch=now, lastUpdateTimeSinceEpoch=now)
        self._next_artifact += 1
        artifact.setdefault("customProperties", {})
        if artifact.get("artifactType") in ("model-artifact", "doc-artifact", "dataset-artifact"):
            artifact.setdefault("state", "UNKNOWN")
        self._store["artifacts"][artifact["id"]] = artifact
        return artifact

    def _patch(self, collection: str, entity: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if "artifactType" in body and body["artifactType"] != entity.get("artifactType"):
            raise HttpError(400, f"cannot change artifactType to {body['artifactType']!r}")
        for key, value in body.items():
            # name is immutable once set; customProperties is replaced whole (the
            # server's reconciler copies the update's map over the stored one).
            if key in SERVER_FIELDS or key == "name" or value is None:
                continue
            entity[key] = value
        entity["lastUpdateTimeSinceEpoch"] = self._now()
        return entity

    def _upsert_version_artifact(self, version: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        links = self._version_artifacts.setdefault(version["id"], [])
        if body.get("id"):
            artifact = self._store["artifacts"].get(str(body["id"]))
            if artifact is None:
                raise HttpError(404, f"no artifact with id {body['id']}")
            if artifact["id"] not in links:
                links.append(artifact["id"])
            return 200, self._patch("artifacts", artifact, body)
        name = body.get("name")
        for artifact_id in links:  # names are unique among a version's artifacts
            existing = self._store["artifacts"][artifact_id]
            if (
                name
                and existing.get("name") == name
                and existing.get("artifactType") == body.get("artifactType")
            ):
                return 200, self._patch("artifacts", existing, body)
        artifact = self._new_artifact(body)
        links.append(artifact["id"])
        return 201, artifact


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
