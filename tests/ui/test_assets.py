"""The dashboard's assets without a browser: shipped in the package, served with
the right types, referencing nothing outside the gateway, not in the API's way."""

from __future__ import annotations

import fnmatch
import re
import sys
import tomllib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from gateway import ui
from gateway.server import create_app
from tests.support import make_settings

REPO = Path(__file__).resolve().parents[2]
STATIC = resources.files("gateway.ui") / "static"
ASSETS = sorted(f.name for f in STATIC.iterdir() if f.is_file())
# The SVG namespace is a name the browser never fetches; every other URL is suspect.
URL = re.compile(r"""(?:https?:)?//[\w-]+(?:\.[\w-]+)+[^\s"'`)]*""")
ALLOWED_URLS = {"http://www.w3.org/2000/svg"}


@pytest.fixture
async def ui_client() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=ui.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as c:
        yield c


def test_assets_are_package_data() -> None:
    """A wheel ships every asset: each matches a package-data pattern."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert {"index.html", "app.js", "style.css"} <= set(ASSETS)
    for name in ASSETS:
        path = f"ui/static/{name}"
        assert any(fnmatch.fnmatch(path, p) for p in patterns["gateway"]), path


@pytest.mark.parametrize("name", ASSETS)
def test_assets_fetch_nothing_from_the_internet(name: str) -> None:
    text = (STATIC / name).read_text(encoding="utf-8")
    assert set(URL.findall(text)) <= ALLOWED_URLS, name


def test_module_imports_name_shipped_files() -> None:
    for name in ASSETS:
        if name.endswith(".js"):
            imported = re.findall(r'^import .* from "\./([^"]+)";$', (STATIC / name).read_text(), re.M)
            assert set(imported) <= set(ASSETS), (name, imported)


async def test_index_is_served_with_a_strict_content_policy(ui_client: httpx.AsyncClient) -> None:
    response = await ui_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    referenced = re.findall(r'(?:src|href)="([^"#]+)"', response.text)
    assert referenced, response.text
    for ref in referenced:
        if ref.startswith("data:"):
            continue
        assert ref.startswith("ui/"), ref
        asset = await ui_client.get(f"/{ref}")
        assert asset.status_code == 200, ref


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "javascript"), ("lineage.js", "javascript"), ("style.css", "text/css")],
)
async def test_assets_have_sensible_content_types(
    ui_client: httpx.AsyncClient, name: str, content_type: str
) -> None:
    response = await ui_client.get(f"/ui/{name}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.headers.get("etag")


async def test_unknown_asset_is_a_404(ui_client: httpx.AsyncClient) -> None:
    assert (await ui_client.get("/ui/../../server.py")).status_code == 404
    assert (await ui_client.get("/ui/nope.js")).status_code == 404


async def test_dashboard_leaves_the_api_routes_alone(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path)
    app = create_app(settings, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as c,
    ):
        assert "modelgate" in (await c.get("/")).text
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        graphiql = await c.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" in graphiql.text.lower()
        answer = await c.post("/graphql", json={"query": "{ registries { id } }"})
        assert answer.json()["data"]["registries"] == [{"id": "platform"}, {"id": "research"}]
        report = await c.get("/reports/compliance.csv")
        assert report.headers["content-type"].startswith("text/csv")


async def test_capabilities_say_whether_evidence_pdfs_can_be_made(
    ui_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui, "pdf_unavailable", lambda: None)
    body = (await ui_client.get("/ui/capabilities.json")).json()
    assert body == {"evidencePdf": {"available": True, "reason": None}}
    reason = "PDF needs WeasyPrint and Pango (pip install 'modelgate[reports]'): no Pango"
    monkeypatch.setattr(ui, "pdf_unavailable", lambda: reason)
    response = await ui_client.get("/ui/capabilities.json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"evidencePdf": {"available": False, "reason": reason}}


def test_pdf_support_is_detected_from_weasyprint_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.evidence import render

    render.pdf_unavailable.cache_clear()
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if the `reports` extra were absent
    try:
        reason = render.pdf_unavailable()
        assert reason is not None and "pip install 'modelgate[reports]'" in reason
    finally:
        render.pdf_unavailable.cache_clear()
