"""``POST /hooks/{kind}/{registry}``: registry push notifications. Verified by the
adapter (its own signature scheme), then the named models are refreshed at once."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.protocol import WebhookReceiver, WebhookRejected
from gateway.config import Settings
from gateway.endpoints import gateway_of
from gateway.errors import GatewayError
from gateway.http_budgets import PayloadTooLarge, read_limited_body
from gateway.http_errors import error_response, request_id_of

log = logging.getLogger("modelgate.server")


async def webhook(request: Request) -> Response:
    request_id = request_id_of(request)
    gw = gateway_of(request)
    settings: Settings = request.app.state.settings
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
