"""A rollout judged by Prometheus: a real ``prometheus`` server (Debian's
package; ``MODELGATE_TEST_PROMETHEUS`` may name the binary) scrapes a small
test service that counts requests and server errors per endpoint and variant,
and the engine evaluates ``[rollouts] prometheus_error_rate_query`` against it.
Traffic is shifted on moto's SageMaker endpoint (the registry is listed in
``prometheus_registries``, so CloudWatch is not asked). Real clock, steps of a
few seconds; waits are bounded, nothing is timed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from gateway.rollouts.records import RolloutStatus
from gateway.runtime import Gateway
from tests.rollouts.support import ALICE, BOB, REGION, Canary, create_canary, rollout_settings, weights

QUERY = (
    'sum(increase(serve_errors_total{endpoint="$endpoint",variant="$variant"}[$window])) / '
    'sum(increase(serve_requests_total{endpoint="$endpoint",variant="$variant"}[$window]))'
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServingService:
    """Serves ``/metrics`` (Prometheus text format) for one endpoint's variants;
    a thread counts 20 requests every 50 ms per variant, ``error_ratio`` of the
    candidate's failing."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.error_ratio = 0.0
        self.requests = {"current": 0, "candidate": 0}
        self.errors = {"current": 0, "candidate": 0}
        self._stop = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                lines = ["# TYPE serve_requests_total counter", "# TYPE serve_errors_total counter"]
                for variant in ("current", "candidate"):
                    labels = f'endpoint="{service.endpoint}",variant="{variant}"'
                    lines.append(f"serve_requests_total{{{labels}}} {service.requests[variant]}")
                    lines.append(f"serve_errors_total{{{labels}}} {service.errors[variant]}")
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def _count(self) -> None:
        while not self._stop.wait(0.05):
            for variant in self.requests:
                self.requests[variant] += 20
            self.errors["candidate"] += round(20 * self.error_ratio)

    def __enter__(self) -> ServingService:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self._count, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def _scraped(url: str, samples: int) -> bool:
    query = urllib.parse.urlencode({"query": "min(count_over_time(serve_requests_total[1m]))"})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=2) as answer:
            result = json.load(answer)["data"]["result"]
    except OSError:
        return False
    return bool(result) and float(result[0]["value"][1]) >= samples


def prometheus_binary() -> str | None:
    named = os.environ.get("MODELGATE_TEST_PROMETHEUS")
    return (
        named
        or shutil.which("prometheus")
        or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    )


@pytest.fixture
def canary(moto_sagemaker_url: str, aws_env: None) -> Canary:
    return create_canary(boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url))


@pytest.fixture
def service(canary: Canary) -> Iterator[ServingService]:
    with ServingService(canary.endpoint) as running:
        yield running


@pytest.fixture
def prometheus(tmp_path: Path, service: ServingService) -> Iterator[str]:
    from tests.conftest import service_missing

    binary = prometheus_binary()
    if binary is None:
        service_missing("prometheus (apt-get install prometheus)", FileNotFoundError("prometheus"))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: serving\n    static_configs: [{{targets: ['{service.address}']}}]\n"
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-500:]
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.2)
        # Ready is not yet scraped: a step judged before the first samples would see
        # no traffic. Wait until the service's counters have several samples.
        while not _scraped(url, samples=3):
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-500:]
            assert time.monotonic() < deadline, "prometheus did not scrape the serving service"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture
async def gw(
    database_url: str, tmp_path: Path, moto_sagemaker_url: str, prometheus: str
) -> AsyncIterator[Gateway]:
    settings = rollout_settings(
        database_url,
        tmp_path,
        moto_sagemaker_url,
        prometheus_url=prometheus,
        prometheus_error_rate_query=QUERY,
        prometheus_registries=["ads"],
    )
    gateway = await Gateway.open(settings)
    await gateway.sync.sync_all(full=True)
    try:
        yield gateway
    finally:
        await gateway.aclose()


async def until(gw: Gateway, rollout_id: str, done: Any, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not done(await gw.rollouts.get(rollout_id)):
        assert time.monotonic() < deadline, await gw.rollouts.get(rollout_id)
        await gw.rollouts.tick()
        await asyncio.sleep(0.25)


async def test_prometheus_passes_a_clean_step_and_rolls_back_a_failing_one(
    gw: Gateway, canary: Canary, service: ServingService, moto_sagemaker_url: str
) -> None:
    sm: Any = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)
    rollout = await gw.rollouts.start(
        ALICE, canary.candidate_uri, canary.endpoint, steps=[30, 60, 100], step_seconds=4, max_error_rate=0.05
    )
    await gw.governance.promotions.approve(BOB, rollout.promotion_id or "")
    await gw.rollouts.tick()
    assert weights(sm, canary.endpoint) == {"current": 70.0, "candidate": 30.0}

    await until(gw, rollout.id, lambda r: len(r.steps) == 2)  # step 1 judged, step 2 shifted
    service.error_ratio = 0.25
    await until(gw, rollout.id, lambda r: r.status is not RolloutStatus.RUNNING)

    done = await gw.rollouts.get(rollout.id)
    assert done.status is RolloutStatus.ROLLED_BACK, done.outcome
    first, second = done.steps
    assert (first.percent, first.passed, first.error_rate) == (30.0, True, 0.0)
    assert second.percent == 60.0 and second.passed is False
    assert second.error_rate is not None and second.error_rate > 0.05
    assert weights(sm, canary.endpoint) == {"current": 100.0, "candidate": 0.0}
