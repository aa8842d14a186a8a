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

import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.errors import BadInput, GatewayError
from gateway.governance.http import STATUS, PrincipalResolver
from gateway.serving.service import DeploymentReport

if TYPE_CHECKING:
    from gateway.runtime import Gateway

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


def routes(gateway_of: Callable[[], Gateway], principal_of: PrincipalResolver) -> list[Route]:
    async def record(request: Request) -> Response:
        request_id = uuid.uuid4().hex
        try:
            raw = await request.body()
            if len(raw) > MAX_BODY:
                raise BadInput(f"the body is larger than {MAX_BODY} bytes", field="body")
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                raise BadInput("the body is not JSON", field="body") from None
            gateway = gateway_of()
            version = await gateway.record_deployment(await principal_of(request), report_of(body))
        except GatewayError as exc:
            errors = [
                {"message": exc.message, "extensions": {**exc.as_extensions(), "requestId": request_id}}
            ]
            return JSONResponse({"errors": errors}, status_code=STATUS.get(exc.code, 500))
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

    return [Route("/deployments", record, methods=["POST"])]
