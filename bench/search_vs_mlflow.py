"""The gateway's search against a real MLflow server's own search, on the same
data, side by side in one run; plus full and incremental sync against MLflow's
raw paged listing.

    .venv/bin/python bench/search_vs_mlflow.py                 # 5,000 models
    .venv/bin/python bench/search_vs_mlflow.py --models 2000 --rounds 200

Starts an MLflow server (SQLite backend), registers N models (name, description,
tags, one version each) through its REST API, syncs them into a gateway
(SQLite index, run details off: MLflow search returns no run data either), then
times over HTTP, one request at a time:

- MLflow: ``GET registered-models/search?filter=name ILIKE '%word%'&max_results=20``;
- gateway: ``models(query: "word", first: 20)`` with totalCount and
  registry/team/stage facets — strictly more work per answer.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway_process import running_gateway  # noqa: E402
from tests.servers.mlflow import start_mlflow_server  # noqa: E402

DOMAINS = ["fraud", "churn", "demand", "search", "vision", "speech", "pricing", "risk", "ads", "support"]
TASKS = ["detector", "classifier", "ranker", "forecast", "embedder", "scorer", "segmenter", "summarizer"]


async def populate(api: str, models: int, concurrency: int = 16) -> None:
    rng = random.Random(11)
    async with httpx.AsyncClient(base_url=api + "/", timeout=60) as client:
        limit = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            domain, task = rng.choice(DOMAINS), rng.choice(TASKS)
            name = f"{domain}-{task}-{i:05d}"
            async with limit:
                r = await client.post(
                    "registered-models/create",
                    json={
                        "name": name,
                        "description": f"{domain} {task} owned by team {i % 7}",
                        "tags": [{"key": "domain", "value": domain}, {"key": "task", "value": task}],
                    },
                )
                r.raise_for_status()
                r = await client.post(
                    "model-versions/create", json={"name": name, "source": f"s3://models/{name}/1"}
                )
                r.raise_for_status()

        await asyncio.gather(*(one(i) for i in range(models)))


def raw_listing_seconds(api: str) -> float:
    """MLflow's own paged listing of every model and version: the physical floor."""
    started = time.perf_counter()
    with httpx.Client(base_url=api + "/", timeout=60) as client:
        token = None
        while True:
            params = {"max_results": 1000, **({"page_token": token} if token else {})}
            body = client.get("registered-models/search", params=params).json()
            token = body.get("next_page_token")
            if not token:
                break
        token = None
        while True:
            params = {"max_results": 10000, **({"page_token": token} if token else {})}
            body = client.get("model-versions/search", params=params).json()
            token = body.get("next_page_token")
            if not token:
                break
    return time.perf_counter() - started


def timed(fn, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    for i in range(10):
        fn(i)
    out = []
    for i in range(rounds):
        started = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - started) * 1000)
    return sorted(out)


def summary(label: str, ms: list[float]) -> float:
    median = statistics.median(ms)
    print(f"{label:<52} median {median:6.1f} ms   p95 {ms[int(len(ms) * 0.95) - 1]:6.1f} ms")
    return median


QUERY = """query Search($q: String) { models(query: $q, first: 20) {
    totalCount edges { node { uri name description } }
    facets { registry { value count } team { value count } stage { value count } } } }"""


def gateway_round(
    config: Path, workdir: Path, words: list[str], rounds: int, label: str, models: int
) -> float:
    """Serve ``config`` and time the search against it over HTTP."""
    with running_gateway(config, cwd=workdir) as (client, _):

        def search(i: int) -> None:
            body = client.post(
                "/graphql", json={"query": QUERY, "variables": {"q": words[i % len(words)]}}
            ).json()
            assert "errors" not in body, body

        return summary(f"gateway models(query) + facets, {models} models, {label}", timed(search, rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="modelgate-vs-mlflow-"))
    server = start_mlflow_server(workdir / "mlflow")
    try:
        api = f"{server.url}/api/2.0/mlflow"
        started = time.perf_counter()
        asyncio.run(populate(api, args.models))
        print(f"populated MLflow with {args.models} models in {time.perf_counter() - started:.0f} s")

        config = workdir / "gateway.toml"
        registry = (
            f'[[registries]]\nid = "mlflow"\nkind = "mlflow"\nteam = "ml"\nurl = "{server.url}"\n'
            "fetch_run_details = false\nsync_interval_seconds = 3600\n"
        )
        storage = (
            f'[storage]\nurl = "sqlite:///{workdir}/gateway.db"\nartifacts_dir = "{workdir}/artifacts"\n'
        )
        config.write_text(storage + registry)
        cold_config = workdir / "gateway-cold.toml"  # identical searches are not shared: every one runs
        cold_config.write_text(storage + "[cache]\nsearch_ttl_seconds = 0\n" + registry)
        raw = statistics.median(raw_listing_seconds(api) for _ in range(3))
        cli = [sys.executable, "-m", "gateway.cli"]
        for kind in ("--full", None):
            started = time.perf_counter()
            subprocess.run(
                [*cli, "sync", "--json", "--config", str(config), *([kind] if kind else [])],
                check=True,
                capture_output=True,
                cwd=workdir,
            )
            whole = time.perf_counter() - started
            label = "full sync" if kind else "incremental sync, nothing changed"
            print(f"{label:<52} {whole:6.2f} s (whole CLI process, incl. start-up)")
        print(f"{'MLflow raw paged listing (models + versions)':<52} {raw:6.2f} s")
        sync_only = subprocess.run(
            [*cli, "sync", "--json", "--full", "--config", str(config)],
            check=True,
            capture_output=True,
            cwd=workdir,
            text=True,
        )
        import json

        seconds = json.loads(sync_only.stdout)[0]["seconds"]
        label = "full sync (engine time, no process start-up)"
        print(f"{label:<52} {seconds:6.2f} s = {seconds / raw:.2f}x raw")
        mlflow = httpx.Client(base_url=api + "/", timeout=30)
        words = DOMAINS + TASKS

        def mlflow_search(i: int) -> None:
            word = words[i % len(words)]
            params = {"filter": f"name ILIKE '%{word}%'", "max_results": 20}
            mlflow.get("registered-models/search", params=params).raise_for_status()

        m = timed(mlflow_search, args.rounds)
        mm = summary("MLflow registered-models/search ILIKE, max_results 20", m)
        for label, cfg in (("no search cache", cold_config), ("search cache on (default)", config)):
            gm = gateway_round(cfg, workdir, words, args.rounds, label, args.models)
            print(f"  gateway is {mm / gm:.1f}x faster than MLflow (median)")

    finally:
        server.stop()


if __name__ == "__main__":
    main()
