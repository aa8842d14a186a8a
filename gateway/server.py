"""The HTTP face of the gateway (Starlette): ``create_app`` wires routes and
middleware; the endpoints live in ``gateway.endpoints`` (and the governance and
lineage downloads in their packages) and read the running gateway, the settings
and the GraphQL view from ``request.app.state``.

Every route but the probes, webhooks and static pages is authenticated first
(``gateway.http_auth``). Every error body is built by ``gateway.http_errors``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.errors import INTERNAL_MESSAGE
from gateway.auth.errors import AuthUnavailable, Unauthenticated
from gateway.config import Settings
from gateway.endpoints import bom, downloads, graphql, mlflow, mlflow_artifacts, probes, uploads, webhooks
from gateway.endpoints.deployments import routes as serving_routes
from gateway.endpoints.lineage import routes as lineage_routes
from gateway.endpoints.reports import routes as governance_routes
from gateway.http_auth import AuthMiddleware, PrincipalResolver, authenticator_for, www_authenticate
from gateway.http_budgets import HeaderBudget
from gateway.http_errors import error_response, request_id_of
from gateway.http_guard import RequestGuard
from gateway.mlflow_api.errors import MlflowApiError
from gateway.observability import Metrics, RequestContextMiddleware
from gateway.personas import Persona, demo_personas, with_personas
from gateway.runtime import Gateway
from gateway.ui import manual
from gateway.ui import routes as ui_routes

log = logging.getLogger("modelgate.server")


def reject_unauthenticated(request: Request, exc: Unauthenticated | AuthUnavailable) -> Response:
    """401 with the RFC 6750 challenge (or 503 when the IdP's keys are out of reach)."""
    request_id = request_id_of(request)
    if isinstance(exc, AuthUnavailable):
        log.error("authentication unavailable (request %s): %s", request_id, exc.message)
        if _is_mlflow(request):
            return mlflow.mlflow_error_response(
                request, MlflowApiError("TEMPORARILY_UNAVAILABLE", exc.message)
            )
        return error_response(503, exc.code, exc.message, request_id)
    log.info("unauthenticated request %s to %s: %s", request_id, request.url.path, exc.message)
    challenge = {"www-authenticate": www_authenticate(exc)}
    if _is_mlflow(request):
        return mlflow.mlflow_error_response(
            request, MlflowApiError("UNAUTHENTICATED", exc.message), challenge
        )
    return error_response(exc.status, exc.code, exc.message, request_id, headers=challenge)


def _is_mlflow(request: Request) -> bool:
    """MLflow's clients read MLflow's error shape only."""
    return request.url.path == mlflow.PREFIX or request.url.path.startswith(mlflow.PREFIX + "/")


# Starlette's own refusals (no such route, method not allowed) in the one shape.
HTTP_STATUS_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _is_mlflow(request):  # a method no MLflow route takes (HEAD, OPTIONS, ...)
        mlflow_code = "ENDPOINT_NOT_FOUND" if exc.status_code in (404, 405) else "BAD_REQUEST"
        body = {"error_code": mlflow_code, "message": exc.detail}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    code = HTTP_STATUS_CODES.get(exc.status_code, "BAD_REQUEST")
    return error_response(exc.status_code, code, exc.detail, request_id_of(request), headers=exc.headers)


async def internal_error(request: Request, _exc: Exception) -> Response:
    """An unhandled fault: the shape, no detail (Starlette re-raises it for the server's log)."""
    if _is_mlflow(request):
        return mlflow.mlflow_error_response(request, MlflowApiError("INTERNAL_ERROR", INTERNAL_MESSAGE))
    return error_response(500, "INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE, request_id_of(request))


# Routes whose body is not JSON by design: artifact uploads (raw bytes), registry
# webhooks (the registry's payload, signed) and MLflow's artifact proxy (whose
# writes are refused unread, in MLflow's words). Every other state-changing route
# takes application/json only (``gateway.http_guard``).
RAW_BODY_PREFIXES = ("/artifacts/", "/hooks/", "/mlflow/api/2.0/mlflow-artifacts/")
# Requests that carry their own HMAC signature: exempt from the Host/Origin check.
SIGNED_PREFIXES = ("/hooks/",)

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
    ``[auth]`` section decides (``gateway.http_auth.authenticator_for``);
    a resolver raising ``Unauthenticated`` makes the request a 401. ``freeze_gc``
    is for a server process: it exempts what start-up built from garbage collection."""
    authenticator = authenticator_for(settings.auth) if principal_for_request is None else None
    authenticate = principal_for_request or authenticator
    assert authenticate is not None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = gateway is None
        # Whole-catalogue work (a policy change's re-evaluation, a lineage re-harvest)
        # runs once serving: readiness never waits for it (gateway.upkeep).
        gw = gateway or await Gateway.open(settings, background_upkeep=True)
        app.state.gateway = gw
        gw.start_upkeep()
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

    app: Starlette = Starlette(
        routes=[
            Route("/graphql", graphql.graphql, methods=["GET", "POST"]),
            Route("/healthz", probes.healthz),
            Route("/readyz", probes.readyz),
            Route("/artifacts/{registry}/{model}/{path:path}", uploads.upload_artifact, methods=["PUT"]),
            Route(
                "/artifacts/{registry}/{model}/{version}/{path:path}",
                downloads.download_artifact,
                methods=["GET", "HEAD"],
            ),
            Route("/hooks/{kind}/{registry}", webhooks.webhook, methods=["POST"]),
            Route("/bom", bom.inventory_bom_download),
            Route("/bom/{registry}/{model}", bom.model_bom_download),
            Route("/bom/{registry}/{model}/{version}", bom.version_bom_download),
            *governance_routes(),
            *lineage_routes(),
            *serving_routes(),
            *mlflow.routes(mlflow_artifacts.routes()),
            Route("/metrics", probes.metrics),
            *ui_routes(personas),
            *manual.routes(),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(RequestContextMiddleware, metrics=lambda: _metrics_of(app)),
            Middleware(HeaderBudget, limit=settings.server.max_header_bytes),
            Middleware(
                RequestGuard,
                server=settings.server,
                check_origin=settings.auth.mode == "none",
                raw_body_prefixes=RAW_BODY_PREFIXES,
                signed_prefixes=SIGNED_PREFIXES,
                error_shapes={mlflow.PREFIX + "/": mlflow.refusal_bytes},
            ),
            Middleware(AuthMiddleware, authenticate=authenticate, reject=reject_unauthenticated),
        ],
        exception_handlers={HTTPException: http_exception, Exception: internal_error},
    )
    app.state.settings = settings
    app.state.graphql_view = graphql.GraphQLView(
        limits=settings.graphql, tracing=settings.observability.tracing
    )
    return app


def _metrics_of(app: Starlette) -> Metrics | None:
    """The running gateway's metrics (None before start-up: nothing to count into)."""
    gw: Gateway | None = getattr(app.state, "gateway", None)
    return gw.metrics if gw is not None else None
