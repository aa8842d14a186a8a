"""``mg rollout start|status|abort`` against a real gateway process whose
SageMaker registry is a moto server with a live endpoint (a canary rollout
needs a serving system that shifts traffic)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from modelgate_client import Client, ModelgateError

from tests.client.conftest import KEYS, api_keys_toml, gateway_process, run_mg
from tests.rollouts.support import REGION, Canary, create_canary

REGISTRY_ID = "ads"  # the registry tests.rollouts.support's canaries are named in
POLICIES = "policies: []\npromotions:\n  - to: PRODUCTION\n    approvals: [TEAM_LEAD]\n"


@pytest.fixture(scope="module")
def canary(moto_sagemaker_url: str) -> Canary:
    sm = boto3.client(
        "sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    return create_canary(sm)


@pytest.fixture(scope="module")
def sagemaker_gateway(
    canary: Canary, moto_sagemaker_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    registry = (
        f'\n[[registries]]\nid = "{REGISTRY_ID}"\nkind = "sagemaker"\nteam = "platform"\n'
        f'region = "{REGION}"\nendpoint_url = "{moto_sagemaker_url}"\n'
    )
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setenv(name, "testing")
        with gateway_process(
            tmp_path_factory.mktemp("rollout-gateway"),
            '[auth]\nmode = "apikey"\n' + api_keys_toml(),
            registries=registry,
            policy_file=POLICIES,
        ) as url:
            wait_for_sync(url, canary.candidate_uri)
            yield url


def wait_for_sync(url: str, uri: str, within: float = 90) -> None:
    """The registry's first sync runs in the background: until the version is in the catalogue."""
    deadline = time.monotonic() + within
    with Client(url, api_key=KEYS["alice"]) as mg:
        while True:
            try:
                mg.version(uri)
                return
            except ModelgateError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def test_start_status_abort(sagemaker_gateway: str, canary: Canary) -> None:
    url, alice = sagemaker_gateway, KEYS["alice"]
    started = run_mg("rollout", "start", canary.candidate_uri, "--endpoint", canary.endpoint, "--steps", "50,100",
                     "--step-seconds", "60", "--reason", "canary", "--json", url=url, key=alice)  # fmt: skip
    assert started.code == 0, started.err
    rollout: dict[str, Any] = json.loads(started.out)
    assert rollout["status"] == "PENDING_APPROVAL" and rollout["version"]["uri"] == canary.candidate_uri

    status = run_mg("rollout", "status", rollout["id"], url=url, key=alice)
    assert status.code == 0 and "PENDING_APPROVAL" in status.out and "50%" in status.out
    listed = run_mg("rollout", "status", "--json", url=url, key=alice)
    assert rollout["id"] in [r["id"] for r in json.loads(listed.out)]

    busy = run_mg("rollout", "start", canary.candidate_uri, "--endpoint", canary.endpoint, url=url, key=alice)
    assert busy.code == 1 and "CONFLICT" in busy.err  # one rollout per endpoint

    aborted = run_mg("rollout", "abort", rollout["id"], "--reason", "changed our mind", url=url, key=alice)
    assert aborted.code == 0 and "ABORTED" in aborted.out
    watched = run_mg("rollout", "status", rollout["id"], "--watch", "--poll", "0.2", url=url, key=alice)
    assert watched.code == 1 and "ABORTED" in watched.out  # ended, but not SUCCEEDED
