"""``kill -9`` of a real ``modelgate serve`` in the middle of a rollout: a new
process over the same store takes the rollout over once the dead one's lease
has expired, and drives it to the end. Real clock here (steps of 1 s); moto's
SageMaker serves the endpoint and the registry.

Invariants checked after the restart: the rollout SUCCEEDED, every step passed,
the endpoint ends with all traffic on the candidate, the candidate is
PRODUCTION in SageMaker, two different processes drove it, and the audit chain
verifies."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from sqlalchemy import select

from gateway.auth.apikeys import hash_key
from gateway.store.database import Database
from gateway.store.tables import audit_events
from tests.rollouts.support import POLICIES, REGION, REGISTRY, create_canary, weights
from tests.security.test_crash import Server
from tests.support import data_of

KEYS = {"alice": "mg_rollout-alice", "bob": "mg_rollout-bob"}
START = """mutation($i: RolloutInput!) { startRollout(input: $i) { id status promotion { id } } }"""
APPROVE = "mutation($id: ID!) { approvePromotion(requestId: $id) { id status } }"
ROLLOUTS = "{ rollouts { id status currentPercent reason steps { percent passed } } }"
VERSION = "query($u: String!) { modelVersion(uri: $u) { uri } }"


def write_config(tmp_path: Path, database_url: str, moto_url: str) -> Path:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    config = tmp_path / "modelgate.toml"
    keys = "".join(
        f'\n[[auth.api_keys]]\nname = "{who}"\nsha256 = "{hash_key(key)}"\nroles = ["TEAM_LEAD"]\nteams = ["ads"]\n'
        for who, key in KEYS.items()
    )
    config.write_text(
        f"""
[storage]
url = "{database_url}"
artifacts_dir = "{tmp_path / "artifacts"}"

[auth]
mode = "apikey"
{keys}
[governance]
policies = "{policies}"

[rollouts]
poll_seconds = 0.2
lease_seconds = 3

[[registries]]
id = "{REGISTRY}"
kind = "sagemaker"
team = "ads"
region = "{REGION}"
endpoint_url = "{moto_url}"
sync_interval_seconds = 1
"""
    )
    return config


async def call(client: httpx.AsyncClient, who: str, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {KEYS[who]}"},
    )
    # The registry is SYNCING right after a start: answers say so, and that is fine here.
    return data_of(response.json(), down=frozenset({REGISTRY}))


async def wait_for(
    client: httpx.AsyncClient, rollout_id: str, done: Any, within: float = 90
) -> dict[str, Any]:
    """Poll ``rollouts`` until ``done(rollout)``; a bound on waiting, not a timing assertion."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [r for r in (await call(client, "alice", ROLLOUTS))["rollouts"] if r["id"] == rollout_id]
        if found and done(found[0]):
            return dict(found[0])
        await asyncio.sleep(0.2)
    raise TimeoutError(f"rollout {rollout_id} did not get there: {found}")


async def test_a_rollout_survives_kill_9_of_the_gateway(
    tmp_path: Path, moto_sagemaker_url: str, aws_env: None
) -> None:
    sm: Any = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)
    canary = create_canary(sm)
    database_url = f"sqlite:///{tmp_path}/modelgate.db"
    config = write_config(tmp_path, database_url, moto_sagemaker_url)
    server = Server(config, tmp_path / "first.log")
    await server.ready()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        deadline = time.monotonic() + 60
        while (await call(client, "alice", VERSION, u=canary.candidate_uri))["modelVersion"] is None:
            assert time.monotonic() < deadline, "the candidate was never synced"
            await asyncio.sleep(0.2)
        started = (
            await call(
                client,
                "alice",
                START,
                i={
                    "uri": canary.candidate_uri,
                    "endpoint": canary.endpoint,
                    "steps": [20, 40, 60, 80, 100],
                    "stepSeconds": 1,
                },
            )
        )["startRollout"]
        assert started["status"] == "PENDING_APPROVAL"
        await call(client, "bob", APPROVE, id=started["promotion"]["id"])
        await wait_for(
            client, started["id"], lambda r: r["status"] == "RUNNING" and r["currentPercent"] >= 40
        )
    server.kill()  # SIGKILL mid-rollout: no shutdown, the lease left to expire
    halfway = weights(sm, canary.endpoint)
    assert 0 < halfway["candidate"] < 100, halfway

    restarted = Server(config, tmp_path / "second.log")
    try:
        await restarted.ready()
        async with httpx.AsyncClient(base_url=restarted.url, timeout=10) as client:
            done = await wait_for(
                client, started["id"], lambda r: r["status"] not in ("RUNNING", "PENDING_APPROVAL")
            )
    finally:
        restarted.kill()

    assert done["status"] == "SUCCEEDED", done
    assert [(s["percent"], s["passed"]) for s in done["steps"]] == [
        (p, True) for p in (20.0, 40.0, 60.0, 80.0, 100.0)
    ]
    assert weights(sm, canary.endpoint) == {"current": 0.0, "candidate": 100.0}
    assert (
        sm.describe_model_package(ModelPackageName=canary.candidate_package)["ModelApprovalStatus"]
        == "Approved"
    )
    db = Database(database_url)
    try:
        async with db.read() as conn:
            events = [r for r in await conn.execute(select(audit_events)) if r.action.startswith("rollout.")]
    finally:
        await db.aclose()
    drivers = {e.details.get("driver") for e in events if e.action == "rollout.step"}
    assert len(drivers) == 2, drivers  # the killed process and the one that resumed
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "audit",
        "verify",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
