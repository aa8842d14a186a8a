"""``search_registered_models`` through the gateway's MLflow-compatible API
against the same call on the federated MLflow server itself, with MLflow's own
client on both sides.

    .venv/bin/python bench/mlflow_api.py                  # 5,000 models
    .venv/bin/python bench/mlflow_api.py --models 1000 --rounds 50

Populates an MLflow server's store (``mlflow_store_populate``: one version per
model), starts it, syncs it into a gateway (SQLite index, run details off),
serves the gateway, then times one call at a time (median of ``--rounds``):

- the first page (``max_results=100``, MLflow's default);
- a filtered search (``name ILIKE '%<digits>%'``, one model matches);
- a walk over every model (``max_results=1000``, following page tokens).

The gateway's search cache is on as shipped; ``--no-search-cache`` makes every
search run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway_process import running_gateway  # noqa: E402
from bench.mlflow_store_populate import populate_store  # noqa: E402
from tests.servers.mlflow import start_mlflow_server  # noqa: E402


def median_ms(fn: Callable[[int], Any], rounds: int) -> float:
    fn(0)  # warm: connections, caches on both sides alike
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        fn(i + 1)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def walk(client: Any, filter_string: str | None = None) -> int:
    count, token = 0, None
    while True:
        page = client.search_registered_models(filter_string, max_results=1000, page_token=token)
        count += len(page)
        token = page.token
        if not token:
            return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--no-search-cache", action="store_true", help="every search runs (cache.search_ttl_seconds = 0)"
    )
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    workdir = Path(tempfile.mkdtemp(prefix="modelgate-mlflow-api-"))
    started = time.perf_counter()
    populate_store(workdir / "mlflow", args.models, 1)
    print(f"populated MLflow's store with {args.models} models in {time.perf_counter() - started:.0f} s")
    server = start_mlflow_server(workdir / "mlflow")
    try:
        config = workdir / "gateway.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{workdir}/gateway.db"\nartifacts_dir = "{workdir}/artifacts"\n'
            + ("[cache]\nsearch_ttl_seconds = 0\n" if args.no_search_cache else "")
            + f'[[registries]]\nid = "ml"\nkind = "mlflow"\nteam = "ml"\nurl = "{server.url}"\n'
            "fetch_run_details = false\nsync_interval_seconds = 3600\n"
        )
        subprocess.run(
            [sys.executable, "-m", "gateway.cli", "sync", "--full", "--config", str(config)],
            check=True,
            capture_output=True,
            cwd=workdir,
        )
        mlflow = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        with running_gateway(config, cwd=workdir) as (http, _):
            base = f"{http.base_url}".rstrip("/") + "/mlflow"
            gateway = MlflowClient(tracking_uri=base, registry_uri=base)
            assert walk(gateway) == walk(mlflow) == args.models
            cases: list[tuple[str, Callable[[Any], Callable[[int], Any]]]] = [
                ("first page, max_results=100", lambda c: lambda i: c.search_registered_models()),
                (
                    "name ILIKE '%<digits>%' (one match)",
                    lambda c: lambda i: c.search_registered_models(f"name ILIKE '%-{i % args.models:05d}'"),
                ),
                (f"walk all {args.models} (pages of 1000)", lambda c: lambda i: walk(c)),
            ]
            for label, make in cases:
                rounds = max(3, args.rounds // 5) if label.startswith("walk") else args.rounds
                theirs = median_ms(make(mlflow), rounds)
                ours = median_ms(make(gateway), rounds)
                ratio = theirs / ours
                print(f"{label:<40} MLflow {theirs:8.1f} ms   gateway {ours:8.1f} ms   ({ratio:.2f}x)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
