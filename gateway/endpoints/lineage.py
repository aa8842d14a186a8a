"""Lineage over plain HTTP: the OpenLineage export, for Marquez or any consumer.

    GET /lineage/openlineage?uri=<node>&depth=3&direction=BOTH&format=json|jsonl

``uri`` is any lineage node (``mg://`` URI, registry reference, dataset URI in
any spelling). ``format=json`` (default) answers ``{"events": [...], "errors":
[...]}``; ``format=jsonl`` answers one RunEvent per line (``application/x-ndjson``),
ready to POST one by one to ``/api/v1/lineage``. Registries whose lineage API
failed are listed in ``errors`` (JSON) or the ``x-modelgate-registry-errors``
header (JSON Lines); the events then come from the stored graph. Any
authenticated principal may read it; restricted versions of other teams are
redacted as in GraphQL.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.catalogue.refs import resolve_version_uri
from gateway.endpoints import gateway_of
from gateway.errors import BadInput, GatewayError, RegistryError
from gateway.http_auth import current_principal
from gateway.http_errors import gateway_error_response, request_id_of
from gateway.lineage.walk import Direction


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"{name} must be an integer, got {text!r}", field=name) from None


def _direction(request: Request) -> Direction:
    text = request.query_params.get("direction", Direction.BOTH.value).upper()
    try:
        return Direction(text)
    except ValueError:
        raise BadInput(
            f"direction must be one of {', '.join(d.value for d in Direction)}", field="direction"
        ) from None


async def openlineage_export(request: Request) -> Response:
    try:
        principal = await current_principal(request)
        gateway = gateway_of(request)
        uri = request.query_params.get("uri")
        if not uri:
            raise BadInput("uri is required (a version, model, dataset or registry reference)", field="uri")
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "jsonl"):
            raise BadInput(f"format must be json or jsonl, got {fmt!r}", field="format")
        errors: dict[str, RegistryError] = {}
        access = gateway.access(principal)
        events = await gateway.lineage.openlineage_events(
            await resolve_version_uri(gateway.index, uri, access.visibility),
            _direction(request),
            _int(request, "depth", 3),
            max_nodes=_int(request, "maxNodes", 500),
            report=lambda e: errors.setdefault(e.registry_id, access.registry_error(e)),
            access=access,
        )
    except GatewayError as exc:
        return gateway_error_response(exc, request_id_of(request))
    request_id = request_id_of(request)  # registry failures carry it, as in GraphQL answers
    failures = [
        {"message": e.message, "extensions": {**e.as_extensions(), "requestId": request_id}}
        for e in errors.values()
    ]
    if fmt == "jsonl":
        lines = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
        headers = {"x-modelgate-registry-errors": ",".join(sorted(errors))} if errors else {}
        return Response(lines, media_type="application/x-ndjson", headers=headers)
    return JSONResponse({"events": events, "errors": failures})


def routes() -> list[Route]:
    """The lineage export routes (who asks: the principal the auth middleware set)."""
    return [Route("/lineage/openlineage", openlineage_export)]
