"""The manual at ``/docs``: the documentation site (``mkdocs build`` writes it into
``docs_site/`` beside this module), served from the package so an air-gapped
installation has it. An installation without it says how to get it, in the
gateway's error shape, instead of a bare 404."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.http_errors import error_response, request_id_of

PREFIX = "/docs"
MISSING = (
    "this installation has no built manual: build it with `mkdocs build` in a source checkout "
    "(pip install 'modelgate[docs]'), or read docs/ there"
)


def site_directory() -> Path | None:
    """The built site shipped in the package, if it was built before installing."""
    site = Path(str(resources.files(__package__) / "docs_site"))
    return site if (site / "index.html").is_file() else None


def routes() -> list[BaseRoute]:
    site = site_directory()
    if site is not None:
        # html=True: /docs/ answers index.html, and an unknown page the site's own 404 page.
        return [Mount(PREFIX, app=StaticFiles(directory=site, html=True), name="docs")]

    async def absent(request: Request) -> Response:
        """The manual, built into the package (the site's pages and 404 page); an
        installation without it answers this coded 404 saying how to build it."""
        return error_response(404, "NOT_FOUND", MISSING, request_id_of(request))

    return [Route(PREFIX, absent), Route(PREFIX + "/{path:path}", absent)]
