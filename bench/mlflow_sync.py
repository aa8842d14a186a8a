"""How long a full MLflow sync takes, against the server's own raw paged listing.

    .venv/bin/python bench/mlflow_sync.py                 # starts a server, 1,200 models
    .venv/bin/python bench/mlflow_sync.py --models 3000 --repeat 5
    .venv/bin/python bench/mlflow_sync.py --url http://127.0.0.1:5000 --no-populate

Populates N registered models with one version each, every version registered
from its own run (params, metrics, a training dataset input), through the REST
API. Then times, each ``--repeat`` times (median reported):

- raw: ``registered-models/search`` (1,000 per page) + ``model-versions/search``
  (10,000 per page), parsed JSON and nothing else — the floor;
- the adapter's full listing (``list_models`` + ``list_all_versions``) with and
  without run details, a fresh adapter each time (no warm caches);
- the per-model path (``list_models`` + ``list_versions`` per model, 8 at a time);
- the gateway's whole full sync into a SQLite index (``SyncEngine``), and an
  incremental pass with nothing changed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.base import iterate_pages  # noqa: E402
from adapters.mlflow import MlflowAdapter, MlflowOptions  # noqa: E402
from gateway.config import settings_from_mapping  # noqa: E402
from gateway.runtime import Gateway  # noqa: E402

# (models, versions) listed, optionally with the seconds the code under test measured itself
Counts = tuple[int, int] | tuple[int, int, float]


async def populate(api: str, models: int, concurrency: int) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=api + "/", timeout=60) as client:

        async def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = await client.request(method, path, json=body)
            r.raise_for_status()
            return r.json()

        experiment = (await call("POST", "experiments/create", {"name": prefix}))["experiment_id"]
        semaphore = asyncio.Semaphore(concurrency)
        done = 0

        async def one(i: int) -> None:
            nonlocal done
            name = f"{prefix}-{i:05d}"
            async with semaphore:
                run = (await call("POST", "runs/create", {"experiment_id": experiment, "start_time": 0}))[
                    "run"
                ]
                run_id = run["info"]["run_id"]
                await call(
                    "POST",
                    "runs/log-batch",
                    {
                        "run_id": run_id,
                        "params": [{"key": "max_depth", "value": str(i % 10)}],
                        "metrics": [{"key": "auc", "value": 0.8, "timestamp": 0, "step": 0}],
                    },
                )
                dataset = {
                    "name": "train",
                    "digest": f"{i:08x}",
                    "source_type": "s3",
                    "source": f'{{"uri": "s3://bench/{name}/train.parquet"}}',
                }
                await call(
                    "POST",
                    "runs/log-inputs",
                    {
                        "run_id": run_id,
                        "datasets": [
                            {
                                "tags": [{"key": "mlflow.data.context", "value": "training"}],
                                "dataset": dataset,
                            }
                        ],
                    },
                )
                await call(
                    "POST",
                    "registered-models/create",
                    {"name": name, "tags": [{"key": "bench", "value": "1"}]},
                )
                await call(
                    "POST",
                    "model-versions/create",
                    {"name": name, "source": f"s3://bench/{name}/1", "run_id": run_id},
                )
            done += 1
            if done % 200 == 0:
                print(f"  populated {done}/{models}", flush=True)

        await asyncio.gather(*(one(i) for i in range(models)))


async def raw_listing(api: str) -> tuple[int, int]:
    async with httpx.AsyncClient(base_url=api + "/", timeout=60) as client:
        counts = []
        for path, key, size in (
            ("registered-models/search", "registered_models", 1000),
            ("model-versions/search", "model_versions", 10_000),
        ):
            token: str | None = None
            n = 0
            while True:
                params: dict[str, Any] = {"max_results": size, **({"page_token": token} if token else {})}
                body = (await client.get(path, params=params)).json()
                n += len(body.get(key) or [])
                token = body.get("next_page_token")
                if not token:
                    break
            counts.append(n)
    return counts[0], counts[1]


async def adapter_listing(url: str, run_details: bool) -> tuple[int, int]:
    adapter = MlflowAdapter(
        "bench", MlflowOptions(url=url, fetch_run_details=run_details, timeout_seconds=60)
    )
    try:
        models = [m async for m in iterate_pages(adapter.list_models)]
        versions = [v async for v in iterate_pages(adapter.list_all_versions)]
    finally:
        await adapter.aclose()
    if run_details:
        assert all(v.metrics for v in versions if v.native.get("run_id")), "run details missing"
    return len(models), len(versions)


async def per_model_listing(url: str, run_details: bool) -> tuple[int, int]:
    adapter = MlflowAdapter(
        "bench", MlflowOptions(url=url, fetch_run_details=run_details, timeout_seconds=60)
    )
    semaphore = asyncio.Semaphore(8)
    try:
        models = [m async for m in iterate_pages(adapter.list_models)]

        async def versions_of(name: str) -> int:
            async with semaphore:
                return len([v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))])

        counts = await asyncio.gather(*(versions_of(m.name) for m in models))
    finally:
        await adapter.aclose()
    return len(models), sum(counts)


async def gateway_sync(url: str, run_details: bool, workdir: Path) -> Counts:
    db = workdir / f"index-{uuid.uuid4().hex[:6]}.db"
    registry = {
        "id": "bench",
        "kind": "mlflow",
        "url": url,
        "fetch_run_details": run_details,
        "timeout_seconds": 60,
    }
    settings = settings_from_mapping(
        {
            "storage": {"url": f"sqlite:///{db}", "artifacts_dir": str(workdir / "a")},
            "registries": [registry],
        },
        environ={},
    )
    gw = await Gateway.open(settings)
    try:
        result = await gw.sync.sync_registry("bench", full=True)
        if result.error:
            raise RuntimeError(result.error)
        started = time.perf_counter()
        incremental = await gw.sync.sync_registry("bench")
        if incremental.error or incremental.full:
            raise RuntimeError(f"incremental pass: {incremental}")
        INCREMENTAL_SECONDS.append(time.perf_counter() - started)
        versions = sum(s.versions for s in (await gw.index.registry_stats()).values())
    finally:
        await gw.aclose()
    # The engine's own clock: opening the gateway (migrations) is not the sync.
    return result.models, versions, result.seconds


INCREMENTAL_SECONDS: list[float] = []  # gateway_sync also times a no-change incremental pass


async def timed(label: str, repeat: int, run: Callable[[], Awaitable[Counts]]) -> float | None:
    """Median seconds of ``repeat`` runs; None (reported, not raised) if a run fails."""
    seconds = []
    counts: Counts = (0, 0)
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            counts = await run()
        except Exception as exc:  # e.g. the gateway's index failing: report the rest anyway
            print(f"  {label:<44} FAILED: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            return None
        seconds.append(counts[2] if len(counts) > 2 else time.perf_counter() - started)
    median = statistics.median(seconds)
    print(f"  {label:<44} {median * 1000:9.0f} ms   (models {counts[0]}, versions {counts[1]})", flush=True)
    return median


async def bench(url: str, args: argparse.Namespace, workdir: Path) -> None:
    api = f"{url}/api/2.0/mlflow"
    if args.populate:
        print(f"populating {args.models} models, one version and one run each ...", flush=True)
        started = time.perf_counter()
        await populate(api, args.models, args.concurrency)
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    await raw_listing(api)  # warm the server's caches and connection pool once, untimed
    print(f"timings, median of {args.repeat}:", flush=True)
    raw = await timed("raw paged listing (models + versions)", args.repeat, lambda: raw_listing(api))
    assert raw is not None, "the raw listing itself failed"
    cases: list[tuple[str, Callable[[], Awaitable[Counts]]]] = [
        ("adapter listing, no run details", lambda: adapter_listing(url, False)),
        ("adapter listing, with run details", lambda: adapter_listing(url, True)),
        ("per-model listing, no run details", lambda: per_model_listing(url, False)),
        ("gateway full sync, no run details", lambda: gateway_sync(url, False, workdir)),
        ("gateway full sync, with run details", lambda: gateway_sync(url, True, workdir)),
    ]
    results = {label: await timed(label, args.repeat, run) for label, run in cases}
    if INCREMENTAL_SECONDS:
        incremental = statistics.median(INCREMENTAL_SECONDS)
        print(f"  {'gateway incremental pass, nothing changed':<44} {incremental * 1000:9.0f} ms")
    print("ratio to the raw listing:")
    for label, seconds in results.items():
        if seconds is not None:
            print(f"  {label:<44} {seconds / raw:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an MLflow server to use (default: start one)")
    parser.add_argument("--models", type=int, default=1200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="parallel requests while populating")
    parser.add_argument("--no-populate", dest="populate", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        workdir = Path(tmp)
        if args.url:
            asyncio.run(bench(args.url.rstrip("/"), args, workdir))
            return
        from tests.servers.mlflow import start_mlflow_server

        print("starting mlflow server ...", flush=True)
        server = start_mlflow_server(workdir / "server")
        try:
            print(f"  {server.url}", flush=True)
            asyncio.run(bench(server.url, args, workdir))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
