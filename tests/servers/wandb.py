"""Session fixtures for the W&B tests: the schema-checked fake
(``tests.fakes.wandb``) served by uvicorn on 127.0.0.1 in a background thread,
and the **real** ``wandb`` public API client (``wandb.Api``) pointed at it.

``wandb_server`` starts once per session; ``wandb_fake`` hands it to one test,
resets its switches afterwards, and fails the test if any document sent in the
test (by the SDK or by the adapter) did not validate against the schema.
"""

from __future__ import annotations

import functools
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.fakes.wandb import FakeStore, FakeWandb

ORGANIZATION = "acme"
ORG_ENTITY = "acme-org"
TEAM = "acme-ml"


@dataclass
class WandbServer:
    fake: FakeWandb
    base_url: str
    key: str
    admin_key: str
    home: Path

    @property
    def store(self) -> FakeStore:
        return self.fake.store

    def options(self, **overrides: Any) -> dict[str, Any]:
        return {"url": self.base_url, "organization": ORGANIZATION, "api_key_env": "WANDB_KEY", **overrides}

    @property
    def environ(self) -> dict[str, str]:
        return {"WANDB_KEY": self.key}

    @functools.cached_property
    def api(self) -> Any:
        """``wandb.Api`` as a data scientist opens it, against the fake (its
        requests go through the SDK's wandb-core service process)."""
        return self.client(self.key)

    def client(self, key: str) -> Any:
        import wandb

        return wandb.Api(api_key=key, overrides={"base_url": self.base_url, "entity": TEAM}, timeout=30)


def _sdk_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "WANDB_DIR": str(home),
        "WANDB_CONFIG_DIR": str(home / "config"),
        "WANDB_CACHE_DIR": str(home / "cache"),
        "WANDB_DATA_DIR": str(home / "data"),
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_CODE": "true",
        "WANDB_X_DISABLE_STATS": "true",
        "WANDB_ERROR_REPORTING": "false",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def wandb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WandbServer]:
    key, admin_key = secrets.token_hex(20), secrets.token_hex(20)  # W&B keys are 40 hex characters
    fake = FakeWandb(FakeStore(ORGANIZATION, ORG_ENTITY, TEAM), keys={key, admin_key}, admin_keys={admin_key})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            fake.app(), log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="wandb-fake", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the W&B fake did not start")
        time.sleep(0.01)
    fake.store.storage_url = f"http://127.0.0.1:{port}/storage"
    home = tmp_path_factory.mktemp("wandb-home")
    monkeypatch = pytest.MonkeyPatch()
    _sdk_environment(home, monkeypatch)
    try:
        yield WandbServer(fake, f"http://127.0.0.1:{port}", key, admin_key, home)
    finally:
        monkeypatch.undo()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def wandb_fake(wandb_server: WandbServer) -> Iterator[WandbServer]:
    wandb_server.fake.reset_switches()
    seen = len(wandb_server.fake.violations)
    try:
        yield wandb_server
    finally:
        wandb_server.fake.reset_switches()
    new = wandb_server.fake.violations[seen:]
    assert not new, "documents outside the W&B schema the SDK speaks:\n" + "\n".join(new)
