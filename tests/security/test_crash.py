"""The database is the source of truth: ``kill -9`` of a real ``modelgate serve``
in the middle of registrations, approvals and a sync loses nothing committed and
leaves no half-written state; SIGTERM lets in-flight requests finish.

The invariants guaranteed after a crash and a restart (once the start-up sync
has run):

1. every registration answered with 200 exists, under the URI it was given;
2. each native model's versions are numbered 1..N with no gap or duplicate, and
   ``last_version`` is N (a number handed out is either committed or reused);
3. every native version has its ``version.registered`` audit event (they commit
   together) and the audit hash chain verifies (``modelgate audit verify``);
4. every approval answered with 200 is recorded; a version's native stage
   changed only through an APPLIED request with its ``promotion.applied`` event;
5. the index holds every native version (a version committed just before the
   crash, whose index refresh never ran, is indexed by the start-up sync).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.auth.apikeys import hash_key
from gateway.store.database import Database
from gateway.store.tables import (
    audit_events,
    catalogue_versions,
    native_models,
    native_versions,
    promotion_approvals,
    promotion_requests,
)
from tests.security.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
KEYS = {"alice": "mg_crash-alice", "bob": "mg_crash-bob"}
MODELS = [f"m{i}" for i in range(4)]


def write_config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    policies = tmp_path / "policies.yaml"
    policies.write_text("policies: []\npromotions:\n  - to: STAGING\n    approvals: [TEAM_LEAD]\n")
    config = tmp_path / "modelgate.toml"
    config.write_text(
        f"""
[storage]
url = "{database_url}"
artifacts_dir = "{tmp_path / "artifacts"}"

[auth]
mode = "apikey"

[[auth.api_keys]]
name = "alice"
sha256 = "{hash_key(KEYS["alice"])}"
roles = ["TEAM_LEAD"]
teams = ["platform"]

[[auth.api_keys]]
name = "bob"
sha256 = "{hash_key(KEYS["bob"])}"
roles = ["TEAM_LEAD"]
teams = ["platform"]

[governance]
policies = "{policies}"

[[registries]]
id = "platform"
kind = "native"
team = "platform"
sync_interval_seconds = 1
{extra}
"""
    )
    return config


class Server:
    """``modelgate serve`` as a child process."""

    def __init__(self, config: Path, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(self.port)],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    async def ready(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, f"server exited: see {self.log.name}"
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("server did not become ready")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.process.send_signal(sig)
        self.process.wait(20)
        self.log.close()


async def gql(client: httpx.AsyncClient, who: str, query: str, **variables: Any) -> dict[str, Any] | None:
    """The response's data, or None if the server died or refused."""
    try:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {KEYS[who]}"},
        )
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    body = response.json()
    return None if body.get("errors") else body["data"]


REGISTER = "mutation($i: RegisterVersionInput!) { registerModelVersion(input: $i) { uri } }"
REQUEST = "mutation($u: String!) { requestPromotion(uri: $u, targetStage: STAGING) { id status } }"
APPROVE = "mutation($id: ID!) { approvePromotion(requestId: $id) { id status } }"


async def load(url: str, registered: list[str], approved: list[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def registrar(n: int) -> None:
            while not stop.is_set():
                model = MODELS[n % len(MODELS)]
                data = await gql(
                    client,
                    "alice",
                    REGISTER,
                    i={"registry": "platform", "model": model, "artifactUri": f"s3://{model}"},
                )
                if data is None:
                    return
                registered.append(data["registerModelVersion"]["uri"])
                n += 1

        async def promoter() -> None:
            while not stop.is_set():
                if not registered:
                    await asyncio.sleep(0.01)
                    continue
                uri = random.choice(registered)
                request = await gql(client, "alice", REQUEST, u=uri)
                if request is None:  # e.g. already promoted or pending: try another
                    await asyncio.sleep(0.005)
                    continue
                if (await gql(client, "bob", APPROVE, id=request["requestPromotion"]["id"])) is not None:
                    approved.append(request["requestPromotion"]["id"])

        await asyncio.gather(*(registrar(i) for i in range(6)), promoter(), promoter())


async def check_invariants(database_url: str, registered: list[str], approved: list[str]) -> None:
    db = Database(database_url)
    try:
        async with db.read() as conn:
            versions = (await conn.execute(select(native_versions))).all()
            models = {r.name: r.last_version for r in await conn.execute(select(native_models))}
            indexed = set((await conn.execute(select(catalogue_versions.c.uri))).scalars())
            events = Counter(
                (r.action, r.subject)
                for r in await conn.execute(select(audit_events.c.action, audit_events.c.subject))
            )
            approvals = set((await conn.execute(select(promotion_approvals.c.request_id))).scalars())
            requests = (await conn.execute(select(promotion_requests))).all()
            applied_events = (
                await conn.execute(
                    select(func.count())
                    .select_from(audit_events)
                    .where(audit_events.c.action == "promotion.applied")
                )
            ).scalar_one()
    finally:
        await db.aclose()
    native = {f"mg://platform/{v.model_name}/{v.version}": v for v in versions}
    # 1. nothing answered with 200 is lost
    assert set(registered) <= set(native), set(registered) - set(native)
    # 2. numbering without gaps or duplicates
    for name, last in models.items():
        numbers = sorted(v.version for v in versions if v.model_name == name)
        assert numbers == list(range(1, last + 1)), (name, numbers, last)
    # 3. every version has its registration event
    for uri in native:
        assert events[("version.registered", uri)] == 1, uri
    # 4. approvals recorded; stages changed only by applied promotions
    assert set(approved) <= approvals
    applied = {r.version_uri for r in requests if r.status == "APPLIED"}
    assert applied_events == len([r for r in requests if r.status == "APPLIED"])
    for uri, v in native.items():
        assert (v.stage != "DRAFT") == (uri in applied), (uri, v.stage)
    # 5. the index caught up with everything committed
    assert set(native) <= indexed, set(native) - indexed


def audit_verify(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "audit", "verify", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def wait_for_index(database_url: str, within: float = 20) -> None:
    """The restarted server's start-up sync has indexed every native version."""
    db = Database(database_url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            async with db.read() as conn:
                native = (await conn.execute(select(func.count()).select_from(native_versions))).scalar_one()
                indexed = (
                    await conn.execute(select(func.count()).select_from(catalogue_versions))
                ).scalar_one()
            if native == indexed:
                return
            await asyncio.sleep(0.2)
    finally:
        await db.aclose()


async def test_kill_9_loses_nothing_committed(database_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, database_url)
    log = tmp_path / "server.log"
    registered: list[str] = []
    approved: list[str] = []
    for round_ in range(2):  # crash twice: the second time on top of a recovered database
        server = Server(config, log)
        await server.ready()
        stop = asyncio.Event()
        traffic = asyncio.create_task(load(server.url, registered, approved, stop))
        await asyncio.sleep(1.0 + random.random() * 0.5)
        before = len(registered)
        server.kill(signal.SIGKILL)  # mid-request: several are in flight
        stop.set()
        await asyncio.wait_for(traffic, 15)
        assert before > 5, f"round {round_}: too little traffic to mean anything ({before})"
        print(f"crash {round_}: {len(registered)} registrations, {len(approved)} approvals answered")
    server = Server(config, log)
    await server.ready()
    try:
        await wait_for_index(database_url)
        await check_invariants(database_url, registered, approved)
        assert approved, "no promotion was approved before the crashes"
    finally:
        server.kill(signal.SIGTERM)
    verified = audit_verify(config)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sigterm_lets_in_flight_requests_finish(database_url: str, tmp_path: Path) -> None:
    """A live read of a hanging registry takes about the live deadline (3 s); a
    SIGTERM half-way through must not cut it off."""
    import socket

    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)  # accepts connections (the kernel does) and never answers
    extra = f"""
[[registries]]
id = "stuck"
kind = "mlflow"
team = "ml"
url = "http://127.0.0.1:{hang.getsockname()[1]}"
"""
    config = write_config(tmp_path, database_url, extra)
    server = Server(config, tmp_path / "server.log")
    try:
        await server.ready()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            slow = asyncio.create_task(
                client.post(
                    "/graphql",
                    json={"query": '{ modelVersion(uri: "mg://stuck/m/1", live: true) { uri } }'},
                    headers={"authorization": f"Bearer {KEYS['alice']}"},
                )
            )
            await asyncio.sleep(0.8)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            response = await slow
        assert response.status_code == 200
        assert response.json()["errors"][0]["extensions"]["code"] == "REGISTRY_UNAVAILABLE"
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert server.process.wait(20) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
        assert time.monotonic() - started > 0.5  # it waited for the request
    finally:
        if server.process.poll() is None:
            server.kill()
        hang.close()
