"""``/graphql``: the strawberry view (GraphQL over HTTP, GraphiQL offline) and the
endpoint around it, which bounds the body first and answers transport errors in
the one error shape (``gateway.http_errors``).

Requests are bounded by ``[graphql]`` (``gateway.api.limits``): body size here,
document limits and the deadline in the schema's extension and
``GraphQLView.execute_single``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from cross_web import HTTPException as StrawberryHTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from gateway.api.context import Context
from gateway.api.errors import format_error
from gateway.api.http_semantics import GRAPHQL_RESPONSE, is_request_error, response_media_type
from gateway.api.limits import QueryTimeout, deadline
from gateway.api.schema import build_schema
from gateway.config import GraphQLSettings, Settings
from gateway.endpoints import gateway_of
from gateway.http_auth import PrincipalResolver, current_principal
from gateway.http_budgets import PayloadTooLarge, decode_json_within, read_limited_body
from gateway.http_errors import REQUEST_ID_HEADER, error_response, request_id_of
from gateway.ui import graphiql_page

log = logging.getLogger("modelgate.server")


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        principal_for: PrincipalResolver = current_principal,
        limits: GraphQLSettings | None = None,
        tracing: bool = False,
    ):
        limits = limits or GraphQLSettings()
        # GraphiQL needs introspection; without it the page would be an empty shell.
        ide: Literal["graphiql"] | None = "graphiql" if limits.introspection else None
        super().__init__(build_schema(limits, tracing), graphql_ide=ide)
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
            log.warning("GraphQL operation timed out after %.1fs", self._timeout)
            return ExecutionResult(data=None, errors=[GraphQLError(exc.message, original_error=exc)])

    async def get_context(self, request: Any, response: Any = None) -> Context:
        context = Context(
            gateway=gateway_of(request),
            request_id=request.state.request_id,
            principal=await self._principal_for(request),
            base_url=str(request.base_url).rstrip("/"),
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


async def graphql(request: Request) -> Response:
    request_id = request_id_of(request)
    settings: Settings = request.app.state.settings
    view: GraphQLView = request.app.state.graphql_view
    if (refused := await _read_body(request, settings.graphql.max_body_bytes, request_id)) is not None:
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
