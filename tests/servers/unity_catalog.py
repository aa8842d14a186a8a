"""Session fixtures for the Unity Catalog tests: the spec-validated fake
(``tests.fakes.unity_catalog``) served by uvicorn on 127.0.0.1 in a background
thread, once as the OSS server and once as Databricks, and the **real**
``unitycatalog-client`` (the async SDK generated from the same spec) to seed it.

``uc_oss`` / ``uc_databricks`` hand a server to one test, reset its switches
afterwards, and fail the test if any request or response of that test broke the
spec. State persists for the session: tests use unique model names.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.fakes.unity_catalog import FakeUnityCatalog

CATALOG = "ml"
SCHEMAS = ("prod", "research")


@dataclass
class UnityCatalogServer:
    fake: FakeUnityCatalog
    base_url: str
    token: str

    def options(self, **overrides: Any) -> dict[str, Any]:
        """Registry options for an adapter talking to this fake (the token comes
        from ``UC_TOKEN`` in the environment the test hands ``load_settings``)."""
        return {
            "url": self.base_url,
            "catalog": CATALOG,
            "flavor": self.fake.flavor,
            "token_env": "UC_TOKEN",
            **overrides,
        }

    @property
    def environ(self) -> dict[str, str]:
        return {"UC_TOKEN": self.token}

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/2.1/unity-catalog"

    # --- the real client -------------------------------------------------------

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Any]:
        """``unitycatalog.client.ApiClient`` against this server, as a data team
        would open it (async, aiohttp underneath)."""
        from unitycatalog.client import ApiClient, Configuration

        # The spec declares no security scheme, so the generated client has no
        # token setting: the bearer token goes in as a default header.
        config = Configuration(host=self.api_url)
        async with ApiClient(config, header_name="Authorization", header_value=f"Bearer {self.token}") as api:
            yield api

    async def ensure_namespace(self) -> None:
        """The catalog and its schemas, created with the client if missing."""
        from unitycatalog.client import CatalogsApi, CreateCatalog, CreateSchema, SchemasApi

        if CATALOG in self.fake.store.catalogs:
            return
        async with self.client() as api:
            await CatalogsApi(api).create_catalog(CreateCatalog(name=CATALOG, comment="modelgate tests"))
            for schema in SCHEMAS:
                await SchemasApi(api).create_schema(CreateSchema(name=schema, catalog_name=CATALOG))

    async def register(
        self,
        name: str,
        versions: list[dict[str, Any]],
        *,
        schema: str = SCHEMAS[0],
        comment: str | None = None,
        finalize: bool = True,
    ) -> str:
        """Create model ``name`` (if new) and its versions (``source``, ``run_id``,
        ``comment``) with the client, finalizing each as a registration tool does.
        Returns the model's full name."""
        from unitycatalog.client import (
            CreateModelVersion,
            CreateRegisteredModel,
            FinalizeModelVersion,
            ModelVersionsApi,
            RegisteredModelsApi,
        )

        await self.ensure_namespace()
        full = f"{CATALOG}.{schema}.{name}"
        async with self.client() as api:
            models = RegisteredModelsApi(api)
            if full not in self.fake.store.models:
                await models.create_registered_model(
                    CreateRegisteredModel(
                        name=name, catalog_name=CATALOG, schema_name=schema, comment=comment
                    )
                )
            versions_api = ModelVersionsApi(api)
            for spec in versions:
                created = await versions_api.create_model_version(
                    CreateModelVersion(model_name=name, catalog_name=CATALOG, schema_name=schema, **spec)
                )
                if finalize:
                    await versions_api.finalize_model_version(
                        full, created.version, FinalizeModelVersion(full_name=full, version=created.version)
                    )
        return full

    def reset_switches(self) -> None:
        self.fake.reset_switches()


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _serve(fake: FakeUnityCatalog, token: str) -> Iterator[UnityCatalogServer]:
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            fake.app(), log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uc-fake", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Unity Catalog fake did not start")
        time.sleep(0.01)
    try:
        yield UnityCatalogServer(fake, f"http://127.0.0.1:{port}", token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _started(flavor: str, root: Path) -> Iterator[UnityCatalogServer]:
    token = secrets.token_urlsafe(24)
    yield from _serve(FakeUnityCatalog(root, flavor=flavor, tokens={token}), token)


@pytest.fixture(scope="session")
def uc_oss_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnityCatalogServer]:
    yield from _started("oss", tmp_path_factory.mktemp("uc-oss"))


@pytest.fixture(scope="session")
def uc_databricks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnityCatalogServer]:
    yield from _started("databricks", tmp_path_factory.mktemp("uc-databricks"))


def _checked(server: UnityCatalogServer) -> Iterator[UnityCatalogServer]:
    server.reset_switches()
    seen = len(server.fake.violations)
    try:
        yield server
    finally:
        server.reset_switches()
    new = server.fake.violations[seen:]
    assert not new, "requests or responses outside the Unity Catalog OpenAPI spec:\n" + "\n".join(new)


@pytest.fixture
def uc_oss(uc_oss_server: UnityCatalogServer) -> Iterator[UnityCatalogServer]:
    """The OSS fake for one test; every request and response must match the spec."""
    yield from _checked(uc_oss_server)


@pytest.fixture
def uc_databricks(uc_databricks_server: UnityCatalogServer) -> Iterator[UnityCatalogServer]:
    """The Databricks-mode fake for one test, checked against the spec with
    Databricks' alias additions."""
    yield from _checked(uc_databricks_server)
