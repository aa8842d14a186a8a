"""Browser fixtures: the demo catalogue served by a real ``modelgate demo``
process with API-key authentication (one key per principal, so a test acts as
several people), and a real headless Chromium (Debian's ``chromium``) driven by
Playwright.

Without Playwright or Chromium the browser tests skip on a developer machine and
fail where ``CI`` or ``MODELGATE_TEST_REQUIRE_SERVICES`` is set. Every test leaves
a screenshot in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import service_missing

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
VIEWPORT = {"width": 1280, "height": 800}
# API keys of the test server: who each one is (name, roles, teams).
OPS_KEY, LEAD_KEY, VIEWER_KEY = "mg_test_ops", "mg_test_lead", "mg_test_viewer"
PRINCIPALS = {
    OPS_KEY: ("olga", ["admin"], []),  # requests promotions, reads compliance reports
    LEAD_KEY: ("lena", ["TEAM_LEAD"], ["research"]),  # approves promotions to STAGING
    VIEWER_KEY: ("vic", [], []),  # reads the catalogue, decides nothing
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_path() -> str:
    return os.environ.get("MODELGATE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


# Module scope, not session: Playwright's sync API keeps an event loop running in
# this thread while it is open, which would break every asyncio test after it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        service_missing("Playwright (pip install playwright)", exc)
    executable = chromium_path()
    if not Path(executable).is_file():
        service_missing("Chromium (apt-get install chromium)", FileNotFoundError(executable))
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Error as exc:
            service_missing(f"Chromium at {executable}", exc)
        yield chromium
        chromium.close()


def with_api_keys(config: str) -> str:
    """The shipped config with ``[auth] mode = "apikey"`` and one key per principal."""
    assert '[auth]\nmode = "none"' in config, "config/modelgate.toml changed: update with_api_keys"
    config = config.replace('[auth]\nmode = "none"', '[auth]\nmode = "apikey"', 1)
    for key, (name, roles, teams) in PRINCIPALS.items():
        config += (
            f'\n[[auth.api_keys]]\nname = "{name}"\nsha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n'
            f"roles = {json.dumps(roles)}\nteams = {json.dumps(teams)}\n"
        )
    return config


@contextlib.contextmanager
def running_demo(
    workdir: Path,
    config_text: str | None = None,
    *,
    git: bool = False,
    sagemaker: bool = False,
    extra: tuple[str, ...] = (),
    command: str = "demo",
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """``modelgate demo`` on a free port in ``workdir``, with the shipped config
    (rewritten to ``config_text`` when given); yields its base URL once ready.
    Without ``git`` and ``sagemaker``, the native registries only: the dashboard
    tests count their models. ``command="serve"`` serves the config's registries
    as they are (nothing seeded); ``env`` is added to the server's environment."""
    shutil.copytree(REPO / "config", workdir / "config")
    config = workdir / "config" / "modelgate.toml"
    if config_text is not None:
        config.write_text(config_text, encoding="utf-8")
    port = free_port()
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            command,
            *([] if git or command != "demo" else ["--no-git"]),
            *([] if sagemaker or command != "demo" else ["--no-sagemaker"]),
            *extra,
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (workdir / "server.log").read_text()
            assert time.monotonic() < deadline, "the demo server did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``modelgate demo`` on a free port, its API keys those of ``PRINCIPALS``."""
    shipped = (REPO / "config" / "modelgate.toml").read_text(encoding="utf-8")
    with running_demo(tmp_path_factory.mktemp("ui-demo"), with_api_keys(shipped)) as base:
        yield base


@pytest.fixture(scope="session")
def plain_demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``modelgate demo`` exactly as the README starts it (auth off, personas on)."""
    with running_demo(tmp_path_factory.mktemp("ui-plain-demo"), git=True, sagemaker=True) as base:
        yield base


@contextlib.contextmanager
def browser_page(browser: Any, base_url: str, name: str) -> Iterator[Any]:
    """A fresh browser context on ``base_url``; fails the test on any uncaught
    script error or any request that leaves the server."""
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    script_errors: list[str] = []
    elsewhere: list[str] = []
    tab.on("pageerror", lambda error: script_errors.append(str(error)))
    tab.on(
        "request",
        lambda r: None if r.url.startswith((base_url, "blob:", "data:")) else elsewhere.append(r.url),
    )
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        # A page that crashed has no screenshot; that must not hide the test's own error.
        with contextlib.suppress(Exception):
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()
    assert not script_errors, script_errors
    assert not elsewhere, f"the page fetched from outside the gateway: {elsewhere}"


@pytest.fixture
def page(browser: Any, demo_server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A browser tab on the API-key demo server."""
    with browser_page(browser, demo_server, request.node.name) as tab:
        yield tab


@pytest.fixture
def plain_page(browser: Any, plain_demo_server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A browser tab on the demo as the README starts it."""
    with browser_page(browser, plain_demo_server, request.node.name) as tab:
        yield tab


@pytest.fixture
def graphql(demo_server: str) -> Any:
    """POST a GraphQL operation to the demo server with an API key."""

    def run(query: str, variables: dict[str, Any] | None = None, key: str = OPS_KEY) -> dict[str, Any]:
        response = httpx.post(
            f"{demo_server}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {key}"},
            timeout=10,
        )
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    return run
