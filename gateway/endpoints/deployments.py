"""``POST /deployments``: a serving system reports traffic over plain HTTP (for a
CI job or a KServe/Seldon/BentoML hook that would rather not speak GraphQL).

    POST /deployments
    {"uri": "mg://<registry>/<model>/<version>", "endpoint": "kserve/fraud",
     "trafficPercent": 25, "variant": "canary", "status": "Ready"}

The same rules as the ``recordDeployment`` mutation (the version's team, only
registries whose serving modelgate does not read itself). Answers 200 with
the version's deployments, or ``{"errors": [...]}`` with a code and the field.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.catalogue.refs import resolve_version_uri
from gateway.endpoints import gateway_of
from gateway.errors import BadInput, GatewayError
from gateway.http_auth import current_principal
from gateway.http_errors import gateway_error_response, request_id_of
from gateway.serving.service import DeploymentReport

MAX_BODY = 64 * 1024
FIELDS: dict[str, type | tuple[type, ...]] = {
    "uri": str,
    "endpoint": str,
    "trafficPercent": (int, float),
    "variant": str,
    "status": str,
}


def report_of(body: Any) -> DeploymentReport:
    """The report in a JSON body; BadInput names the field that is wrong."""
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object", field="body")
    for name, value in body.items():
        if name not in FIELDS:
            raise BadInput(f"unknown field {name!r} (known: {', '.join(FIELDS)})", field=name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, FIELDS[name])):
            raise BadInput(f"{name} has the wrong type", field=name)
    for name in ("uri", "endpoint"):
        if not body.get(name):
            raise BadInput(f"{name} is required", field=name)
    percent = body.get("trafficPercent")
    return DeploymentReport(
        body["uri"],
        body["endpoint"],
        float(percent) if percent is not None else None,
        body.get("variant"),
        body.get("status"),
    )


async def record(request: Request) -> Response:
    """Record one report; the version's deployments as they now stand."""
    try:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise BadInput(f"the body is larger than {MAX_BODY} bytes", field="body")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise BadInput("the body is not JSON", field="body") from None
        gateway = gateway_of(request)
        principal = await current_principal(request)
        report = report_of(body)
        # "uri" may be a reference (mg://r/m@production): the version holding it now.
        concrete = await resolve_version_uri(
            gateway.index, report.version_uri, gateway.access(principal).visibility
        )
        report = dataclasses.replace(report, version_uri=concrete)
        version = await gateway.record_deployment(principal, report)
    except GatewayError as exc:
        return gateway_error_response(exc, request_id_of(request))
    return JSONResponse(
        {
            "uri": version.uri,
            "deployments": [
                {
                    "endpoint": d.endpoint,
                    "trafficPercent": d.traffic_percent,
                    "registry": d.registry,
                    "variant": d.variant,
                    "status": d.status,
                    "updatedAt": d.updated_at.isoformat() if d.updated_at else None,
                }
                for d in version.deployments
            ],
        }
    )


def routes() -> list[Route]:
    """``POST /deployments`` (who reports: the principal the auth middleware set)."""
    return [Route("/deployments", record, methods=["POST"])]
