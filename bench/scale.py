"""Scale sweep: how the catalogue's costs grow with its size, on SQLite and PostgreSQL.

    .venv/bin/python bench/scale.py                                  # 10k, 100k, 1M on both
    .venv/bin/python bench/scale.py --sizes 10000,100000 --databases sqlite
    .venv/bin/python bench/scale.py --sizes 1000000 --databases postgresql --plot docs/scale.png

For each database and size, in a fresh database (a temporary SQLite file, or a
PostgreSQL database created on the server ``--postgres`` names and dropped after):

1. **indexing**: the synthetic catalogue of ``bench/catalogue_search.py`` (4
   registries, 5 versions per model) written through ``CatalogueIndex.replace_models``
   in batches of 500 models; versions/s over the whole run and over its first and
   last 10 % (a rate that falls as the table grows shows in the second);
2. **incremental pass**: every model of up to 100,000 of those versions written
   again unchanged, as a sync that lists a registry whose versions did not change
   hands them to the index: the CPU seconds of this process (the gateway's side:
   change detection; the registry's listing is not included);
3. **compliance report** over every version (``reports.current_report``, every
   violation listed);
4. **impact** of a dataset 10,000 versions were trained on (2,000 models indexed
   with the lineage harvester attached), first 1,000 (GraphQL's default);
5. **start-up**: a ``modelgate serve`` process over the index with a policy change
   and a lineage re-harvest pending: seconds until ``/readyz`` answers 200 (that
   work then runs in the background), and until it exits after SIGTERM;
6. **search over HTTP** (``search_ttl_seconds = 0``: every search runs), with the
   upkeep marked done so nothing else runs: p50/p95 of ``models(query:)`` with
   facets, ``models(filter: stage+team)`` with facets, ``versions(query:)``, each
   with ``totalCount``; then the process's peak RSS.

Prints a table (and the machine's load average next to every size: the numbers
are wall-clock times on a shared machine) and writes a PNG plot of cost against
size (log x). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.catalogue_search import DOMAINS, FILTERED, SEARCH, STAGES, TASKS, VERSIONS, peak_rss_mb, synthetic
from bench.gateway_process import free_port
from gateway.catalogue.index import CatalogueIndex, SearchFilter
from gateway.domain import DatasetRef
from gateway.governance import reports
from gateway.governance.policies import parse_policies
from gateway.lineage.harvest import FINGERPRINT_KEY, LineageHarvester
from gateway.lineage.uris import ReferenceResolver
from gateway.lineage.walk import impact
from gateway.store.database import Database

PER_MODEL = 5
BATCH = 500
IMPACT_DATASET = "s3://bench/impact/shared"
IMPACT_VERSIONS = 10_000
INCREMENTAL_VERSIONS = 100_000
POLICIES = Path(__file__).resolve().parents[1] / "config" / "policies.yaml"


@dataclass
class Row:
    database: str
    versions: int
    load: str = ""
    index_rate: float = 0.0
    index_first: float = 0.0
    index_last: float = 0.0
    incremental_cpu: float = 0.0
    incremental_versions: int = 0
    report_s: float = 0.0
    impact_ms: float = 0.0
    ready_s: float = 0.0
    stop_s: float = 0.0
    search: dict[str, tuple[float, float]] = field(default_factory=dict)
    rss_mb: float = 0.0


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# --- databases ---------------------------------------------------------------------


@dataclass
class Fresh:
    url: str
    drop: Any


async def _pg(admin: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def fresh_database(kind: str, workdir: Path, postgres: str) -> Fresh:
    if kind == "sqlite":
        path = workdir / f"scale-{uuid.uuid4().hex[:6]}.db"
        return Fresh(f"sqlite:///{path}", lambda: [p.unlink() for p in workdir.glob(path.name + "*")])
    name = f"mg_bench_scale_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(postgres, f'CREATE DATABASE "{name}"'))
    base = postgres.rsplit("/", 1)[0]
    return Fresh(f"{base}/{name}", lambda: asyncio.run(_pg(postgres, f'DROP DATABASE "{name}" WITH (FORCE)')))


# --- the measurements ----------------------------------------------------------------


def batches(pairs: Any) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def index_catalogue(url: str, versions: int, row: Row) -> None:
    db = Database(url)
    await db.migrate()
    index = CatalogueIndex(db)
    seconds: list[float] = []
    for batch in batches(synthetic(4, versions, per_model=PER_MODEL)):
        started = time.perf_counter()
        await index.replace_models(batch)
        seconds.append(time.perf_counter() - started)
    tenth = max(1, len(seconds) // 10)
    per_batch = BATCH * PER_MODEL
    row.index_rate = versions / sum(seconds)
    row.index_first = tenth * per_batch / sum(seconds[:tenth])
    row.index_last = tenth * per_batch / sum(seconds[-tenth:])

    # The incremental pass: the same models again, unchanged.
    # Generated before the clock starts: the registry's listing is not the gateway's CPU.
    unchanged, again = min(versions, INCREMENTAL_VERSIONS), []
    for batch in batches(synthetic(4, versions, per_model=PER_MODEL)):
        if unchanged <= sum(len(vs) for b in again for _, vs in b):
            break
        again.append(batch)
    cpu = time.process_time()
    for batch in again:
        assert await index.replace_models(batch) == 0
    row.incremental_cpu = time.process_time() - cpu
    row.incremental_versions = sum(len(vs) for b in again for _, vs in b)
    del again

    # The impact graph: 10,000 versions trained on one dataset, harvested as sync would.
    index.listeners.append(LineageHarvester(ReferenceResolver(())))
    trained = [
        (
            model,
            [
                dataclasses.replace(v, training_data=(DatasetRef(IMPACT_DATASET, role="training"),))
                for v in vs
            ],
        )
        for model, vs in synthetic(2, IMPACT_VERSIONS, per_model=PER_MODEL, prefix="impact")
    ]
    for batch in batches(trained):
        await index.replace_models(batch)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        result = await impact(db, IMPACT_DATASET, limit=1000)
        runs.append(time.perf_counter() - started)
    assert len(result.hits) == 1000, len(result.hits)
    row.impact_ms = statistics.median(runs) * 1000

    policies = parse_policies(POLICIES.read_text(), str(POLICIES))
    started = time.perf_counter()
    built = await reports.current_report(db, policies, SearchFilter())
    listed = [v async for v in built.all_violations()]
    row.report_s = time.perf_counter() - started
    assert built.total_versions >= versions, (built.total_versions, len(listed))
    await db.aclose()


async def mark_upkeep_done(config: Path) -> None:
    """Record the policy evaluation and the lineage harvest as current, as a finished
    background upkeep would, so that the search timings share the machine with nothing."""
    from gateway.config import load_settings
    from gateway.governance.service import EVALUATED_DIGEST, _set_state
    from gateway.runtime import Gateway
    from gateway.store.sql import upsert
    from gateway.store.tables import lineage_state

    gw = await Gateway.open(load_settings(config), background_upkeep=True)
    try:
        async with gw.database.write() as conn:
            await _set_state(conn, EVALUATED_DIGEST, gw.governance._evaluated_with())
            value = {"key": FINGERPRINT_KEY, "value": gw.lineage.harvester.fingerprint()}
            await upsert(conn, lineage_state, [{**value, "updated_at": datetime_now()}], key=["key"])
    finally:
        await gw.aclose()


def datetime_now() -> Any:
    from gateway.domain import utcnow

    return utcnow()


def serve(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_ready(client: httpx.Client, process: subprocess.Popen[bytes], within: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        try:
            if client.get("/readyz").status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit("the gateway exited during start-up")
        time.sleep(0.1)
    raise SystemExit(f"the gateway was not ready within {within:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return float("inf")
    return time.perf_counter() - started


def timed_queries(
    client: httpx.Client, query: str, variables: list[dict[str, Any]], rounds: int
) -> tuple[float, float]:
    for v in variables[:10]:  # warm-up: parser caches, the database's page cache
        client.post("/graphql", json={"query": query, "variables": v})
    timings = []
    for i in range(rounds):
        started = time.perf_counter()
        body = client.post(
            "/graphql", json={"query": query, "variables": variables[i % len(variables)]}
        ).json()
        timings.append((time.perf_counter() - started) * 1000)
        assert "errors" not in body, body["errors"]
    timings.sort()
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)]


def gateway_measures(url: str, workdir: Path, rounds: int, row: Row) -> None:
    config = workdir / f"scale-{uuid.uuid4().hex[:6]}.toml"
    config.write_text(
        f'[storage]\nurl = "{url}"\nartifacts_dir = "{workdir}/artifacts"\n'
        f'[governance]\npolicies = "{POLICIES}"\n[cache]\nsearch_ttl_seconds = 0\n'
    )
    # Start-up with the whole catalogue's policy evaluation and lineage harvest pending.
    process, base = serve(config)
    with httpx.Client(base_url=base, timeout=60) as client:
        row.ready_s = wait_ready(client, process, 600)
        time.sleep(2)  # the upkeep under way
    row.stop_s = stop(process)

    asyncio.run(mark_upkeep_done(config))
    process, base = serve(config)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            wait_ready(client, process, 600)
            words = [{"q": w} for w in DOMAINS + TASKS + [f"{d} {t}" for d in DOMAINS[:5] for t in TASKS[:4]]]
            row.search["models(query)"] = timed_queries(client, SEARCH, words, rounds)
            stages = [{"s": [s.value]} for s in STAGES]
            row.search["models(filter)"] = timed_queries(client, FILTERED, stages, rounds)
            row.search["versions(query)"] = timed_queries(client, VERSIONS, words, rounds)
            row.rss_mb = peak_rss_mb(process.pid)
    finally:
        stop(process)


# --- output -----------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = (
        f"{'db':<10} {'versions':>9} {'index v/s':>9} {'first10%':>8} {'last10%':>8} {'incr CPU s':>10} "
        f"{'report s':>8} {'impact ms':>9} {'ready s':>7} {'stop s':>6} "
        f"{'models(q) p50/p95':>17} {'filter p50/p95':>14} {'versions(q) p50/p95':>19} {'RSS MB':>6}"
        "  load 1/5/15"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        s = {k: f"{a:.0f}/{b:.0f}" for k, (a, b) in r.search.items()}
        lines.append(
            f"{r.database:<10} {r.versions:>9,} {r.index_rate:>9,.0f} {r.index_first:>8,.0f} "
            f"{r.index_last:>8,.0f} {r.incremental_cpu:>10.1f} {r.report_s:>8.1f} {r.impact_ms:>9.0f} "
            f"{r.ready_s:>7.1f} {r.stop_s:>6.1f} "
            f"{s.get('models(query)', '-'):>17} {s.get('models(filter)', '-'):>14} "
            f"{s.get('versions(query)', '-'):>19} {r.rss_mb:>6.0f}  {r.load}"
        )
    return "\n".join(lines)


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for database in sorted({r.database for r in rows}):
        mine = sorted((r for r in rows if r.database == database), key=lambda r: r.versions)
        x = [r.versions for r in mine]
        axes[0].plot(x, [r.index_first for r in mine], "o--", label=f"{database}: first 10 %")
        axes[0].plot(x, [r.index_last for r in mine], "o-", label=f"{database}: last 10 %")
        for kind in ("models(query)", "models(filter)", "versions(query)"):
            axes[1].plot(
                x, [r.search.get(kind, (float("nan"),))[0] for r in mine], "o-", label=f"{database}: {kind}"
            )
        axes[2].plot(x, [r.report_s for r in mine], "o-", label=f"{database}: compliance report (s)")
        axes[2].plot(x, [r.ready_s for r in mine], "s--", label=f"{database}: ready after start (s)")
    titles = ("indexing rate (versions/s)", "search p50 over HTTP (ms)", "whole-catalogue work (s)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("versions indexed")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylim(bottom=0)
    axes[1].set_yscale("log")
    axes[2].set_yscale("log")
    loads = ", ".join(sorted({r.load.split("/")[0] for r in rows}))
    fig.suptitle(f"modelgate catalogue cost against size (2 shared cores; 1-min load averages seen: {loads})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="versions, comma-separated")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a database on the server to create the sweep's databases from",
    )
    parser.add_argument("--rounds", type=int, default=200, help="requests per search kind")
    parser.add_argument("--plot", type=Path, default=Path("scale.png"))
    parser.add_argument("--results", type=Path, help="JSON file: results are added to it (a sweep in parts)")
    args = parser.parse_args()

    previous = json.loads(args.results.read_text()) if args.results and args.results.exists() else []
    rows = [Row(**{**r, "search": {k: tuple(v) for k, v in r["search"].items()}}) for r in previous]
    workdir = Path(tempfile.mkdtemp(prefix="modelgate-scale-"))
    for kind in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",") if s):  # none: table and plot of --results
            row = Row(kind, size)
            database = fresh_database(kind, workdir, args.postgres)
            try:
                asyncio.run(index_catalogue(database.url, size, row))
                gateway_measures(database.url, workdir, args.rounds, row)
            finally:
                database.drop()
            row.load = load()
            rows = [r for r in rows if (r.database, r.versions) != (kind, size)] + [row]
            print(table([row]).splitlines()[-1], flush=True)
            if args.results:
                args.results.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    rows.sort(key=lambda r: (r.database, r.versions))
    print()
    print(table(rows))
    plot(rows, args.plot)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
