"""Load test on loopback: many concurrent clients against a running gateway while
one of its registries is dead.

    .venv/bin/python bench/load_test.py                      # 60 s, 16 clients, 2 workers, SQLite
    .venv/bin/python bench/load_test.py --duration 20 --clients 8
    .venv/bin/python bench/load_test.py --database-url postgresql://postgres@127.0.0.1/bench

It starts ``modelgate demo`` as a subprocess (two native registries filled with
the demo catalogue, plus ``--extra-models`` synthetic ones registered over
GraphQL) with API-key authentication, and an MLflow registry pointing at a
closed port: every call to it is refused, its circuit breaker opens, and the
catalogue must keep answering from the index. Then ``--clients`` clients send a
mix of catalogue queries (search with facets, filtered versions, model detail,
version with lineage, registries) for ``--duration`` seconds after a warm-up,
and it prints throughput, latency percentiles per query and overall, and errors.

An error is a non-200 answer, a transport failure or a GraphQL error other than
the REGISTRY_UNAVAILABLE note about the dead registry (that note is the correct
answer while it is down, and is counted separately). Target on the project's
2-core machine: zero errors and p99 under 200 ms for catalogue queries.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from raw_http import HttpError, KeepAliveConnection  # noqa: E402

from gateway.auth.apikeys import hash_key  # noqa: E402

KEY = "mg_load-test-key"

# (name, weight, document, variables-maker)
QUERIES: list[tuple[str, int, str]] = [
    (
        "search+facets",
        4,
        """query($q: String) { models(query: $q, first: 20) { totalCount
            edges { node { uri name team latestVersion { version stage } } }
            facets { registry { value count } team { value count } stage { value count }
                     framework { value count } } } }""",
    ),
    (
        "versions-by-stage",
        3,
        """query($s: Stage!) { versions(filter: {stages: [$s]}, first: 20) { totalCount
            edges { node { uri version stage metrics { key value } tags { key value } } } } }""",
    ),
    (
        "model-detail",
        3,
        """query($m: String!) { model(uri: $m) { uri name description tags { key value }
            registry { id healthy }
            versions(first: 10) {
                edges { node { version stage createdAt compliance { compliant } } } } } }""",
    ),
    (
        "version+lineage",
        2,
        """query($v: String!) { modelVersion(uri: $v) { uri stage modelCard { summary }
            trainingData { uri role }
            lineage(depth: 2) { nodes { uri kind } edges { source target relation } } } }""",
    ),
    ("registries", 1, "{ registries { id healthy breakerState modelCount versionCount syncedAt } }"),
]
TERMS = ["fraud", "churn", "det", "rank", "forecast", "model", "vision", "xgboost", "pred", "synthetic"]


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    registry_notes: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp: Path, database_url: str) -> Path:
    dead = free_port()  # nothing listens there: connections are refused
    config = tmp / "modelgate.toml"
    config.write_text(
        f"""
[storage]
url = "{database_url}"
artifacts_dir = "{tmp / "artifacts"}"

[auth]
mode = "apikey"

[[auth.api_keys]]
name = "load-test"
sha256 = "{hash_key(KEY)}"
roles = ["admin"]

[governance]
policies = "{REPO / "config" / "policies.yaml"}"

[[registries]]
id = "platform"
kind = "native"
team = "platform"

[[registries]]
id = "research"
kind = "native"
team = "research"

[[registries]]
id = "dead-mlflow"
kind = "mlflow"
team = "fraud"
url = "http://127.0.0.1:{dead}"
sync_interval_seconds = 2
breaker_failures = 3
"""
    )
    return config


async def wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the gateway exited during start-up; see its log")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the gateway did not become ready")


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def seed_extra(client: httpx.AsyncClient, models: int) -> None:
    """Synthetic models registered over GraphQL, 2 versions each, 8 at a time."""
    mutation = "mutation($i: RegisterVersionInput!) { registerModelVersion(input: $i) { uri } }"
    rng = random.Random(7)
    limit = asyncio.Semaphore(8)

    async def one(n: int, version: int) -> None:
        domain = TERMS[n % 7]  # the same model name for both of its versions
        async with limit:
            body = await gql(
                client,
                mutation,
                {
                    "i": {
                        "registry": "platform" if n % 2 else "research",
                        "model": f"synthetic-{domain}-{n:04d}",
                        "artifactUri": f"s3://bench/{n}/{version}",
                        "description": f"synthetic {domain} model {n}",
                        "metrics": [{"key": "auc", "value": rng.uniform(0.7, 0.95)}],
                        "tags": [{"key": "framework", "value": rng.choice(["xgboost", "pytorch"])}],
                    }
                },
            )
            if body.get("errors"):
                raise SystemExit(f"seeding failed: {body['errors']}")

    for version in (1, 2):
        await asyncio.gather(*(one(n, version) for n in range(models)))


async def catalogue_uris(client: httpx.AsyncClient) -> tuple[list[str], list[str]]:
    body = await gql(client, "{ versions(first: 100) { edges { node { uri model { uri } } } } }")
    edges = body["data"]["versions"]["edges"]
    versions = [e["node"]["uri"] for e in edges]
    models = sorted({e["node"]["model"]["uri"] for e in edges})
    return models, versions


def pick(rng: random.Random, models: list[str], versions: list[str]) -> tuple[str, str, dict[str, Any]]:
    name, _, query = rng.choices(QUERIES, weights=[w for _, w, _ in QUERIES])[0]
    variables: dict[str, Any] = {
        "search+facets": lambda: {"q": rng.choice([*TERMS, None])},
        "versions-by-stage": lambda: {"s": rng.choice(["PRODUCTION", "STAGING", "DRAFT", "ARCHIVED"])},
        "model-detail": lambda: {"m": rng.choice(models)},
        "version+lineage": lambda: {"v": rng.choice(versions)},
        "registries": lambda: {},
    }[name]()
    return name, query, variables


async def client_loop(
    n: int, url: str, models: list[str], versions: list[str], until: float, measure_from: float, stats: Stats
) -> None:
    rng = random.Random(n)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = KeepAliveConnection(host, int(port), {"Authorization": f"Bearer {KEY}"})
    try:
        while (now := time.perf_counter()) < until:
            name, query, variables = pick(rng, models, versions)
            started = time.perf_counter()
            try:
                status, body = await conn.post_json("/graphql", {"query": query, "variables": variables})
                elapsed = time.perf_counter() - started
                error = None if status == 200 else f"HTTP {status}"
                body = body if error is None and isinstance(body, dict) else {}
            except (HttpError, OSError) as exc:
                elapsed, error, body = time.perf_counter() - started, type(exc).__name__, {}
            if now < measure_from:
                continue  # warm-up
            stats.latencies[name].append(elapsed)
            for e in body.get("errors") or []:
                ext = e.get("extensions", {})
                if ext.get("code") == "REGISTRY_UNAVAILABLE" and ext.get("registry") == "dead-mlflow":
                    stats.registry_notes += 1
                else:
                    error = error or f"{ext.get('code')}: {e.get('message', '')[:60]}"
            if error:
                stats.errors[error] += 1
    finally:
        await conn.close()


def connections_per_process(root: int, port: int) -> list[int]:
    """Established connections to ``port`` held by ``root`` and each of its
    children (Linux /proc; empty elsewhere): how the workers shared the clients."""
    try:
        inodes: dict[str, int] = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes[fields[9]] = 0
        pids = [root] + [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit()
            and (p / "stat").exists()
            and (p / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(root)
        ]
        counts = []
        for pid in pids:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
            held = sum(1 for inode in inodes if f"socket:[{inode}]" in links)
            if held:
                counts.append(held)
        return sorted(counts, reverse=True)
    except OSError:
        return []


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def report(stats: Stats, seconds: float, clients: int) -> None:
    every = [x for xs in stats.latencies.values() for x in xs]
    print(
        f"\n{len(every)} requests in {seconds:.0f} s from {clients} clients: {len(every) / seconds:.0f} req/s"
    )
    print(f"{'query':<20}{'count':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, xs in [*sorted(stats.latencies.items()), ("ALL", every)]:
        ms = [x * 1000 for x in xs]
        print(
            f"{name:<20}{len(ms):>8}{statistics.median(ms):>9.1f}{percentile(ms, 90):>9.1f}"
            f"{percentile(ms, 99):>9.1f}{max(ms):>9.1f}"
        )
    print(f"errors: {sum(stats.errors.values())}  {dict(stats.errors) or ''}")
    print(f"REGISTRY_UNAVAILABLE notes about the dead registry (expected): {stats.registry_notes}")


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="modelgate-load-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'modelgate.db'}"
    config = write_config(tmp, database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
        [
            *[sys.executable, "-m", "gateway.cli", "demo", "--config", str(config), "--port", str(port)],
            *["--workers", str(args.workers)],
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        headers = {"authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as c:
            await wait_ready(c, process)
            if args.extra_models:
                started = time.perf_counter()
                await seed_extra(c, args.extra_models)
                took = time.perf_counter() - started
                print(f"registered {2 * args.extra_models} synthetic versions in {took:.1f}s")
            await asyncio.sleep(args.settle)  # let the dead registry fail its syncs and open its breaker
            models, versions = await catalogue_uris(c)
            body = await gql(c, "{ registries { id healthy breakerState modelCount versionCount } }")
            print("registries:", body["data"]["registries"])
        # The generator shares the machine: keep its own full collections out of the
        # latencies it measures (the server does the same after start-up).
        gc.collect()
        gc.freeze()
        stats = Stats()
        start = time.perf_counter()
        measure_from = start + args.warmup
        until = measure_from + args.duration

        async def spread() -> list[int]:
            await asyncio.sleep(args.warmup)
            return connections_per_process(process.pid, port)

        *_, per_process = await asyncio.gather(
            *(client_loop(n, url, models, versions, until, measure_from, stats) for n in range(args.clients)),
            spread(),
        )
        report(stats, args.duration, args.clients)
        print(f"client connections per server process: {per_process or 'unknown'}")
        async with httpx.AsyncClient(base_url=url) as c:
            ready = (await c.get("/readyz")).json()
        breakers = {k: v.get("breaker", {}).get("state") for k, v in ready["registries"].items()}
        print("readyz:", ready["status"], breakers)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()
        print(f"server log: {tmp / 'server.log'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first (default 5)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--extra-models", type=int, default=100, help="synthetic models to add (default 100)")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds for the dead registry to trip")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=2, help="gateway server processes (default 2)")
    asyncio.run(main(parser.parse_args()))
