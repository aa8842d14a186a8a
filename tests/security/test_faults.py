"""A registry that refuses connections, hangs, answers 500s or malformed JSON, or
flaps: queries still answer from the index within bounded time, the breaker
opens (and a dead registry then costs no calls), and it closes on recovery.

The registry here is real HTTP: a small server on 127.0.0.1 whose behaviour the
test switches, read by an adapter built on the shared ``JsonHttpClient`` (so
its timeouts and jittered retries are the ones every HTTP adapter uses)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.base import JsonHttpClient, RetryPolicy, load_factories
from adapters.protocol import AdapterContext, ChangeSet, Health, Page, PromotionContext
from gateway.config import RegistrySettings
from gateway.domain import LineageEdge, Model, ModelVersion, Stage
from gateway.errors import RegistryError, RegistryRejected, RegistryUnavailable
from gateway.resilience import CircuitBreaker, GuardedAdapter
from gateway.runtime import Gateway
from tests.security.conftest import ServerThread, free_port, serve
from tests.support import make_settings

MODELS = ["churn", "fraud", "ranker"]


class FlakyRegistryServer:
    """Answers like a registry, or misbehaves as ``mode`` says."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: Counter[str] = Counter()
        self.url = ""  # set once it listens

        async def handle(request: Request) -> Response:
            self.requests[self.mode] += 1
            if self.mode == "hang":
                await asyncio.sleep(30)
            if self.mode == "500" or (self.mode == "flap" and self.requests["flap"] % 2):
                return Response("upstream exploded", status_code=500)
            if self.mode == "malformed":
                return Response(
                    "<html>gateway timeout</html>", status_code=200, media_type="application/json"
                )
            path = request.url.path
            if path == "/models":
                return JSONResponse({"models": MODELS})
            if path.startswith("/models/"):
                return JSONResponse({"versions": ["1", "2"]})
            return JSONResponse({})

        self.app = Starlette(routes=[Route("/{path:path}", handle)])


def _translate(response: httpx.Response) -> RegistryError:
    if response.status_code >= 500:
        return RegistryUnavailable("flaky", f"HTTP {response.status_code}", status=response.status_code)
    return RegistryRejected("flaky", f"HTTP {response.status_code}", status=response.status_code)


class HttpRegistry:
    """A minimal adapter over ``JsonHttpClient``; ``url`` can be swapped to a dead port."""

    kind = "flaky"

    def __init__(self, registry_id: str, url: str):
        self.registry_id = registry_id
        self.connect(url)

    def connect(self, url: str) -> None:
        retry = RetryPolicy(attempts=3, deadline_seconds=0.6, initial_wait=0.02, max_wait=0.1)
        self.http = JsonHttpClient(self.registry_id, url, _translate, timeout=0.3, retry=retry)

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        names = (await self.http.get("/models"))["models"]
        return Page([Model(self.registry_id, n) for n in names])

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        found = (await self.http.get(f"/models/{model_name}"))["versions"]
        return Page(
            [ModelVersion(self.registry_id, model_name, v, artifact_uri=f"s3://f/{v}") for v in found]
        )

    async def get_model(self, name: str) -> Model | None:
        await self.http.get(f"/models/{name}")
        return Model(self.registry_id, name)

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        await self.http.get(f"/models/{name}")
        return ModelVersion(self.registry_id, name, version, artifact_uri=f"s3://f/{version}")

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        await self.http.get("/changes")
        return ChangeSet(cursor=None, changed=None)  # "cannot say": every pass is a full listing

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        return []

    async def set_stage(self, version: ModelVersion, stage: Stage, context: PromotionContext) -> ModelVersion:
        raise RegistryRejected(self.registry_id, "read-only")

    async def health(self) -> Health:
        await self.http.get("/health")
        return Health(True)

    async def aclose(self) -> None:
        await self.http.aclose()


class Factory:
    kind = "flaky"

    def __init__(self, url: str):
        self.url = url
        self.made: dict[str, HttpRegistry] = {}

    def validate(self, registry: RegistrySettings) -> None:
        pass

    def create(self, registry: RegistrySettings, context: AdapterContext) -> HttpRegistry:
        self.made[registry.id] = HttpRegistry(registry.id, self.url)
        return self.made[registry.id]


@pytest.fixture(scope="module")
def flaky_server() -> Iterator[FlakyRegistryServer]:
    server = FlakyRegistryServer()
    with ServerThread(server.app) as thread:
        server.url = thread.url
        yield server


BREAKER_RESET = 30.0


class ManualClock:
    """A monotonic clock that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def breaker_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def setup(
    tmp_path: Path, flaky_server: FlakyRegistryServer, breaker_clock: ManualClock
) -> AsyncIterator[tuple[Gateway, HttpRegistry, httpx.AsyncClient]]:
    flaky_server.mode = "ok"
    flaky_server.requests.clear()
    factory = Factory(flaky_server.url)
    settings = make_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path)
    flaky = RegistrySettings(
        id="flaky",
        kind="flaky",
        team="ml",
        call_timeout_seconds=2.0,
        breaker_failures=2,
        breaker_reset_seconds=BREAKER_RESET,
        key="registries[2]",
    )
    settings = dataclasses.replace(settings, registries=(*settings.registries, flaky))
    gw = await Gateway.open(settings, factories={**load_factories(), "flaky": factory})
    gw.live.deadline = 1.0
    # The breaker's cool-down runs on a clock the test moves, not on wall time.
    guarded = gw.adapters["flaky"]
    assert isinstance(guarded, GuardedAdapter)
    guarded.breaker = CircuitBreaker(
        "flaky", failure_threshold=2, reset_seconds=BREAKER_RESET, clock=breaker_clock
    )
    assert not (await gw.sync.sync_registry("flaky", full=True)).error
    async with serve(gw) as client:
        yield gw, factory.made["flaky"], client
    await gw.aclose()


QUERY = """{
  models(first: 10, filter: {registries: ["flaky"]}) { totalCount edges { node { name } } }
  registries { id healthy breakerState }
}"""
LIVE = '{ modelVersion(uri: "mg://flaky/fraud/2", live: true) { uri artifactUri } }'


def flaky_errors(body: dict[str, Any]) -> list[str]:
    return [
        e["extensions"]["code"] for e in body.get("errors", []) if e["extensions"].get("registry") == "flaky"
    ]


def breaker_of(body: dict[str, Any]) -> str:
    return next(r["breakerState"] for r in body["data"]["registries"] if r["id"] == "flaky")


@pytest.mark.parametrize("fault", ["refused", "hang", "500", "malformed"])
async def test_a_failing_registry_is_served_from_the_index(
    setup: Any, flaky_server: FlakyRegistryServer, fault: str, breaker_clock: ManualClock
) -> None:
    gw, adapter, client = setup
    if fault == "refused":
        adapter.connect(f"http://127.0.0.1:{free_port()}")  # its process died: nothing listens
    else:
        flaky_server.mode = fault

    for _ in range(2):  # two failed passes open the breaker (breaker_failures = 2)
        result = await gw.sync.sync_registry("flaky")
        assert result.error and "flaky" in result.error

    calls_before = sum(flaky_server.requests.values())
    body = (await client.post("/graphql", json={"query": QUERY})).json()
    assert sum(flaky_server.requests.values()) == calls_before  # answered without the registry
    assert body["data"]["models"]["totalCount"] == 3  # nothing lost: the index answers
    assert flaky_errors(body) == ["REGISTRY_UNAVAILABLE"]
    assert breaker_of(body) == "open"
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "degraded" and ready["registries"]["flaky"]["breaker"]["state"] == "open"

    # A live read while the circuit is open fails fast, without calling the registry.
    calls_before = sum(flaky_server.requests.values())
    live = (await client.post("/graphql", json={"query": LIVE})).json()
    assert live["data"]["modelVersion"]["artifactUri"] == "s3://f/2"  # the index's copy
    assert flaky_errors(live) == ["REGISTRY_UNAVAILABLE"]
    assert sum(flaky_server.requests.values()) == calls_before

    # Recovery: after the cool-down one trial call closes the circuit.
    flaky_server.mode = "ok"
    if fault == "refused":
        adapter.connect(flaky_server.url)
    breaker_clock.now += BREAKER_RESET - 1
    assert (await gw.sync.sync_registry("flaky")).error  # still cooling down: refused unasked
    breaker_clock.now += 1
    assert not (await gw.sync.sync_registry("flaky")).error
    body = (await client.post("/graphql", json={"query": QUERY})).json()
    assert "errors" not in body and breaker_of(body) == "closed"


async def test_a_flapping_registry_is_ridden_out_by_retries(
    setup: Any, flaky_server: FlakyRegistryServer
) -> None:
    gw, _, client = setup
    flaky_server.mode = "flap"  # every other request fails with 500
    for _ in range(3):
        assert not (await gw.sync.sync_registry("flaky", full=True)).error
    assert flaky_server.requests["flap"] > 6  # failures happened and were retried
    body = (await client.post("/graphql", json={"query": QUERY})).json()
    assert "errors" not in body and breaker_of(body) == "closed"
    assert body["data"]["models"]["totalCount"] == 3


async def test_a_hanging_registry_costs_bounded_time_per_query(
    setup: Any, flaky_server: FlakyRegistryServer
) -> None:
    """Before the breaker opens, a live read waits at most the live deadline."""
    gw, _, client = setup
    flaky_server.mode = "hang"
    gw.live.deadline = 0.5
    started = time.perf_counter()
    body = (await client.post("/graphql", json={"query": LIVE})).json()
    assert time.perf_counter() - started < 15  # far short of the server's 30 s hang
    assert body["data"]["modelVersion"]["uri"] == "mg://flaky/fraud/2"
    assert flaky_errors(body) == ["REGISTRY_UNAVAILABLE"]
