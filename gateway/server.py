"""The HTTP face of the gateway (Starlette): /graphql, health, artifacts.

Every route but the probes, webhooks and static pages is authenticated first
(``gateway.auth.middleware``); GraphQL requests are bounded by ``[graphql]``
(``gateway.api.limits``): body size here, document limits and the deadline in
the schema's extension and ``GraphQLView.execute_single``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from cross_web import HTTPException as StrawberryHTTPException
from graphql import GraphQLError
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from adapters.base import VersionRegistrar, WebhookReceiver, WebhookRejected
from gateway.api.context import Context
from gateway.api.errors import format_error
from gateway.api.http_semantics import GRAPHQL_RESPONSE, is_request_error, response_media_type
from gateway.api.limits import QueryTimeout, deadline
from gateway.api.schema import build_schema
from gateway.auth.errors import AuthUnavailable, Unauthenticated
from gateway.auth.middleware import AuthMiddleware, authenticator_for, current_principal, www_authenticate
from gateway.auth.principal import LOCAL_OPERATOR, Principal
from gateway.catalogue.state import RegistryState, registry_states
from gateway.config import GraphQLSettings, Settings
from gateway.errors import GatewayError
from gateway.governance.http import PrincipalResolver
from gateway.governance.http import routes as governance_routes
from gateway.http_budgets import HeaderBudget, PayloadTooLarge, decode_json_within, read_limited_body
from gateway.lineage.http import routes as lineage_routes
from gateway.observability import RequestContextMiddleware
from gateway.personas import Persona, demo_personas, with_personas
from gateway.resilience import breaker_states
from gateway.runtime import Gateway
from gateway.serving.http import routes as serving_routes
from gateway.ui import graphiql_page
from gateway.ui import routes as ui_routes

log = logging.getLogger("modelgate.server")

MAX_ARTIFACT_BYTES = 5 * 1024**3
REQUEST_ID_HEADER = "x-request-id"


def _request_id(request: Request) -> str:
    """The id RequestContextMiddleware gave this request (it is also in the logs)."""
    return getattr(request.state, "request_id", None) or uuid.uuid4().hex


def error_response(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}]}
    return JSONResponse(body, status_code=status, headers={REQUEST_ID_HEADER: request_id})


async def local_operator(_request: Request) -> Principal:
    """Who asks when no authentication is configured (``[auth] mode = "none"``)."""
    return LOCAL_OPERATOR


def reject_unauthenticated(request: Request, exc: Unauthenticated | AuthUnavailable) -> Response:
    """401 with the RFC 6750 challenge (or 503 when the IdP's keys are out of reach)."""
    request_id = _request_id(request)
    if isinstance(exc, AuthUnavailable):
        log.error("authentication unavailable (request %s): %s", request_id, exc.message)
        return error_response(503, exc.code, exc.message, request_id)
    log.info("unauthenticated request %s to %s: %s", request_id, request.url.path, exc.message)
    response = error_response(401, exc.code, exc.message, request_id)
    response.headers["www-authenticate"] = www_authenticate(exc)
    return response


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        gateway_ref: dict[str, Gateway],
        principal_for: PrincipalResolver = local_operator,
        limits: GraphQLSettings | None = None,
        tracing: bool = False,
    ):
        limits = limits or GraphQLSettings()
        # GraphiQL needs introspection; without it the page would be an empty shell.
        ide: Literal["graphiql"] | None = "graphiql" if limits.introspection else None
        super().__init__(build_schema(limits, tracing), graphql_ide=ide)
        self._gateway_ref = gateway_ref
        self._principal_for = principal_for
        self._timeout = limits.timeout_seconds
        self._max_json_depth = limits.max_json_depth
        self._ide_page = graphiql_page()

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_page, headers={"cache-control": "no-cache"})

    def decode_json(self, data: str | bytes) -> object:
        try:
            value = decode_json_within(data, self._max_json_depth)
        except UnicodeDecodeError as exc:
            raise StrawberryHTTPException(400, "Unable to parse request body as JSON") from exc
        except ValueError as exc:  # JSONDecodeError, or nesting past the limit
            reason = str(exc) if "nests" in str(exc) else "Unable to parse request body as JSON"
            raise StrawberryHTTPException(400, reason) from exc
        # A list is a batch (refused below by strawberry: batching is off); anything
        # but an object is not a GraphQL request and must not reach the view.
        if not isinstance(value, dict | list):
            raise StrawberryHTTPException(400, "The request body must be a JSON object")
        return value

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            async with deadline(self._timeout):
                return await super().execute_single(*args, **kwargs)
        except QueryTimeout as exc:
            log.warning("GraphQL query timed out after %.1fs", self._timeout)
            return ExecutionResult(data=None, errors=[GraphQLError(exc.message, original_error=exc)])

    async def get_context(self, request: Any, response: Any = None) -> Context:
        context = Context(
            gateway=self._gateway_ref["gateway"],
            request_id=request.state.request_id,
            principal=await self._principal_for(request),
        )
        request.state.context = context  # process_result adds its registry errors
        return context

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        errors: list[object] = [format_error(e, request.state.request_id) for e in result.errors or ()]
        context = getattr(request.state, "context", None)
        if context is not None:  # registries that failed while the answer came from the index
            errors += [
                {
                    "message": e.message,
                    "extensions": {**e.as_extensions(), "requestId": request.state.request_id},
                }
                for e in context.registry_errors.values()
            ]
        if errors:
            data["errors"] = errors
        if result.extensions:
            data["extensions"] = result.extensions
        if is_request_error(data):  # execution never began: no data entry (GraphQL spec)
            del data["data"]
            request.state.request_error = True
        return data

    async def parse_http_body(self, request: Any) -> Any:
        try:
            return await super().parse_http_body(request)
        except StrawberryHTTPException as exc:
            if exc.reason == "Unsupported content type":
                raise StrawberryHTTPException(
                    415, "send the request as application/json (or GET with query parameters)"
                ) from exc
            raise


CONFIG_ENV = "MODELGATE_CONFIG_FILE"
DEMO_ENV = "MODELGATE_DEMO"
LOG_FORMAT_ENV, LOG_LEVEL_ENV = "MODELGATE_LOG_FORMAT", "MODELGATE_LOG_LEVEL"


def app_from_environment() -> Starlette:
    """The app of one ``serve --workers N`` worker: the config file comes from the
    environment the parent process set."""
    from gateway.config import load_settings
    from gateway.observability import configure_logging

    # A spawned worker starts from scratch: set logging up as the parent did.
    configure_logging(os.environ.get(LOG_FORMAT_ENV, "text"), os.environ.get(LOG_LEVEL_ENV, "info"))
    settings = load_settings(os.environ[CONFIG_ENV])
    if os.environ.get(DEMO_ENV) == "1":  # ``modelgate demo --workers N``: the parent seeded
        settings = with_personas(settings)
        return create_app(settings, personas=demo_personas(settings), freeze_gc=True)
    return create_app(settings, freeze_gc=True)


def create_app(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    background_sync: bool = True,
    seed_demo: bool = False,
    personas: Sequence[Persona] = (),
    principal_for_request: PrincipalResolver | None = None,
    freeze_gc: bool = False,
) -> Starlette:
    """The ASGI app. Pass ``gateway`` to serve one the caller owns (tests), and
    ``principal_for_request`` to say who each request comes from (the seam where
    authentication plugs in; tests pass fixed principals). Without it, the
    ``[auth]`` section decides (``gateway.auth.middleware.authenticator_for``);
    a resolver raising ``Unauthenticated`` makes the request a 401. ``freeze_gc``
    is for a server process: it exempts what start-up built from garbage collection."""
    ref: dict[str, Gateway] = {}
    authenticator = authenticator_for(settings.auth) if principal_for_request is None else None
    authenticate = principal_for_request or authenticator
    assert authenticate is not None
    view = GraphQLView(ref, current_principal, settings.graphql, settings.observability.tracing)
    max_body = settings.graphql.max_body_bytes

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        owned = gateway is None
        gw = gateway or await Gateway.open(settings)
        ref["gateway"] = gw
        if seed_demo:
            from gateway.demo import seed_demo as seed

            added = await seed(gw)
            log.info("demo: registered %d sample versions", added)
        if background_sync:
            gw.start_background_sync()
        if freeze_gc:
            # Everything alive now lives as long as the process: move it out of the
            # cyclic collector's view. Otherwise each full collection walks it all,
            # ~100 ms pauses about once a second under load (p99 172 -> 105 ms).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if authenticator is not None:
                await authenticator.aclose()
            if owned:
                await gw.aclose()

    async def graphql(request: Request) -> Response:
        request_id = _request_id(request)
        request.state.request_id = request_id
        if (refused := await _read_body(request, max_body, request_id)) is not None:
            return refused
        try:
            response = await view.run(request)
        except StrawberryHTTPException as exc:
            code = "UNSUPPORTED_MEDIA_TYPE" if exc.status_code == 415 else "BAD_REQUEST"
            return error_response(exc.status_code, code, exc.reason, request_id)
        except StrawberryGraphQLError as exc:
            return error_response(400, "BAD_REQUEST", exc.message, request_id)
        if response.media_type == "application/json":  # a GraphQL result (not GraphiQL's page)
            media = response_media_type(request.headers.get("accept"))
            response.headers["content-type"] = media
            if media == GRAPHQL_RESPONSE and getattr(request.state, "request_error", False):
                response.status_code = 400
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        gw = ref.get("gateway")
        if gw is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            await asyncio.wait_for(gw.database.ping(), timeout=2.0)
            store_ok = True
        except Exception:  # report, do not raise: this is a probe
            store_ok = False
        stats = await gw.index.registry_stats() if store_ok else {}
        # The same states GraphQL reports (gateway.catalogue.state), so the two agree.
        health = await gw.index.registry_health() if store_ok else {}
        states = registry_states([r.id for r in gw.settings.registries], health, gw.adapters)
        registries: dict[str, dict[str, Any]] = {
            r.id: {
                "state": states[r.id].state.value,
                "healthy": states[r.id].state is RegistryState.HEALTHY,
                "reason": states[r.id].reason,
                "url": states[r.id].url,
                "syncedAt": synced.isoformat()
                if r.id in stats and (synced := stats[r.id].synced_at)
                else None,
                "lastError": stats[r.id].last_error if r.id in stats else None,
            }
            for r in gw.settings.registries
        }
        for rid, breaker in breaker_states(gw.adapters).items():
            if rid in registries:
                registries[rid]["breaker"] = breaker
        # Ready when the store answers; a registry that is not HEALTHY is served from
        # the index (reported as degraded, still 200: taking the replica out would not help).
        degraded = any(r["state"] != RegistryState.HEALTHY.value for r in registries.values())
        status = ("degraded" if degraded else "ready") if store_ok else "unavailable"
        body = {"status": status, "store": store_ok, "registries": registries}
        return JSONResponse(body, status_code=200 if store_ok else 503)

    async def upload_artifact(request: Request) -> Response:
        request_id = _request_id(request)
        gw = ref["gateway"]
        registry_id = request.path_params["registry"]
        try:
            adapter = gw.adapter(registry_id)
            registry = gw.settings.registry(registry_id)
            if registry is not None:  # uploads are writes: the registry's team (or admin) only
                gw.access(await current_principal(request)).require_registry_team(registry)
            if not isinstance(adapter, VersionRegistrar):
                return error_response(
                    400, "BAD_USER_INPUT", f"registry {registry_id!r} does not store artifacts", request_id
                )
            stored = await gw.artifacts.save(
                registry_id,
                request.path_params["model"],
                request.path_params["filename"],
                request.stream(),
                max_bytes=MAX_ARTIFACT_BYTES,
            )
        except GatewayError as exc:
            status = {"NOT_FOUND": 404, "FORBIDDEN": 403}.get(exc.code, 400)
            return error_response(status, exc.code, exc.message, request_id)
        return JSONResponse(
            {"uri": stored.uri, "digest": stored.digest, "size": stored.size}, status_code=201
        )

    async def webhook(request: Request) -> Response:
        """Registry push notifications: verify, then refresh the named models at once."""
        request_id = _request_id(request)
        gw = ref["gateway"]
        registry_id = request.path_params["registry"]
        adapter = gw.adapters.get(registry_id)
        if adapter is None or adapter.kind != request.path_params["kind"]:
            return error_response(
                404, "NOT_FOUND", f"no {request.path_params['kind']} registry {registry_id!r}", request_id
            )
        if not isinstance(adapter, WebhookReceiver):
            return error_response(404, "NOT_FOUND", f"registry {registry_id!r} takes no webhooks", request_id)
        try:  # bounded before the signature check, which needs the whole body
            body = await read_limited_body(request, settings.server.max_webhook_bytes)
        except PayloadTooLarge as exc:
            return error_response(413, "PAYLOAD_TOO_LARGE", f"webhook {exc}", request_id)
        try:
            names = await adapter.handle_webhook(request.headers, body)
        except WebhookRejected as exc:
            log.warning("webhook for %s rejected: %s (request %s)", registry_id, exc, request_id)
            return error_response(401, "UNAUTHENTICATED", str(exc), request_id)
        refreshed = []
        for name in names:
            try:
                await gw.sync.refresh_model(registry_id, name)
                refreshed.append(name)
            except GatewayError as exc:
                # Accepted but not applied now: the next sync pass picks it up.
                log.warning("webhook refresh of %s/%s failed: %s", registry_id, name, exc.message)
        return JSONResponse({"refreshed": refreshed}, status_code=200)

    async def metrics_endpoint(_request: Request) -> Response:
        gw = ref.get("gateway")
        if gw is None:
            return Response("starting\n", status_code=503, media_type="text/plain")
        return Response(await gw.metrics.render(gw), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/artifacts/{registry}/{model}/{filename}", upload_artifact, methods=["PUT"]),
            Route("/hooks/{kind}/{registry}", webhook, methods=["POST"]),
            *governance_routes(lambda: ref["gateway"], current_principal),
            *lineage_routes(lambda: ref["gateway"], current_principal),
            *serving_routes(lambda: ref["gateway"], current_principal),
            Route("/metrics", metrics_endpoint),
            *ui_routes(personas),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(RequestContextMiddleware, metrics=lambda: ref["gateway"].metrics if ref else None),
            Middleware(HeaderBudget, limit=settings.server.max_header_bytes),
            Middleware(AuthMiddleware, authenticate=authenticate, reject=reject_unauthenticated),
        ],
    )


async def _read_body(request: Request, limit: int, request_id: str) -> Response | None:
    """Read the body up to ``limit`` bytes (413 beyond), before anything parses it."""
    try:
        if request.method == "POST":
            await read_limited_body(request, limit)
        elif (declared := request.headers.get("content-length")) is not None and (
            not declared.isdigit() or int(declared) > limit
        ):
            raise PayloadTooLarge(limit)
    except PayloadTooLarge as exc:
        return error_response(413, "PAYLOAD_TOO_LARGE", str(exc), request_id)
    return None
