"""Whole-catalogue upkeep on a served gateway: after a policy change the server is
ready at once and re-evaluates every version in the background, with its progress
in ``/readyz``; the re-evaluation is recorded as done only once it finished."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from gateway.domain import Model, ModelVersion, Stage
from gateway.runtime import LINEAGE_REHARVEST, POLICY_REEVALUATION, Gateway
from gateway.server import create_app
from tests.governance.conftest import POLICIES, write_policies
from tests.support import make_settings

STRICTER = POLICIES.replace(">= 0.8", ">= 0.95")  # min-auc: 0.9 was enough, no longer


async def test_a_policy_change_is_reevaluated_in_the_background_with_progress_in_readyz(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, governance={"policies": str(write_policies(tmp_path))})
    gw = await Gateway.open(settings)
    model = Model("platform", "scorer", team="platform")
    versions = [
        ModelVersion("platform", "scorer", str(n), stage=Stage.DRAFT, metrics={"auc": 0.9}, team="platform")
        for n in (1, 2, 3)
    ]
    await gw.index.replace_models([(model, versions)])
    assert all(
        c.compliant and not c.violations
        for c in (await gw.governance.stored_compliance([v.uri for v in versions])).values()
    )
    assert gw.upkeep == []  # opened for a caller that waits: done before ``open`` returned
    await gw.aclose()

    stricter = make_settings(
        database_url,
        tmp_path,
        governance={"policies": str(write_policies(tmp_path, STRICTER, "stricter.yaml"))},
    )
    app = create_app(stricter, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        served: Gateway = app.state.gateway
        assert [p.task for p in served.upkeep] == [POLICY_REEVALUATION, LINEAGE_REHARVEST] or [
            p.task for p in served.upkeep
        ] == [POLICY_REEVALUATION]
        for _ in range(200):
            body = (await client.get("/readyz")).json()
            upkeep = {u["task"]: u for u in body["upkeep"]}
            assert body["status"] in ("ready", "degraded")
            if upkeep[POLICY_REEVALUATION]["state"] == "done":
                break
            await asyncio.sleep(0.05)
        assert upkeep[POLICY_REEVALUATION] | {"seconds": 0} == {
            "task": POLICY_REEVALUATION,
            "state": "done",
            "done": 1,
            "total": 1,
            "unit": "models",
            "seconds": 0,
        }
        stored = await served.governance.stored_compliance([v.uri for v in versions])
        assert {uri: [v.policy for v in c.violations] for uri, c in stored.items()} == {
            v.uri: ["min-auc"] for v in versions
        }
        assert not await served.governance.reevaluation_needed()


async def test_stopping_the_server_stops_the_upkeep_and_leaves_it_to_do_again(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, governance={"policies": str(write_policies(tmp_path))})
    gw = await Gateway.open(settings)
    batch = [
        (
            Model("platform", f"m{i}", team="platform"),
            [ModelVersion("platform", f"m{i}", "1", metrics={"auc": 0.9})],
        )
        for i in range(1200)
    ]
    await gw.index.replace_models(batch)
    await gw.aclose()

    stricter = make_settings(
        database_url,
        tmp_path,
        governance={"policies": str(write_policies(tmp_path, STRICTER, "stricter.yaml"))},
    )
    served = await Gateway.open(stricter, background_upkeep=True)
    served.start_upkeep()
    await asyncio.sleep(0)  # under way
    await served.aclose()  # what SIGTERM does (the server's lifespan ends)
    state = served.upkeep[0].state
    assert state in ("stopped", "done")  # a tiny catalogue may be done already
    again = await Gateway.open(stricter, background_upkeep=True)
    try:
        assert await again.governance.reevaluation_needed() is (state == "stopped")
    finally:
        await again.aclose()
