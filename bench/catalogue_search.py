"""Catalogue benchmark: index 100,000 versions across 4 registries, then measure
GraphQL search over HTTP against a running gateway, and the server's peak RSS.

    .venv/bin/python bench/catalogue_search.py                  # SQLite (embedded default)
    .venv/bin/python bench/catalogue_search.py --database-url postgresql://postgres@127.0.0.1/test

Reproducible: the synthetic catalogue is generated from a fixed seed. Prints
one line per measurement; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gateway_process import running_gateway
from gateway.catalogue.index import CatalogueIndex
from gateway.domain import DatasetRef, Model, ModelCard, ModelVersion, Stage
from gateway.store.database import Database

DOMAINS = ["fraud", "churn", "demand", "search", "vision", "speech", "pricing", "risk", "ads", "support"]
TASKS = ["detector", "classifier", "ranker", "forecast", "embedder", "scorer", "segmenter", "summarizer"]
FRAMEWORKS = ["xgboost", "lightgbm", "pytorch", "tensorflow", "sklearn", "prophet"]
TEAMS = ["payments", "growth", "platform", "research", "risk", "vision"]
STAGES = [Stage.ARCHIVED, Stage.DRAFT, Stage.STAGING, Stage.PRODUCTION]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic(registries: int, versions_total: int, per_model: int, seed: int = 7, prefix: str = "reg"):
    rng = random.Random(seed)
    models_per_registry = versions_total // (registries * per_model)
    for r in range(registries):
        registry = f"{prefix}-{r}"
        for m in range(models_per_registry):
            domain, task = rng.choice(DOMAINS), rng.choice(TASKS)
            name = f"{domain}-{task}-{m:05d}"
            framework = rng.choice(FRAMEWORKS)
            team = rng.choice(TEAMS)
            created = EPOCH + timedelta(minutes=rng.randrange(500_000))
            model = Model(
                registry,
                name,
                f"{domain} {task} model owned by {team}",
                team,
                {"domain": domain},
                created,
                created,
            )
            versions = [
                ModelVersion(
                    registry,
                    name,
                    str(v + 1),
                    stage=rng.choice(STAGES),
                    semver=f"1.{v}.0",
                    description=f"retrain {v + 1} of the {domain} {task}",
                    artifact_uri=f"s3://models/{registry}/{name}/{v + 1}/model.tar.gz",
                    training_data=(DatasetRef(f"s3://data/{domain}/{v}/", role="training"),),
                    metrics={"auc": round(rng.uniform(0.6, 0.99), 4)},
                    hyperparameters={"lr": "0.01", "depth": str(rng.randrange(3, 12))},
                    model_card=ModelCard(summary=f"{task} for {domain}", intended_use=f"{domain} decisions"),
                    tags={"framework": framework, "task": task},
                    team=team,
                    created_at=created + timedelta(days=v),
                    updated_at=created + timedelta(days=v),
                )
                for v in range(per_model)
            ]
            yield model, versions


async def build_index(url: str, versions_total: int) -> float:
    db = Database(url)
    await db.migrate()
    index = CatalogueIndex(db)
    started = time.perf_counter()
    batch = []
    for pair in synthetic(4, versions_total, per_model=5):
        batch.append(pair)
        if len(batch) == 500:
            await index.replace_models(batch)
            batch = []
    await index.replace_models(batch)
    seconds = time.perf_counter() - started
    await db.aclose()
    return seconds


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(client: httpx.Client, label: str, query: str, variables: list[dict], rounds: int) -> None:
    for v in variables[:20]:  # warm-up: parser/validation caches, SQLite page cache
        client.post("/graphql", json={"query": query, "variables": v})
    timings = []
    for i in range(rounds):
        v = variables[i % len(variables)]
        started = time.perf_counter()
        response = client.post("/graphql", json={"query": query, "variables": v})
        timings.append((time.perf_counter() - started) * 1000)
        body = response.json()
        assert "errors" not in body, body["errors"]
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(f"{label:<58} median {statistics.median(timings):6.1f} ms   p95 {p95:6.1f} ms   (n={rounds})")


SEARCH = """query($q: String) { models(query: $q, first: 20) {
  totalCount edges { node { uri name team latestVersion { version stage } } }
  facets { registry { value count } team { value count } stage { value count } } } }"""
FILTERED = """query($s: [Stage!]) { models(filter: {stages: $s, teams: ["payments"]}, first: 20) {
  totalCount edges { node { name } } facets { stage { value count } framework { value count } } } }"""
VERSIONS = """query($q: String) { versions(query: $q, first: 20) {
  totalCount edges { node { uri stage metrics { key value } } } } }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument(
        "--no-search-cache", action="store_true", help="every search runs (identical ones share nothing)"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="modelgate-bench-"))
    url = args.database_url or f"sqlite:///{workdir}/bench.db"
    seconds = asyncio.run(build_index(url, args.versions))
    print(
        f"indexed {args.versions} versions (4 registries, 5 per model) in {seconds:.1f} s "
        f"({args.versions / seconds:,.0f} versions/s) on {url.split(':')[0]}"
    )

    config = workdir / "bench.toml"
    cache = "[cache]\nsearch_ttl_seconds = 0\n" if args.no_search_cache else ""
    config.write_text(f'[storage]\nurl = "{url}"\nartifacts_dir = "{workdir}/artifacts"\n{cache}')
    # The first start over an index built behind its back evaluates policies and
    # harvests lineage for every version before it is ready.
    with running_gateway(config, ready_within=300) as (client, proc):
        words = [{"q": w} for w in DOMAINS + TASKS + [f"{d} {t}" for d in DOMAINS[:5] for t in TASKS[:4]]]
        measure(client, "models(query, first: 20) + facets", SEARCH, words, args.rounds)
        measure(
            client,
            "models(filter: stage+team, first: 20) + facets",
            FILTERED,
            [{"s": [s.value]} for s in STAGES],
            args.rounds,
        )
        measure(client, "versions(query, first: 20)", VERSIONS, words, args.rounds)
        print(f"gateway peak RSS with {args.versions} versions indexed: {peak_rss_mb(proc.pid):.0f} MB")


if __name__ == "__main__":
    main()
