"""Benchmark: ``impact`` on a lineage graph of 100,000 versions.

    .venv/bin/python bench/lineage_impact.py [--versions 100000] [--database-url URL] [--rounds 5]

The graph is synthesised from a fixed seed and written through the catalogue
index's own write path (``CatalogueIndex.replace_models``) with the lineage
harvester attached, exactly as sync writes it (the setup time, which includes
harvesting, is printed but is not the benchmark):

* 4 registries (two native, one MLflow, one SageMaker), 10 versions per model;
* 200 base models (each version fine-tuned from the one before); every other
  model's version 1 is fine-tuned from a base version picked with Zipf-like
  popularity, and 30 % of later versions from the version before (the rest are
  retrained from scratch), so DERIVED_FROM chains reach up to 20 deep;
* 5,000 datasets, each version trained on two and validated on one, picked with
  Zipf-like popularity (the most popular dataset is used directly by ~3 % of
  the versions), spelled ``s3a://``/``s3://`` with and without trailing slashes;
  base models train on 100 corpora of their own;
* 1 % of versions share their artifact with a version in another registry (SAME_AS).

Timed (median of ``--rounds`` runs each, cold process caches aside): ``impact``
of the most popular dataset and of the most popular base model / base version,
unbounded (every downstream version) and with GraphQL's default ``first: 1000``;
and a ``lineage`` walk (BOTH, depth 3, 500 nodes) around a leaf version.

``--harvest-overhead N`` also indexes the first N synthetic versions into two
fresh SQLite files, with and without the lineage harvester, and prints what
harvesting adds to the index's write path (what sync pays for lineage).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from gateway.catalogue.index import CatalogueIndex
from gateway.config import RegistrySettings
from gateway.domain import DatasetRef, LineageNode, Model, ModelVersion
from gateway.lineage import store
from gateway.lineage.harvest import LineageHarvester
from gateway.lineage.uris import ReferenceResolver
from gateway.lineage.walk import Direction, impact, walk
from gateway.store.database import Database

REGISTRIES = (
    RegistrySettings(id="platform", kind="native"),
    RegistrySettings(id="research", kind="native"),
    RegistrySettings(id="fraud-mlflow", kind="mlflow", options={"url": "http://mlflow.invalid"}),
    RegistrySettings(id="ads-sm", kind="sagemaker", options={"region": "us-east-1"}),
)
PER_MODEL = 10
BASE_MODELS = 200
DATASETS = 5000
CORPORA = 100
CONTINUED = 0.3  # share of later versions fine-tuned from the version before
SPELLINGS = ("s3://bench/ds/{:05d}", "s3a://bench/ds/{:05d}/", "s3://bench//ds/{:05d}/")


def zipf_picker(n: int, rng: random.Random, s: float = 1.0) -> Callable[[], int]:
    weights = [1.0 / (k + 1) ** s for k in range(n)]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)

    def pick() -> int:
        import bisect

        return bisect.bisect_left(cumulative, rng.random() * total)

    return pick


def synthesise(n_versions: int, seed: int = 11) -> list[tuple[Model, list[ModelVersion]]]:
    rng = random.Random(seed)
    dataset = zipf_picker(DATASETS, rng, 0.6)
    base_pick = zipf_picker(BASE_MODELS * PER_MODEL, rng, 1.0)
    n_models = n_versions // PER_MODEL
    registries = [r.id for r in REGISTRIES]
    out: list[tuple[Model, list[ModelVersion]]] = []
    shared: list[tuple[str, str]] = []  # (registry, artifact) of versions others will copy
    for m in range(n_models):
        registry = registries[m % len(registries)]
        name = f"base-{m:04d}" if m < BASE_MODELS else f"model-{m:05d}"
        model = Model(registry, name, team=f"team-{m % 20}")
        versions = []
        for k in range(1, PER_MODEL + 1):
            if m < BASE_MODELS:
                parent = f"mg://{registries[m % len(registries)]}/{name}/{k - 1}" if k > 1 else None
            elif k == 1:
                b = base_pick()
                base_model, base_version = b // PER_MODEL, b % PER_MODEL + 1
                parent = (
                    f"mg://{registries[base_model % len(registries)]}/base-{base_model:04d}/{base_version}"
                )
            elif rng.random() < CONTINUED:
                parent = f"mg://{registry}/{name}/{k - 1}"
            else:
                parent = None  # retrained from scratch
            if m < BASE_MODELS:
                data: tuple[DatasetRef, ...] = (
                    DatasetRef(f"s3://bench/corpus/{rng.randrange(CORPORA):03d}"),
                )
            else:
                data = tuple(
                    DatasetRef(rng.choice(SPELLINGS).format(dataset()), role=role)
                    for role in ("training", "training", "validation")
                )
            artifact = f"s3://bench-models/{registry}/{name}/{k}/model.tar.gz"
            if shared and rng.random() < 0.01:
                other_registry, other_artifact = rng.choice(shared)
                if other_registry != registry:
                    artifact = other_artifact
            elif rng.random() < 0.01:
                shared.append((registry, artifact))
            versions.append(
                ModelVersion(registry, name, str(k), parent=parent, training_data=data, artifact_uri=artifact)
            )
        out.append((model, versions))
    return out


async def median_seconds(rounds: int, call: Callable[[], Awaitable[object]]) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = await call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def line(label: str, seconds: float, extra: str = "") -> None:
    print(f"{label:62s} {seconds * 1000:9.1f} ms  {extra}")


async def main(n_versions: int, database_url: str | None, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.db"
        db = Database(url)
        await db.migrate()
        index = CatalogueIndex(db)
        index.listeners.append(LineageHarvester(ReferenceResolver(REGISTRIES)))
        print(f"{n_versions:,} versions, {url.split(':')[0]}, median of {rounds} rounds")
        started = time.perf_counter()
        models = synthesise(n_versions)
        for i in range(0, len(models), 500):
            await index.replace_models(models[i : i + 500])
        async with db.read() as conn:
            from sqlalchemy import func, select

            from gateway.store.tables import lineage_artifacts, lineage_edges

            edges = (await conn.execute(select(func.count()).select_from(lineage_edges))).scalar_one()
            artifacts = (await conn.execute(select(func.count()).select_from(lineage_artifacts))).scalar_one()
        setup = time.perf_counter() - started
        print(f"setup (not the benchmark): synthesise, index and harvest {setup:.1f} s, ", end="")
        print(f"{edges:,} edges, {artifacts:,} artifact keys")
        if db.dialect == "postgresql":
            # Fresh bulk-loaded tables have no planner statistics yet; autovacuum would
            # analyze them shortly in a running system, so measure that steady state.
            async with db.write() as conn:
                await conn.execute(text("ANALYZE"))
        gc.collect()
        gc.freeze()

        popular = "s3://bench/ds/00000"
        result: object
        seconds, result = await median_seconds(
            rounds, lambda: impact(db, popular, limit=10**9, max_nodes=10**9)
        )
        line(
            "impact(popular dataset), every downstream version",
            seconds,
            f"{len(result.hits):,} versions, {result.nodes_visited:,} nodes",  # type: ignore[attr-defined]
        )
        seconds, result = await median_seconds(rounds, lambda: impact(db, popular, limit=1000))
        line(
            "impact(popular dataset), first 1000 (GraphQL default)", seconds, f"{len(result.hits):,} versions"
        )  # type: ignore[attr-defined]

        base_model = "mg://platform/base-0000"
        async with db.read() as conn:
            starts = await store.model_versions(conn, base_model)
        seconds, result = await median_seconds(
            rounds, lambda: impact(db, base_model, starts=starts, limit=10**9, max_nodes=10**9)
        )
        line(
            "impact(most popular base model), every downstream version",
            seconds,
            f"{len(result.hits):,} versions, {result.nodes_visited:,} nodes",  # type: ignore[attr-defined]
        )
        base_version = f"{base_model}/1"
        seconds, result = await median_seconds(
            rounds, lambda: impact(db, base_version, limit=10**9, max_nodes=10**9)
        )
        line(
            "impact(a base version), every downstream version",
            seconds,
            f"{len(result.hits):,} versions",  # type: ignore[attr-defined]
        )
        last = n_versions // PER_MODEL - 1
        leaf = f"mg://{REGISTRIES[last % len(REGISTRIES)].id}/model-{last:05d}/{PER_MODEL}"
        seconds, result = await median_seconds(
            rounds, lambda: walk(db, LineageNode(leaf, "model_version"), Direction.BOTH, 3)
        )
        line(
            "lineage(leaf version, BOTH, depth 3, 500 nodes), store only",
            seconds,
            f"{len(result.nodes):,} nodes, {len(result.edges):,} edges",  # type: ignore[attr-defined]
        )
        await db.aclose()


async def harvest_overhead(n_versions: int) -> None:
    models = synthesise(n_versions)
    for harvest in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/overhead.db")
            await db.migrate()
            index = CatalogueIndex(db)
            if harvest:
                index.listeners.append(LineageHarvester(ReferenceResolver(REGISTRIES)))
            started = time.perf_counter()
            for i in range(0, len(models), 500):
                await index.replace_models(models[i : i + 500])
            seconds = time.perf_counter() - started
            await db.aclose()
        label = f"index {n_versions:,} versions, {'with' if harvest else 'without'} lineage harvest (SQLite)"
        print(f"{label:62s} {seconds:9.2f} s   {n_versions / seconds:,.0f} versions/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        help="an empty database, e.g. postgresql://postgres@127.0.0.1:5432/bench (must exist)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--harvest-overhead", type=int, metavar="N", help="also time indexing N versions")
    args = parser.parse_args()
    asyncio.run(main(args.versions, args.database_url, args.rounds))
    if args.harvest_overhead:
        asyncio.run(harvest_overhead(args.harvest_overhead))
