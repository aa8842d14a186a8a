"""The documentation site: it builds with ``mkdocs build --strict`` (a missing page,
a broken link or anchor, a missing included file fails), no link inside the built
site is broken, it loads nothing from the network, and ``modelgate serve`` serves
it at /docs (or says, in the error shape, that this installation has none)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.server import create_app
from gateway.ui import manual
from tests.support import make_settings

REPO = Path(__file__).resolve().parents[1]
# Where the gateway serves the site (mkdocs.yml's site_url).
SITE_PATH = "/docs/"
REGISTRY_PAGES = [
    "mlflow",
    "sagemaker",
    "vertex",
    "kubeflow",
    "azureml",
    "gto",
    "wandb",
    "huggingface",
    "unity-catalog",
    "native",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as CI builds it (strict), into a directory of its own."""
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    return out


class _Refs(HTMLParser):
    """Every href and src of a page, and every id it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.external_loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        for name in ("href", "src"):
            value = values.get(name)
            if value is None:
                continue
            self.refs.append(value)
            # What a browser fetches by itself (scripts, styles, images, fonts), not links a reader follows.
            if (
                tag != "a"
                and values.get("rel") != "canonical"
                and urlsplit(value).scheme in ("http", "https")
            ):
                self.external_loads.append(f"<{tag} {name}={value}>")


def parse(page: Path) -> _Refs:
    refs = _Refs()
    refs.feed(page.read_text(encoding="utf-8"))
    return refs


def broken_links(site: Path) -> list[str]:
    """Internal links (relative URLs) of every HTML page whose file or anchor is missing."""
    pages = {p: parse(p) for p in site.rglob("*.html")}
    problems = []
    for page, refs in pages.items():
        for ref in refs.refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("mailto:", "data:")):
                continue
            if parts.path.startswith("/"):  # absolute (the 404 page's): the site lives at SITE_PATH
                if not parts.path.startswith(SITE_PATH):
                    problems.append(f"{page.relative_to(site)} -> {ref}: outside {SITE_PATH}")
                    continue
                target = (site / unquote(parts.path[len(SITE_PATH) :])).resolve()
            else:
                target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)} -> {ref}"
            if not target.is_file():
                problems.append(f"{where}: no such file")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where}: no anchor #{parts.fragment}")
    return problems


def test_the_site_has_every_page_the_manual_promises(site: Path) -> None:
    for page in [
        "index.html", "quickstart.html", "configuration.html", "uris.html", "writing-an-adapter.html",
        "benchmarks.html", "tutorials/platform-operator.html", "tutorials/ml-engineer.html",
        "tutorials/compliance-officer.html", "tutorials/dashboard-author.html", "operations/kubernetes.html",
        "reference/graphql.html", "reference/cli.html", "reference/rest.html", "reference/errors.html",
        "reference/metrics.html", *(f"registries/{name}.html" for name in REGISTRY_PAGES),
    ]:  # fmt: skip
        assert (site / page).is_file(), page
    # The Kubernetes page includes the shipped manifests themselves.
    text = re.sub(r"<[^>]+>", "", (site / "operations" / "kubernetes.html").read_text(encoding="utf-8"))
    assert "kind: Deployment" in text
    assert "MODELGATE_STORAGE_URL" in text


def test_no_internal_link_is_broken(site: Path) -> None:
    assert len(list(site.rglob("*.html"))) > 40
    assert broken_links(site) == []


def test_the_checker_finds_a_broken_link_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<a href="b.html#there">b</a> <a href="gone.html">x</a> <a href="#top">t</a>'
    )
    (tmp_path / "b.html").write_text(
        '<h1 id="here">b</h1> <a href="https://example.com/">o</a> <a href="/x">x</a>'
    )
    assert sorted(broken_links(tmp_path)) == [
        "a.html -> #top: no anchor #top",
        "a.html -> b.html#there: no anchor #there",
        "a.html -> gone.html: no such file",
        "b.html -> /x: outside /docs/",
    ]


def test_the_site_loads_nothing_from_the_network(site: Path) -> None:
    """Fonts, scripts, styles and images all ship in the site: it works air-gapped."""
    loads = [
        f"{p.relative_to(site)}: {load}" for p in site.rglob("*.html") for load in parse(p).external_loads
    ]
    assert loads == []


def test_source_files_the_pages_link_are_in_the_site(site: Path) -> None:
    assert (site / "source" / "adapters" / "protocol.py.txt").is_file()
    assert (site / "source" / "gateway" / "lineage" / "index.html").is_file()


@pytest.fixture
def served_site(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(manual, "site_directory", lambda: site)
    yield site


@pytest.fixture
async def gateway_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway that authenticates with API keys: the manual is open to anyone."""
    settings = make_settings(
        f"sqlite:///{tmp_path / 'mg.db'}",
        tmp_path,
        auth={"mode": "apikey", "api_keys": [{"name": "ci", "sha256": "0" * 64, "roles": [], "teams": []}]},
    )
    app = create_app(settings, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client,
    ):
        yield client


@pytest.mark.usefixtures("served_site")
async def test_the_gateway_serves_its_manual_at_docs(gateway_client: httpx.AsyncClient) -> None:
    home = await gateway_client.get("/docs/index.html")
    assert home.status_code == 200, home.text
    assert home.headers["content-type"].startswith("text/html")
    assert "One GraphQL API in front of every model registry" in home.text
    assert (await gateway_client.get("/docs/")).text == home.text
    page = await gateway_client.get("/docs/registries/mlflow.html")
    assert page.status_code == 200
    assert "What the registry must allow" in page.text
    # The rest of the gateway still asks for credentials.
    assert (await gateway_client.post("/graphql", json={"query": "{ registries { id } }"})).status_code == 401


async def test_without_a_built_manual_docs_answers_a_coded_404(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manual, "site_directory", lambda: None)
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'mg.db'}", tmp_path), background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client,
    ):
        for path in ("/docs", "/docs/", "/docs/registries/mlflow.html"):
            response = await client.get(path)
            assert response.status_code == 404, path
            (error,) = response.json()["errors"]
            assert error["extensions"]["code"] == "NOT_FOUND"
            assert "mkdocs build" in error["message"]
            assert error["extensions"]["requestId"] == response.headers["x-request-id"]
            assert "Traceback" not in response.text


def test_the_built_site_is_package_data(tmp_path: Path) -> None:
    """A wheel built after `mkdocs build` carries every file of the site: the
    package-data globs (setuptools' recursive `**`) match each, top level included."""
    import glob
    import tomllib

    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    wanted = {"ui/docs_site/index.html", "ui/docs_site/registries/mlflow.html", "ui/docs_site/assets/x/y.js"}
    for path in wanted:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    matched = {m for p in patterns["gateway"] for m in glob.glob(p, root_dir=tmp_path, recursive=True)}
    assert wanted <= matched
