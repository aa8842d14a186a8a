"""Shared fixtures: databases (SQLite and a real PostgreSQL), gateways, API clients.

PostgreSQL tests run against ``MODELGATE_TEST_POSTGRES_URL`` (default: the local
server, database ``test``). Each test gets a fresh database cloned from a
migrated template. Where the server is missing they are skipped, unless
``CI`` or ``MODELGATE_TEST_REQUIRE_SERVICES`` is set, where that is a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.runtime import Gateway
from gateway.server import create_app
from tests.support import make_settings

# The client distribution's source (clients/python) is importable in every process of
# the run, xdist's controller included: a failing client test's report names its
# exception classes, and a controller that cannot import them loses the worker.
CLIENT_SRC = str(Path(__file__).resolve().parents[1] / "clients" / "python" / "src")
if CLIENT_SRC not in sys.path:
    sys.path.insert(0, CLIENT_SRC)

POSTGRES_URL = os.environ.get("MODELGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MODELGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Registry servers (real MLflow, moto, the Vertex fake), each session-scoped.
pytest_plugins = [
    "tests.servers.mlflow",
    "tests.servers.sagemaker",
    "tests.servers.vertex",
    "tests.servers.kubeflow",
    "tests.servers.azureml",
    "tests.servers.wandb",
    "tests.servers.unity_catalog",
    "tests.servers.huggingface",
    "tests.servers.azurite",
    "tests.demo_catalogue",  # demo_gateway
]

REQUIRE_SERVICES = bool(os.environ.get("CI") or os.environ.get("MODELGATE_TEST_REQUIRE_SERVICES"))


def service_missing(what: str, error: BaseException) -> None:
    """Skip on a developer machine without the service; fail where it must exist."""
    message = f"{what} is not reachable ({error}); set it up or see docs/development/testing.md"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def _pg_dsn(database: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_in_thread(coro: Any) -> Any:
    """Run a coroutine to completion on its own loop (a session fixture may be set
    up from inside a test's running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database that every PostgreSQL test clones (fast: a file copy)."""
    from gateway.store.database import Database

    name = f"mg_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def create() -> None:
        await _pg_admin(f'CREATE DATABASE "{name}"')
        db = Database(_pg_dsn(name))
        try:
            await db.migrate()
        finally:
            await db.aclose()

    try:
        run_in_thread(create())
    except (OSError, ImportError) as exc:
        service_missing("PostgreSQL", exc)
    except Exception as exc:
        if "connect" in str(exc).lower() or type(exc).__name__.endswith("ConnectionError"):
            service_missing("PostgreSQL", exc)
        raise
    yield name
    run_in_thread(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"mg_test_{uuid.uuid4().hex[:12]}"
    run_in_thread(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield _pg_dsn(name)
    run_in_thread(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/modelgate.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def gateway(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = await Gateway.open(make_settings(database_url, tmp_path))
    try:
        # As a served gateway does at start: until a registry's first sync completes
        # it is SYNCING and every answer says so.
        await gw.sync.sync_all(full=True)
        yield gw
    finally:
        await gw.aclose()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway.settings, gateway=gateway, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as c,
    ):
        yield c
