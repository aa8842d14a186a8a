"""``GET /bom/{registry}/{model}/{version}?format=cyclonedx|spdx``: a version's AI
bill of materials (CycloneDX 1.6 by default). Any authenticated principal may
read it under the catalogue's visibility rule: a version it may not see answers
404 ``NOT_FOUND``, exactly as one that does not exist."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth.middleware import current_principal
from gateway.bom.formats import BomFormat
from gateway.bom.service import version_bom
from gateway.domain import version_uri
from gateway.endpoints import gateway_of
from gateway.errors import BadInput, GatewayError
from gateway.http_errors import gateway_error_response, request_id_of


async def version_bom_download(request: Request) -> Response:
    p = request.path_params
    try:
        try:
            fmt = BomFormat.named(request.query_params.get("format", BomFormat.CYCLONEDX_1_6.value))
        except ValueError as exc:
            raise BadInput(str(exc), field="format") from None
        gateway = gateway_of(request)
        access = gateway.access(await current_principal(request))
        body = await version_bom(gateway, access, version_uri(p["registry"], p["model"], p["version"]), fmt)
    except GatewayError as exc:
        return gateway_error_response(exc, request_id_of(request))
    name = f"{p['model']}-{p['version']}.{fmt.suffix}"
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False),
        media_type=fmt.media_type,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
