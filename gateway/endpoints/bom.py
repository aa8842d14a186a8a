"""AI bills of materials over HTTP (``?format=cyclonedx|spdx``, CycloneDX 1.6 by default):

    GET /bom/{registry}/{model}/{version}   one version
    GET /bom/{registry}/{model}             the model's STAGING and PRODUCTION versions
    GET /bom                                every PRODUCTION version (the inventory)

Any authenticated principal may read them under the catalogue's visibility rule:
a version or model it may not see answers 404 ``NOT_FOUND``, exactly as one that
does not exist, and is left out of the model's and the inventory's BOMs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.bom.formats import BomFormat
from gateway.bom.service import inventory_bom, model_bom, version_bom
from gateway.catalogue.refs import resolve_version_uri
from gateway.domain import model_uri, version_segment_uri
from gateway.endpoints import gateway_of
from gateway.errors import BadInput, GatewayError
from gateway.http_auth import current_principal
from gateway.http_errors import gateway_error_response, request_id_of

if TYPE_CHECKING:
    from gateway.auth.access import AccessPolicy
    from gateway.runtime import Gateway


Build = Callable[["Gateway", "AccessPolicy", BomFormat], Awaitable[dict[str, Any]]]


async def _download(request: Request, build: Build, name: str) -> Response:
    try:
        try:
            fmt = BomFormat.named(request.query_params.get("format", BomFormat.CYCLONEDX_1_6.value))
        except ValueError as exc:
            raise BadInput(str(exc), field="format") from None
        gateway = gateway_of(request)
        body = await build(gateway, gateway.access(await current_principal(request)), fmt)
    except GatewayError as exc:
        return gateway_error_response(exc, request_id_of(request))
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False),
        media_type=fmt.media_type,
        headers={"content-disposition": f'attachment; filename="{name}.{fmt.suffix}"'},
    )


async def version_bom_download(request: Request) -> Response:
    p = request.path_params
    uri = version_segment_uri(p["registry"], p["model"], p["version"])  # "@production": a reference

    async def build(gw: Gateway, access: AccessPolicy, fmt: BomFormat) -> dict[str, Any]:
        return await version_bom(gw, access, await resolve_version_uri(gw.index, uri, access.visibility), fmt)

    return await _download(request, build, f"{p['model']}-{p['version'].lstrip('@')}")


async def model_bom_download(request: Request) -> Response:
    p = request.path_params
    uri = model_uri(p["registry"], p["model"])
    return await _download(request, lambda gw, access, fmt: model_bom(gw, access, uri, fmt), p["model"])


async def inventory_bom_download(request: Request) -> Response:
    return await _download(request, inventory_bom, "inventory")
