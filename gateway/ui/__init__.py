"""The web dashboard: one static page (vanilla JS modules, no build step, no CDN)
served at ``/``, which talks to the gateway only through its own GraphQL API and
report downloads. Every asset ships in this package (``static/``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.evidence.render import pdf_unavailable
from gateway.personas import Persona

# The page needs nothing from elsewhere; the policy has the browser enforce that
# (and blunts any injected markup: no inline scripts or styles run).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def graphiql_page() -> bytes:
    """GraphiQL, loading its scripts from ``/ui/vendor/`` (shipped here) instead
    of a CDN, so it works offline and behind a firewall."""
    return (resources.files(__package__) / "static" / "graphiql.html").read_bytes()


def routes(personas: Sequence[Persona] = ()) -> list[BaseRoute]:
    """``/`` (the page), ``/ui/*`` (its scripts and styles), ``/ui/capabilities.json``
    (what this installation can render: PDF evidence packs need an extra) and, for
    ``modelgate demo``, ``/ui/personas.json``: who the dashboard can act as (404 otherwise)."""
    index = (resources.files(__package__) / "static" / "index.html").read_bytes()

    async def dashboard(_request: Request) -> Response:
        """The dashboard's page (its data comes through /graphql)."""
        return Response(
            index,
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": CONTENT_SECURITY_POLICY, "cache-control": "no-cache"},
        )

    async def demo_personas(_request: Request) -> Response:
        """Who the dashboard can act as, under ``modelgate demo`` (404 otherwise)."""
        if not personas:
            return JSONResponse({"personas": []}, status_code=404)
        body = {"personas": [p.as_json() for p in personas]}
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def capabilities(_request: Request) -> Response:
        """What this installation can render: PDF evidence packs need the ``reports`` extra."""
        # Importing WeasyPrint (and Pango through it) takes a while the first time: off the loop.
        pdf_problem = await asyncio.to_thread(pdf_unavailable)
        body = {"evidencePdf": {"available": pdf_problem is None, "reason": pdf_problem}}
        return JSONResponse(body, headers={"cache-control": "no-store"})

    return [
        Route("/", dashboard),
        Route("/ui/personas.json", demo_personas),
        Route("/ui/capabilities.json", capabilities),
        Mount("/ui", app=StaticFiles(packages=[(__package__, "static")]), name="ui"),
    ]
