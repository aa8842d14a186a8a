"""``rollouts { endpoint }`` reads each endpoint from its serving system at most
once per request, however many rollouts name it and however many aliases ask:
counted at the adapter (its calls as the gateway's metrics see them), against
moto's SageMaker."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import boto3

from gateway.resilience import GuardedAdapter
from tests.rollouts.support import (
    ALICE,
    REGION,
    REGISTRY,
    DateClock,
    endpoint_with_candidates,
    open_gateway,
    rollout_settings,
)
from tests.support import data_of, gql, served_app

ALIASES = 30
ROLLOUTS = 22


async def test_thirty_aliases_read_each_rollout_endpoint_once(
    tmp_path: Path, moto_sagemaker_url: str, aws_env: None
) -> None:
    sm: Any = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)
    endpoints = [endpoint_with_candidates(sm, 2) for _ in range(2)]
    settings = rollout_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path, moto_sagemaker_url)
    gw = await open_gateway(settings, DateClock())
    try:
        # 22 rollouts over 2 endpoints: each started, and all but the last two aborted.
        for i in range(ROLLOUTS):
            endpoint, uris = endpoints[i % 2]
            rollout = await gw.rollouts.start(ALICE, uris[i // 2 % 2], endpoint, steps=[50, 100])
            if i < ROLLOUTS - 2:
                await gw.rollouts.abort(ALICE, rollout.id, "make room for the next")
        adapter = gw.adapters[REGISTRY]
        assert isinstance(adapter, GuardedAdapter)
        calls: Counter[str] = Counter()
        observe = adapter.observe

        def counting(registry: str, operation: str, seconds: float, error: str | None) -> None:
            calls[operation] += 1
            if observe is not None:
                observe(registry, operation, seconds, error)

        adapter.observe = counting
        query = (
            "{ "
            + " ".join(
                f"r{i}: rollouts {{ id endpoint {{ name traffic {{ percent }} }} }}" for i in range(ALIASES)
            )
            + " }"
        )

        async with served_app(gw, {ALICE.name: ALICE}) as c:
            data = data_of(await gql(c, query))

        assert [len(data[f"r{i}"]) for i in range(ALIASES)] == [ROLLOUTS] * ALIASES
        assert {r["endpoint"]["name"] for r in data["r0"]} == {e for e, _ in endpoints}
        # One live read per distinct endpoint (before: one per rollout per alias, 660).
        assert calls["endpoint_traffic"] == len(endpoints)
    finally:
        await gw.aclose()
