"""Downloads over HTTP: compliance reports (CSV, JSON) and audit exports (JSON
Lines, CSV). Each needs a role in ``AUDIT_ROLES``; responses stream, so a large
catalogue or log is never held in memory whole (except the JSON report).

    GET /reports/compliance.csv   ?registry=&team=&stage=&compliant=&asOf=&view=violations|summary
    GET /reports/compliance.json  ?registry=&team=&stage=&compliant=&asOf=
    GET /audit/export.jsonl       ?subject=&principal=&action=&since=&until=&verify=true|false
    GET /audit/export.csv         (same filters)
    GET /reports/inventory        ?format=csv|json&registry=&team=&tier=&state=&reviewOverdue=&asOf=
    GET /reports/evidence         ?uri=<version URI>&format=html|pdf

Repeat ``registry``, ``team`` or ``stage`` to ask for several.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.catalogue.index import SearchFilter
from gateway.catalogue.refs import resolve_version_uri
from gateway.domain import Stage, parse_instant
from gateway.endpoints import gateway_of
from gateway.errors import BadInput, GatewayError
from gateway.evidence.gather import gather
from gateway.evidence.render import render
from gateway.governance import audit, inventory, reports
from gateway.governance.csvfile import csv_line
from gateway.http_auth import current_principal
from gateway.http_errors import gateway_error_response, request_id_of

if TYPE_CHECKING:
    from gateway.runtime import Gateway


def _time(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise BadInput(f"{name} {exc}", field=name) from None


def report_filter(request: Request) -> SearchFilter:
    """The report filter from query parameters (the GraphQL SearchFilter's fields)."""
    q = request.query_params
    try:
        stages = tuple(Stage(s) for s in q.getlist("stage"))
    except ValueError:
        raise BadInput(f"stage must be one of {', '.join(Stage.__members__)}", field="stage") from None
    compliant = q.get("compliant")
    if compliant not in (None, "true", "false"):
        raise BadInput("compliant must be true or false", field="compliant")
    return SearchFilter(
        registries=tuple(q.getlist("registry")),
        teams=tuple(q.getlist("team")),
        stages=stages,
        compliant=None if compliant is None else compliant == "true",
    )


def audit_filter(request: Request) -> audit.AuditFilter:
    q = request.query_params
    return audit.AuditFilter(
        subject=q.get("subject"),
        principal=q.get("principal"),
        action=q.get("action"),
        since=_time(request, "since"),
        until=_time(request, "until"),
    )


Handler = Callable[[Request, "Gateway"], Awaitable[Response]]


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of ``handler``: audit role required; a ``GatewayError`` becomes the
    one error shape (``gateway.http_errors``) with this request's id."""

    async def endpoint(request: Request) -> Response:
        try:
            gateway = gateway_of(request)
            gateway.access(await current_principal(request)).require_audit_role()
            return await handler(request, gateway)
        except GatewayError as exc:
            return gateway_error_response(exc, request_id_of(request))

    return endpoint


async def report_csv(request: Request, gw: Gateway) -> Response:
    report = await gw.governance.report(report_filter(request), _time(request, "asOf"))
    view = request.query_params.get("view", "violations")
    if view not in ("violations", "summary"):
        raise BadInput(f"unknown report view {view!r} (violations or summary)", field="view")
    return StreamingResponse(
        reports.csv_lines(report, view),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": content_disposition(f"compliance-{view}.csv")},
    )


async def report_json(request: Request, gw: Gateway) -> Response:
    report = await gw.governance.report(report_filter(request), _time(request, "asOf"))
    return JSONResponse(await reports.json_document(report))


# The audit export formats: each its own route, so no other path reaches the handler
# (and nothing from the path is echoed into Content-Disposition).
AUDIT_FORMATS = ("jsonl", "csv")


def audit_export(fmt: str) -> Handler:
    async def export(request: Request, gw: Gateway) -> Response:
        return await _audit_export(request, gw, fmt)

    return export


async def _audit_export(request: Request, gw: Gateway, fmt: str) -> Response:
    f = audit_filter(request)
    verify = request.query_params.get("verify", "false")
    if verify not in ("true", "false") or (verify == "true" and fmt != "jsonl"):
        raise BadInput("verify must be true or false, and true only for JSON Lines", field="verify")
    headers = {"content-disposition": content_disposition(f"audit.{fmt}")}
    if verify == "true":
        export = await audit.verified_export(gw.database, f)
        seq, head = export.head
        headers["x-modelgate-audit-verified"] = "ok" if export.verification.ok else "broken"
        headers["x-modelgate-audit-head"] = f"{seq}:{head or ''}"
        return StreamingResponse(export.lines, media_type="application/x-ndjson", headers=headers)

    async def lines() -> AsyncIterator[str]:
        if fmt == "csv":
            yield audit.csv_header()
        async for event in audit.iter_events(gw.database, f):
            yield audit.to_csv(event) if fmt == "csv" else audit.to_jsonl(event)

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    # The chain's head when the export began: publish it, and a later
    # `audit verify --expect-head` catches a log cut back behind it.
    seq, head = await audit.chain_head(gw.database)
    headers["x-modelgate-audit-head"] = f"{seq}:{head or ''}"
    return StreamingResponse(lines(), media_type=media, headers=headers)


async def inventory_download(request: Request, gw: Gateway) -> Response:
    q = request.query_params
    fmt = q.get("format", "json")
    if fmt not in ("csv", "json"):
        raise BadInput(f"format must be csv or json, got {fmt!r}", field="format")
    overdue = q.get("reviewOverdue")
    if overdue not in (None, "true", "false"):
        raise BadInput("reviewOverdue must be true or false", field="reviewOverdue")
    try:
        states = tuple(inventory.ComplianceState(s) for s in q.getlist("state"))
    except ValueError:
        raise BadInput(
            f"state must be one of {', '.join(inventory.ComplianceState.__members__)}", field="state"
        ) from None
    f = inventory.InventoryFilter(
        registries=tuple(q.getlist("registry")),
        teams=tuple(q.getlist("team")),
        tiers=tuple(q.getlist("tier")),
        states=states,
        review_overdue=None if overdue is None else overdue == "true",
    )
    inv = await gw.governance.inventory(f, _time(request, "asOf"))
    if fmt == "json":
        return JSONResponse(inventory.json_document(inv))
    lines = "".join(csv_line(row) for row in inventory.csv_rows(inv))
    return Response(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": content_disposition("compliance-inventory.csv")},
    )


async def evidence(request: Request, gw: Gateway) -> Response:
    uri = request.query_params.get("uri")
    if not uri:
        raise BadInput("uri is required (a version URI)", field="uri")
    fmt = request.query_params.get("format", "html")
    if fmt not in ("html", "pdf"):
        raise BadInput(f"format must be html or pdf, got {fmt!r}", field="format")
    access = gw.access(await current_principal(request))
    uri = await resolve_version_uri(gw.index, uri, access.visibility)  # @production: the version now
    pack = await gather(gw, uri, access)
    body = await asyncio.to_thread(render, pack, fmt)  # PDF layout is CPU work: off the event loop
    name = f"evidence-{pack.version.model_name}-{pack.version.version}.{fmt}"
    return Response(
        body,
        media_type="application/pdf" if fmt == "pdf" else "text/html; charset=utf-8",
        headers={
            "content-disposition": content_disposition(name, inline=fmt == "html"),
            "x-modelgate-audit-head": f"{pack.chain_events}:{pack.chain_head or ''}",
        },
    )


def routes() -> list[Route]:
    """The download routes (who asks: the principal the auth middleware set)."""
    return [
        Route("/reports/inventory", guarded(inventory_download)),
        Route("/reports/evidence", guarded(evidence)),
        Route("/reports/compliance.csv", guarded(report_csv)),
        Route("/reports/compliance.json", guarded(report_json)),
        *(Route(f"/audit/export.{fmt}", guarded(audit_export(fmt))) for fmt in AUDIT_FORMATS),
    ]


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """A ``Content-Disposition`` value for ``filename`` (RFC 6266): names come from
    registries, so the quoted ASCII name keeps only safe characters, and the exact
    name travels percent-encoded in ``filename*``."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    exact = urllib.parse.quote(filename, safe="")
    return f"{'inline' if inline else 'attachment'}; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
