"""A registry that suddenly answers "nothing" does not wipe its catalogue.

The registry is the real MLflow adapter against a loopback server that answers
MLflow's searches as MLflow does, then switches to ``{}`` (what MLflow answers when
it has no models, and what a proxy's or a wrong path's answer parses to). A sync
that would remove more than ``max_removal_share`` of the registry's models is held:
nothing removed, no ``version.removed`` audit event, the registry DEGRADED with a
``lastError`` that says how to confirm; ``modelgate sync --full --allow-removals``
then applies the removals. Every path that removes (full, incremental, a webhook's
refresh) goes through the same check."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from gateway.governance import audit
from gateway.runtime import Gateway
from gateway.server import create_app
from gateway.store.tables import catalogue_models
from tests.servers.flaky_mlflow import FlakyMlflow
from tests.support import data_of, gql, make_settings

REGISTRY = "flaky"
MODELS = ["churn", "fraud", "ranker"]
STATE = "{ registries { id state lastError } }"


def registry(url: str, **keys: Any) -> dict[str, Any]:
    return {
        "id": REGISTRY,
        "kind": "mlflow",
        "team": "t",
        "url": url,
        "fetch_run_details": False,
        "read_model_files": False,
        **keys,
    }


@pytest.fixture
def server() -> Iterator[FlakyMlflow]:
    with FlakyMlflow(MODELS) as running:
        yield running


@contextlib.asynccontextmanager
async def served(
    database_url: str, tmp_path: Path, server: FlakyMlflow, **keys: Any
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    settings = make_settings(database_url, tmp_path, registries=[registry(server.url, **keys)])
    gw = await Gateway.open(settings)
    app = create_app(settings, gateway=gw, background_sync=False)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
        ):
            yield gw, client
    finally:
        await gw.aclose()


async def indexed(gw: Gateway) -> list[str]:
    async with gw.database.read() as conn:
        query = select(catalogue_models.c.name).where(catalogue_models.c.registry_id == REGISTRY)
        return sorted((await conn.execute(query)).scalars())


async def removal_events(gw: Gateway) -> int:
    page = await audit.query_events(gw.database, audit.AuditFilter(action="version.removed"), 100, None)
    return len(page.events)


async def state(gw: Gateway, client: httpx.AsyncClient) -> tuple[str, str | None, str]:
    gw.index._health = None  # the one-second memo of the sync record: read it now
    (entry,) = data_of(await gql(client, STATE))["registries"]
    ready = (await client.get("/readyz")).json()["registries"][REGISTRY]
    return entry["state"], entry["lastError"], ready["state"]


async def test_a_registry_answering_empty_is_held_not_wiped(
    database_url: str, tmp_path: Path, server: FlakyMlflow
) -> None:
    async with served(database_url, tmp_path, server) as (gw, client):
        first = await gw.sync.sync_registry(REGISTRY, full=True)
        assert (first.error, first.models, await indexed(gw)) == (None, 3, MODELS)
        assert (await state(gw, client))[0] == "HEALTHY"

        server.answer = {}  # mid-run: every search now answers {}
        held = await gw.sync.sync_registry(REGISTRY, full=True)
        assert held.error is None and held.removed == 0
        assert held.held is not None and "would remove 3 of the 3 models" in held.held
        assert await indexed(gw) == MODELS
        assert await removal_events(gw) == 0
        graphql_state, last_error, readyz_state = await state(gw, client)
        assert graphql_state == readyz_state == "DEGRADED"
        assert last_error is not None
        assert "sync held" in last_error and f"--allow-removals {REGISTRY}" in last_error
        assert not any(name in last_error for name in MODELS)  # counts, never names

        # The next pass (asked for as incremental) is full again, and held again.
        again = await gw.sync.sync_registry(REGISTRY)
        assert again.full and again.held is not None and await indexed(gw) == MODELS

        # The registry answers properly again: the hold clears, nothing was lost.
        server.answer = None
        recovered = await gw.sync.sync_registry(REGISTRY)
        assert recovered.full and recovered.held is None and recovered.removed == 0
        assert (await state(gw, client))[0] == "HEALTHY"


async def test_an_incremental_pass_that_would_wipe_is_held(
    database_url: str, tmp_path: Path, server: FlakyMlflow
) -> None:
    async with served(database_url, tmp_path, server) as (gw, client):
        await gw.sync.sync_registry(REGISTRY, full=True)
        server.answer = {}
        result = await gw.sync.sync_registry(REGISTRY)
        assert not result.full  # MLflow's change tracking reports every model deleted
        assert result.held is not None and result.removed == 0
        assert await indexed(gw) == MODELS and await removal_events(gw) == 0
        assert (await state(gw, client))[0] == "DEGRADED"


async def test_a_webhook_refresh_cannot_empty_the_registry(
    database_url: str, tmp_path: Path, server: FlakyMlflow
) -> None:
    server.models = ["solo"]
    async with served(database_url, tmp_path, server) as (gw, client):
        await gw.sync.sync_registry(REGISTRY, full=True)
        server.models = []
        assert not await gw.sync.refresh_model(REGISTRY, "solo")
        assert await indexed(gw) == ["solo"] and await removal_events(gw) == 0
        assert (await state(gw, client))[0] == "DEGRADED"


async def test_removals_within_the_share_apply(
    database_url: str, tmp_path: Path, server: FlakyMlflow
) -> None:
    async with served(database_url, tmp_path, server) as (gw, client):
        await gw.sync.sync_registry(REGISTRY, full=True)
        server.models = ["churn", "fraud"]  # one of three: not more than half
        result = await gw.sync.sync_registry(REGISTRY, full=True)
        assert (result.held, result.removed) == (None, 1)
        assert await indexed(gw) == ["churn", "fraud"] and await removal_events(gw) == 1
        assert (await state(gw, client))[0] == "HEALTHY"


async def test_max_removal_share_one_applies_every_removal(
    database_url: str, tmp_path: Path, server: FlakyMlflow
) -> None:
    async with served(database_url, tmp_path, server, max_removal_share=1) as (gw, _):
        await gw.sync.sync_registry(REGISTRY, full=True)
        server.answer = {}
        result = await gw.sync.sync_registry(REGISTRY, full=True)
        assert (result.held, result.removed) == (None, 3) and await indexed(gw) == []


def write_config(tmp_path: Path, database_url: str, url: str) -> Path:
    config = tmp_path / "modelgate.toml"
    config.write_text(
        f"""
[storage]
url = "{database_url}"
artifacts_dir = "{tmp_path}/artifacts"

[[registries]]
id = "{REGISTRY}"
kind = "mlflow"
url = "{url}"
fetch_run_details = false
read_model_files = false
"""
    )
    return config


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_the_cli_holds_and_then_applies_when_allowed(
    database_url: str, tmp_path: Path, server: FlakyMlflow
) -> None:
    config = str(write_config(tmp_path, database_url, server.url))
    first = run_cli("sync", "--config", config, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"{REGISTRY}: full sync of 3 models" in first.stdout

    server.answer = {}
    held = run_cli("sync", "--full", "--config", config, cwd=tmp_path)
    assert held.returncode == 1, held.stdout + held.stderr
    assert f"{REGISTRY}: HELD: sync held: it would remove 3 of the 3 models" in held.stderr
    assert f"--allow-removals {REGISTRY}" in held.stderr

    unknown = run_cli("sync", "--full", "--allow-removals", "nope", "--config", config, cwd=tmp_path)
    assert unknown.returncode == 2 and "--allow-removals: no registry 'nope'" in unknown.stderr

    allowed = run_cli("sync", "--full", "--allow-removals", REGISTRY, "--config", config, cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "(0 changed, 3 removed)" in allowed.stdout
