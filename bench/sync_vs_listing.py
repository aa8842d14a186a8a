"""A full sync against MLflow's own raw paged listing, side by side in one run.

    .venv/bin/python bench/sync_vs_listing.py                      # starts a server, 5,000 models
    .venv/bin/python bench/sync_vs_listing.py --models 1000 --versions-per-model 2
    .venv/bin/python bench/sync_vs_listing.py --workdir /tmp/mlflow-5k --populate-via store --repeat 0
    .venv/bin/python bench/sync_vs_listing.py --workdir /tmp/mlflow-5k --no-populate   # reuse it
    .venv/bin/python bench/sync_vs_listing.py --workdir /tmp/mlflow-5k --no-populate --store postgres

Populates N registered models with V versions each (default 5,000 x 2 = 10,000
versions), every version registered from its own run (a param, a metric, a
training dataset input): through MLflow's REST API, concurrently, or with
``--populate-via store`` through MLflow's own store API on the server's SQLite
backend before the server starts (minutes instead of half an hour for 5,000).
Then, each ``--repeat`` times and interleaved (so a busy machine slows both
sides alike):

- **raw**: ``registered-models/search`` (1,000 per page) and
  ``model-versions/search`` (10,000 per page) with httpx, parsed JSON and nothing
  else: what reading the registry costs at least;
- **runs**: every version's run through ``runs/search`` (200 ids a request, 8 in
  flight): with the raw listing, the least that reading the run details costs;
- **sync**: the gateway's full sync (``SyncEngine``) into a fresh index (a SQLite
  file, or a new PostgreSQL database with ``--store postgres``), with the
  adapter's defaults: when the catalogue was complete (every model and version
  searchable, the registry HEALTHY), when the run details were filled in (the
  whole pass), when the first models were searchable (the first batch
  committed), and how many versions ended with their run's params.

Prints medians, the ratios to the raw listing (the README quotes them) and the
load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.catalogue.index import SearchFilter, SearchQuery  # noqa: E402
from gateway.config import settings_from_mapping  # noqa: E402
from gateway.runtime import Gateway  # noqa: E402
from gateway.store.tables import catalogue_versions  # noqa: E402


async def populate(api: str, models: int, per_model: int, concurrency: int) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=api + "/", timeout=120, limits=limits) as client:

        async def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = await client.post(path, json=body)
            r.raise_for_status()
            return r.json()

        experiment = (await call("experiments/create", {"name": prefix}))["experiment_id"]
        semaphore = asyncio.Semaphore(concurrency)
        done = 0

        async def version(name: str, i: int, v: int) -> None:
            run = (await call("runs/create", {"experiment_id": experiment, "start_time": 0}))["run"]
            run_id = run["info"]["run_id"]
            await call(
                "runs/log-batch",
                {
                    "run_id": run_id,
                    "params": [{"key": "max_depth", "value": str((i + v) % 10)}],
                    "metrics": [{"key": "auc", "value": 0.8, "timestamp": 0, "step": 0}],
                },
            )
            dataset = {
                "name": "train",
                "digest": f"{i:08x}{v:02x}",
                "source_type": "s3",
                "source": f'{{"uri": "s3://bench/{name}/{v}/train.parquet"}}',
            }
            await call(
                "runs/log-inputs",
                {
                    "run_id": run_id,
                    "datasets": [
                        {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
                    ],
                },
            )
            await call(
                "model-versions/create", {"name": name, "source": f"s3://bench/{name}/{v}", "run_id": run_id}
            )

        async def one(i: int) -> None:
            nonlocal done
            name = f"{prefix}-{i:05d}"
            async with semaphore:
                await call(
                    "registered-models/create", {"name": name, "tags": [{"key": "bench", "value": "1"}]}
                )
                for v in range(per_model):  # in order: MLflow numbers a model's versions 1, 2, ...
                    await version(name, i, v)
            done += 1
            if done % 500 == 0:
                print(f"  populated {done}/{models} models", flush=True)

        await asyncio.gather(*(one(i) for i in range(models)))


async def raw_runs(api: str, run_ids: list[str], concurrency: int = 8) -> float:
    """Every version's run through ``runs/search`` (``attributes.run_id IN (...)``, 200
    ids a request, ``concurrency`` in flight, parsed JSON and nothing else): what
    reading the details costs at least, since MLflow has no cheaper bulk read of runs."""
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=api + "/", timeout=120, limits=limits) as client:
        body = (await client.get("experiments/search", params={"max_results": 1000})).json()
        experiments = [e["experiment_id"] for e in body.get("experiments") or []]
        semaphore = asyncio.Semaphore(concurrency)

        async def search(chunk: list[str]) -> int:
            request = {
                "experiment_ids": experiments,
                "filter": "attributes.run_id IN ({})".format(", ".join(f"'{r}'" for r in chunk)),
                "max_results": len(chunk),
            }
            async with semaphore:
                response = await client.post("runs/search", json=request)
            response.raise_for_status()
            return len(response.json().get("runs") or [])

        ids = sorted(set(run_ids))
        found = sum(await asyncio.gather(*(search(ids[i : i + 200]) for i in range(0, len(ids), 200))))
        assert found == len(ids), (found, len(ids))
    return time.perf_counter() - started


async def raw_listing(api: str, run_ids: list[str] | None = None) -> tuple[int, int, float]:
    """Every model and version through MLflow's REST API, pages followed one by one;
    ``run_ids`` collects the versions' runs."""
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=api + "/", timeout=120) as client:
        counts = []
        for path, key, size in (
            ("registered-models/search", "registered_models", 1000),
            ("model-versions/search", "model_versions", 10_000),
        ):
            token: str | None = None
            n = 0
            while True:
                params: dict[str, Any] = {"max_results": size, **({"page_token": token} if token else {})}
                response = await client.get(path, params=params)
                response.raise_for_status()
                body = response.json()
                n += len(body.get(key) or [])
                if run_ids is not None and key == "model_versions":
                    run_ids += [v["run_id"] for v in body[key] if v.get("run_id")]
                token = body.get("next_page_token")
                if not token:
                    break
            counts.append(n)
    return counts[0], counts[1], time.perf_counter() - started


@dataclass(frozen=True)
class SyncRun:
    models: int
    versions: int
    catalogue: float  # seconds until every model and version was searchable (registry HEALTHY)
    seconds: float  # seconds of the whole pass, run details included
    first: float | None  # seconds until the first models were searchable
    with_details: int  # versions whose record carries their run's params


async def postgres_database(admin_url: str) -> str:
    """A new, empty database on the server of ``admin_url``; returns its URL."""
    import asyncpg

    name = f"mg_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def drop_postgres_database(admin_url: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def gateway_sync(url: str, workdir: Path, run_details: bool, postgres: str | None) -> SyncRun:
    """One full sync into a fresh index (SQLite file, or a new PostgreSQL database)."""
    db = (
        await postgres_database(postgres)
        if postgres
        else f"sqlite:///{workdir / f'index-{uuid.uuid4().hex[:6]}.db'}"
    )
    registry = {"id": "bench", "kind": "mlflow", "url": url, "fetch_run_details": run_details}
    settings = settings_from_mapping(
        {"storage": {"url": db, "artifacts_dir": str(workdir / "a")}, "registries": [registry]}, environ={}
    )
    gw = await Gateway.open(settings)
    first: list[float] = []
    try:
        started = time.perf_counter()

        def progress(_registry: str, done: int) -> None:
            if done and not first:  # a batch just committed: these models are searchable now
                first.append(time.perf_counter() - started)

        result = await gw.sync.sync_registry("bench", full=True, progress=progress)
        seconds = time.perf_counter() - started
        if result.error or result.details_error:
            raise RuntimeError(result.error or result.details_error)
        found = await gw.index.search_models(SearchQuery("bench", SearchFilter(), 1, None, facets=()))
        assert found.total == result.models, (found.total, result.models)
        versions = sum(s.versions for s in (await gw.index.registry_stats()).values())
        async with gw.index.db.read() as conn:
            records = (await conn.execute(select(catalogue_versions.c.record))).scalars().all()
        with_details = sum(1 for r in records if r.get("hyperparameters"))
    finally:
        await gw.aclose()
        if postgres:
            await drop_postgres_database(postgres, db)
    catalogue = result.catalogued_seconds if result.catalogued_seconds is not None else seconds
    return SyncRun(result.models, versions, catalogue, seconds, first[0] if first else None, with_details)


async def bench(url: str, args: argparse.Namespace, workdir: Path) -> None:
    api = f"{url}/api/2.0/mlflow"
    if args.populate:
        total = args.models * args.versions_per_model
        print(
            f"populating {args.models} models x {args.versions_per_model} versions ({total}) ...", flush=True
        )
        started = time.perf_counter()
        await populate(api, args.models, args.versions_per_model, args.concurrency)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    if args.repeat < 1:  # populate only
        return
    postgres = args.postgres_url if args.store == "postgres" else None
    await raw_listing(api)  # warm the server's caches once, untimed
    raws: list[float] = []
    runs: dict[bool, list[SyncRun]] = {True: [], False: []}
    counts: dict[str, tuple[int, int]] = {}
    modes = [True, False] if args.both else [True]
    loads: list[float] = []
    runs_raw: list[float] = []
    for round_ in range(1, args.repeat + 1):
        run_ids: list[str] = []
        models, versions, seconds = await raw_listing(api, run_ids)
        raws.append(seconds)
        runs_raw.append(await raw_runs(api, run_ids))
        counts["raw"] = (models, versions)
        line = f"  round {round_}: raw {seconds:6.2f} s (+ runs {runs_raw[-1]:5.2f} s)"
        for details in modes:
            run = await gateway_sync(url, workdir, details, postgres)
            runs[details].append(run)
            counts[f"sync{details}"] = (run.models, run.versions)
            if details:
                line += f" | catalogue {run.catalogue:6.2f} s, run details {run.seconds:6.2f} s"
            else:
                line += f" | no run details: catalogue {run.catalogue:6.2f} s, all {run.seconds:6.2f} s"
            line += f", first searchable {run.first:5.2f} s" if run.first is not None else ""
        loads.append(os.getloadavg()[0])
        print(line + f" (load {loads[-1]:.1f})", flush=True)
    raw = statistics.median(raws)
    print(f"median of {args.repeat} (models, versions = {counts['raw']}), {args.store} index,")
    print(f"load average (1 min) {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores:")
    print(f"  {'raw paged listing (models + versions)':<46} {raw:6.2f} s")
    for details in modes:
        done = runs[details]
        first = statistics.median(r.first for r in done if r.first is not None) if done else float("nan")
        if details:
            catalogue = statistics.median(r.catalogue for r in done)
            print(
                f"  {'catalogue complete (registry HEALTHY)':<46} {catalogue:6.2f} s"
                f"   ratio {catalogue / raw:4.2f}x"
            )
            total = statistics.median(r.seconds for r in done)
            print(f"  {'run details complete':<46} {total:6.2f} s   ratio {total / raw:4.2f}x")
            floor = statistics.median(a + b for a, b in zip(raws, runs_raw, strict=True))
            print(
                f"  {'raw listing + runs/search of every run':<46} {floor:6.2f} s"
                f"   run details complete / it {total / floor:4.2f}x"
            )
            print(f"  {'first models searchable':<46} {first:6.2f} s")
            filled = min(r.with_details for r in done)
            print(f"  versions with their run's params: {filled} of {counts['sync' + str(details)][1]}")
        else:  # still two passes: compliance and lineage judge the versions in the second
            catalogue = statistics.median(r.catalogue for r in done)
            total = statistics.median(r.seconds for r in done)
            print(
                f"  {'no run details: catalogue complete':<46} {catalogue:6.2f} s"
                f"   ratio {catalogue / raw:4.2f}x"
            )
            print(f"  {'no run details: whole pass':<46} {total:6.2f} s   ratio {total / raw:4.2f}x")
        if counts[f"sync{details}"] != counts["raw"]:
            print(f"  WARNING: the sync indexed {counts[f'sync{details}']}, the listing saw {counts['raw']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an MLflow server to use (default: start one)")
    parser.add_argument("--workdir", help="keep the started server's data here (reuse with --no-populate)")
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--versions-per-model", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="parallel requests while populating")
    parser.add_argument("--no-populate", dest="populate", action="store_false")
    parser.add_argument(
        "--populate-via",
        choices=("rest", "store"),
        default="rest",
        help="store: write the started server's SQLite backend with MLflow's store API before it starts",
    )
    parser.add_argument("--both", action="store_true", help="also sync without run details")
    parser.add_argument(
        "--store", choices=("sqlite", "postgres"), default="sqlite", help="the index's database"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="with --store postgres: a server where a database per sync is created and dropped",
    )
    args = parser.parse_args()
    if args.url and args.populate and args.populate_via == "store":
        parser.error("--populate-via store writes the backend of a server this script starts: drop --url")
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        workdir = Path(tmp)
        if args.url:
            asyncio.run(bench(args.url.rstrip("/"), args, workdir))
            return
        from tests.servers.mlflow import start_mlflow_server

        server_dir = Path(args.workdir) if args.workdir else workdir / "server"
        if args.populate and args.populate_via == "store":
            from bench.mlflow_store_populate import populate_store

            print(f"populating {args.models} models x {args.versions_per_model} versions (store API) ...")
            started = time.perf_counter()
            populate_store(server_dir, args.models, args.versions_per_model)
            print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
            args.populate = False
        print("starting mlflow server ...", flush=True)
        server = start_mlflow_server(server_dir)
        try:
            print(f"  {server.url}", flush=True)
            asyncio.run(bench(server.url, args, workdir))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
