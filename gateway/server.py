"""The HTTP face of the gateway (Starlette): /graphql, health, artifacts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from cross_web import HTTPException as StrawberryHTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from adapters.base import VersionRegistrar, WebhookReceiver, WebhookRejected
from gateway.api.context import Context
from gateway.api.errors import format_error
from gateway.api.schema import schema
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.runtime import Gateway

log = logging.getLogger("modelgate.server")

MAX_ARTIFACT_BYTES = 5 * 1024**3
REQUEST_ID_HEADER = "x-request-id"


def _request_id(request: Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    # Accept a caller's id only if it is short and plain, so logs stay clean.
    if 0 < len(incoming) <= 64 and incoming.replace("-", "").isalnum():
        return incoming
    return uuid.uuid4().hex


def error_response(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}]}
    return JSONResponse(body, status_code=status, headers={REQUEST_ID_HEADER: request_id})


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, gateway_ref: dict[str, Gateway]):
        super().__init__(schema, graphql_ide="graphiql")
        self._gateway_ref = gateway_ref

    async def get_context(self, request: Any, response: Any = None) -> Context:
        return Context(gateway=self._gateway_ref["gateway"], request_id=request.state.request_id)

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            data["errors"] = [format_error(e, request.state.request_id) for e in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data


def create_app(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    background_sync: bool = True,
    seed_demo: bool = False,
) -> Starlette:
    """The ASGI app. Pass ``gateway`` to serve one the caller owns (tests)."""
    ref: dict[str, Gateway] = {}
    view = GraphQLView(ref)

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
        try:
            yield
        finally:
            if owned:
                await gw.aclose()

    async def graphql(request: Request) -> Response:
        request_id = _request_id(request)
        request.state.request_id = request_id
        try:
            response = await view.run(request)
        except StrawberryHTTPException as exc:
            return error_response(exc.status_code, "BAD_REQUEST", exc.reason, request_id)
        except StrawberryGraphQLError as exc:
            return error_response(400, "BAD_REQUEST", exc.message, request_id)
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
        registries = {
            r.id: {
                "healthy": stats[r.id].healthy if r.id in stats else None,
                "syncedAt": stats[r.id].synced_at.isoformat()
                if r.id in stats and stats[r.id].synced_at
                else None,
                "lastError": stats[r.id].last_error if r.id in stats else None,
            }
            for r in gw.settings.registries
        }
        # Ready when the store answers; a down registry is served from the index.
        body = {"status": "ready" if store_ok else "unavailable", "store": store_ok, "registries": registries}
        return JSONResponse(body, status_code=200 if store_ok else 503)

    async def upload_artifact(request: Request) -> Response:
        request_id = _request_id(request)
        gw = ref["gateway"]
        registry_id = request.path_params["registry"]
        try:
            adapter = gw.adapter(registry_id)
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
            status = 404 if exc.code == "NOT_FOUND" else 400
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
        body = await request.body()
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

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/artifacts/{registry}/{model}/{filename}", upload_artifact, methods=["PUT"]),
            Route("/hooks/{kind}/{registry}", webhook, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
