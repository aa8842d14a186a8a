"""MLflow's Model Registry REST API 2.0 under ``/mlflow`` (``gateway.mlflow_api``).

Reads take query parameters on GET (as MLflow's client sends them; repeated keys
for lists), writes a JSON body. Every answer that is not a success is MLflow's
``{"error_code", "message"}`` with MLflow's HTTP status: unknown endpoints,
unknown parameters, authentication failures (``gateway.server`` routes those
here by path) and faults alike, never the GraphQL shape."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from adapters.protocol import VersionRegistrar
from gateway.endpoints import gateway_of
from gateway.http_auth import current_principal
from gateway.http_errors import REQUEST_ID_HEADER, request_id_of
from gateway.mlflow_api import service
from gateway.mlflow_api.artifacts import PROXY, ArtifactProxy
from gateway.mlflow_api.errors import MlflowApiError, invalid
from gateway.mlflow_api.filters import MAX_FILTER_CHARS

log = logging.getLogger("modelgate.mlflow")

PREFIX = "/mlflow"
API = "/api/2.0/mlflow"
MAX_BODY_BYTES = 2 * MAX_FILTER_CHARS


def mlflow_error_response(
    request: Request, error: MlflowApiError, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        error.as_body(),
        status_code=error.status,
        headers={**(headers or {}), REQUEST_ID_HEADER: request_id_of(request)},
    )


# The request guard's refusals (gateway.http_guard) in MLflow's words; its status stays.
GUARD_CODES = {"UNSUPPORTED_MEDIA_TYPE": "BAD_REQUEST", "FORBIDDEN": "PERMISSION_DENIED"}


def refusal_bytes(code: str, message: str, _request_id: str, _extensions: Mapping[str, str]) -> bytes:
    """The body of a refusal sent before any route runs, as MLflow's clients read it."""
    return json.dumps({"error_code": GUARD_CODES.get(code, "BAD_REQUEST"), "message": message}).encode()


@dataclass(frozen=True)
class Params:
    """A request's parameters: the query string of a GET, the JSON body otherwise."""

    values: dict[str, list[Any]]

    def one(self, key: str) -> Any:
        found = self.values.get(key) or [None]
        if len(found) > 1:
            raise invalid(f"Parameter {key!r} given more than once")
        return found[0]

    def text(self, key: str) -> str | None:
        value = self.one(key)
        if value is not None and not isinstance(value, str | int):
            raise invalid(f"Invalid value for parameter {key!r}: a string")
        return None if value is None else str(value)

    def texts(self, key: str) -> list[str]:
        values = self.values.get(key) or []
        if not all(isinstance(v, str) for v in values):
            raise invalid(f"Invalid value for parameter {key!r}: a list of strings")
        return [str(v) for v in values]


async def _params(request: Request, allowed: frozenset[str]) -> Params:
    body = b"" if request.method == "GET" else await request.body()
    if request.method == "GET" or (request.method == "DELETE" and not body):
        # MLflow's client sends a DELETE's parameters in the query string.
        values: dict[str, list[Any]] = {}
        for key, value in request.query_params.multi_items():
            values.setdefault(key, []).append(value)
    else:
        if len(body) > MAX_BODY_BYTES:
            raise invalid(f"Request body larger than {MAX_BODY_BYTES} bytes")
        try:
            raw = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise MlflowApiError("MALFORMED_REQUEST", "The request body is not valid JSON") from None
        if not isinstance(raw, dict):
            raise MlflowApiError("MALFORMED_REQUEST", "The request body must be a JSON object")
        values = {k: v if isinstance(v, list) else [v] for k, v in raw.items() if v is not None}
    unknown = sorted(set(values) - allowed)
    if unknown:
        shown, supported = ", ".join(map(repr, unknown)), ", ".join(sorted(allowed))
        raise invalid(f"Unsupported parameter(s) {shown}; supported: {supported}")
    return Params(values)


Handler = Callable[[Request, Params], Awaitable[dict[str, Any]]]


def _endpoint(handler: Handler, allowed: Sequence[str]) -> Callable[[Request], Awaitable[Response]]:
    names = frozenset(allowed)

    async def endpoint(request: Request) -> Response:
        proxied = PROXY.set(artifact_proxy(request))
        try:
            return JSONResponse(await handler(request, await _params(request, names)))
        except MlflowApiError as exc:
            return mlflow_error_response(request, exc)
        finally:
            PROXY.reset(proxied)

    return endpoint


def artifact_proxy(request: Request) -> ArtifactProxy:
    """This gateway's artifact proxy as the client reached it: native versions'
    ``source`` and download URI name it."""
    gw = gateway_of(request)
    native = frozenset(r for r, a in gw.adapters.items() if isinstance(a, VersionRegistrar))
    backend = gw.artifacts.backend
    return ArtifactProxy(str(request.base_url).rstrip("/") + PREFIX, native, backend.uri(backend.key("")))


async def _access(request: Request) -> Any:
    return gateway_of(request).access(await current_principal(request))


async def _search_models(request: Request, p: Params) -> dict[str, Any]:
    return await service.search_registered_models(
        gateway_of(request), await _access(request),
        p.text("filter"), p.one("max_results"), p.texts("order_by"), p.text("page_token"),
    )  # fmt: skip


async def _get_model(request: Request, p: Params) -> dict[str, Any]:
    return await service.get_registered_model(gateway_of(request), await _access(request), p.text("name"))


async def _latest_versions(request: Request, p: Params) -> dict[str, Any]:
    return await service.get_latest_versions(
        gateway_of(request), await _access(request), p.text("name"), p.texts("stages")
    )


async def _search_versions(request: Request, p: Params) -> dict[str, Any]:
    return await service.search_model_versions(
        gateway_of(request), await _access(request),
        p.text("filter"), p.one("max_results"), p.texts("order_by"), p.text("page_token"),
    )  # fmt: skip


async def _get_version(request: Request, p: Params) -> dict[str, Any]:
    return await service.get_model_version(
        gateway_of(request), await _access(request), p.text("name"), p.text("version")
    )


async def _download_uri(request: Request, p: Params) -> dict[str, Any]:
    return await service.get_download_uri(
        gateway_of(request), await _access(request), p.text("name"), p.text("version")
    )


async def _by_alias(request: Request, p: Params) -> dict[str, Any]:
    return await service.get_model_version_by_alias(
        gateway_of(request), await _access(request), p.text("name"), p.text("alias")
    )


async def _set_alias(request: Request, p: Params) -> dict[str, Any]:
    return await service.set_registered_model_alias(
        gateway_of(request),
        await current_principal(request),
        p.text("name"),
        p.text("alias"),
        p.text("version"),
    )


async def _delete_alias(request: Request, p: Params) -> dict[str, Any]:
    return await service.delete_registered_model_alias(
        gateway_of(request), await current_principal(request), p.text("name"), p.text("alias")
    )


async def _transition(request: Request, p: Params) -> dict[str, Any]:
    # archive_existing_versions is accepted: the promotion policy decides what
    # happens to the other versions in the stage.
    return await service.transition_model_version_stage(
        gateway_of(request),
        await current_principal(request),
        p.text("name"),
        p.text("version"),
        p.text("stage"),
    )


async def _create_model(request: Request, p: Params) -> dict[str, Any]:
    return await service.create_registered_model(
        gateway_of(request), await current_principal(request), p.text("name")
    )


async def _create_version(request: Request, p: Params) -> dict[str, Any]:
    return await service.create_model_version(
        gateway_of(request), await current_principal(request),
        p.text("name"), p.text("source"), p.text("run_id"), p.text("description"), p.values.get("tags") or [],
    )  # fmt: skip


def _refused(why: str) -> Callable[[Request], Awaitable[Response]]:
    """An MLflow endpoint modelgate does not serve: NOT_IMPLEMENTED (501, which MLflow's
    client does not retry), whatever the parameters."""

    async def refuse(request: Request) -> Response:
        return mlflow_error_response(request, MlflowApiError("NOT_IMPLEMENTED", why))

    return refuse


# MLflow's search and get parameters (model_registry.proto).
SEARCH = ("filter", "max_results", "order_by", "page_token")
NOT_THROUGH_MLFLOW = (
    "modelgate federates registries: create, rename, update, delete and tag models in the "
    "registry that holds them, or register native versions with modelgate"
)

# (path under /api/2.0/mlflow, methods, handler, parameters)
ENDPOINTS: list[tuple[str, list[str], Handler, Sequence[str]]] = [
    ("/registered-models/search", ["GET"], _search_models, SEARCH),
    ("/registered-models/get", ["GET"], _get_model, ("name",)),
    ("/registered-models/get-latest-versions", ["GET", "POST"], _latest_versions, ("name", "stages")),
    ("/model-versions/search", ["GET"], _search_versions, SEARCH),
    ("/model-versions/get", ["GET"], _get_version, ("name", "version")),
    ("/model-versions/get-download-uri", ["GET"], _download_uri, ("name", "version")),
    ("/registered-models/alias", ["GET"], _by_alias, ("name", "alias")),
    ("/registered-models/alias", ["POST"], _set_alias, ("name", "alias", "version")),
    ("/registered-models/alias", ["DELETE"], _delete_alias, ("name", "alias")),
    # Native registries only: a model is created with its first version.
    (
        "/registered-models/create",
        ["POST"],
        _create_model,
        ("name", "tags", "description", "deployment_job_id"),
    ),
    (
        "/model-versions/create",
        ["POST"],
        _create_version,
        ("name", "source", "run_id", "tags", "run_link", "description", "model_id"),
    ),
    (
        "/model-versions/transition-stage",
        ["POST"],
        _transition,
        ("name", "version", "stage", "archive_existing_versions"),
    ),
]
REFUSED = [
    "/registered-models/rename",
    "/registered-models/update",
    "/registered-models/delete",
    "/registered-models/set-tag",
    "/registered-models/delete-tag",
    "/model-versions/update",
    "/model-versions/delete",
    "/model-versions/set-tag",
    "/model-versions/delete-tag",
]


async def endpoint_not_found(request: Request) -> Response:
    error = MlflowApiError(
        "ENDPOINT_NOT_FOUND",
        f"{request.method} {request.url.path} is not an endpoint of modelgate's MLflow API",
    )
    return mlflow_error_response(request, error)


def routes(artifacts: Sequence[BaseRoute] = ()) -> list[Mount]:
    """One mount: MLflow's endpoints, the artifact proxy's ``artifacts``, the refused
    ones, then every other path's 404."""
    served = [
        Route(API + path, _endpoint(handler, params), methods=methods)
        for path, methods, handler, params in ENDPOINTS
    ]
    refused = [
        Route(API + path, _refused(NOT_THROUGH_MLFLOW), methods=["POST", "PATCH", "DELETE"])
        for path in REFUSED
    ]
    # Last: the methods a path above does not take, and every other path.
    fallback = Route("/{rest:path}", endpoint_not_found, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    return [Mount(PREFIX, routes=[*served, *artifacts, *refused, fallback])]
