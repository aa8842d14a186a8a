"""How long a GTO registry of 1,500 tags takes to sync, against GTO's own ``gto show``.

    .venv/bin/python bench/gto_sync.py                    # 100 artifacts x 5 versions, 1,500 tags
    .venv/bin/python bench/gto_sync.py --artifacts 200 --repeat 7

Builds a bare repository with ``git fast-import`` (one commit per version with
a real ``dvc.yaml``, ``metrics.json`` and ``params.yaml``; annotated tags in
GTO's grammar: per artifact five registrations ``name@vX.Y.0`` and ten stage
assignments ``name#staging#N`` / ``name#prod#N``), serves it with ``git daemon``
on loopback and times, each ``--repeat`` times (median reported):

- ``gto show`` (the CLI) against the ``git://`` URL: GTO clones it for the call;
- the adapter's full sync from an empty mirror (``ls-remote``, fetch, tags,
  two ``cat-file --batch`` reads, listing every model and version);
- an incremental pass with nothing changed (one ``ls-remote``);
- an incremental pass after a team pushed one stage tag;
- the gateway's whole full sync into a SQLite index (``SyncEngine``) and its
  incremental pass with nothing changed.

Nothing here is asserted; it prints one line per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.base import iterate_pages  # noqa: E402
from adapters.gto import GtoRegistry, load_settings  # noqa: E402
from gateway.config import RegistrySettings, settings_from_mapping  # noqa: E402
from gateway.runtime import Gateway  # noqa: E402
from tests.servers.gto import git, git_daemon  # noqa: E402

EPOCH = 1_767_225_600
TAGGER = "Team Member <team@example.com>"


def _data(text: str) -> str:
    raw = text.encode()
    return f"data {len(raw)}\n{text}\n"


def build_stream(artifacts: int, versions: int) -> tuple[str, int]:
    """A fast-import stream: commits with DVC files, and GTO's annotated tags."""
    out: list[str] = []
    tags = 0
    t = EPOCH
    mark = 0
    declared: dict[str, dict[str, Any]] = {}
    for v in range(versions):
        for a in range(artifacts):
            name = f"model-{a:04d}"
            mark += 1
            t += 1
            declared[name] = {
                "type": "model",
                "path": f"models/{name}.pkl",
                "desc": f"{name} version {v}",
                "labels": ["bench", f"owner=team-{a % 7}"],
                "meta": {"framework": "sklearn", "build": v},
            }
            dvc = {"artifacts": declared, "metrics": ["metrics.json"]}
            out.append(f"commit refs/heads/main\nmark :{mark}\ncommitter {TAGGER} {t} +0000\n")
            out.append(_data(f"{name} v{v}"))
            if mark > 1:
                out.append(f"from :{mark - 1}\n")
            out.append("M 644 inline dvc.yaml\n" + _data(yaml.safe_dump(dvc, sort_keys=False)))
            out.append("M 644 inline metrics.json\n" + _data(json.dumps({"auc": 0.8 + v / 100, "a": a})))
            out.append("M 644 inline params.yaml\n" + _data(f"train:\n  lr: 0.{v + 1}\n  depth: {a % 9}\n"))
            out.append(f"tag {name}@v1.{v}.0\nfrom :{mark}\ntagger {TAGGER} {t} +0000\n")
            out.append(_data(f"Registering artifact {name} version v1.{v}.0"))
            tags += 1
    counters = dict.fromkeys((f"model-{a:04d}" for a in range(artifacts)), 0)
    for v in range(versions):
        for a in range(artifacts):
            name = f"model-{a:04d}"
            commit_mark = v * artifacts + a + 1
            for stage in ("staging", "prod"):
                t += 1
                counters[name] += 1
                out.append(
                    f"tag {name}#{stage}#{counters[name]}\nfrom :{commit_mark}\ntagger {TAGGER} {t} +0000\n"
                )
                out.append(_data(f"Assigning stage {stage} to artifact {name} version v1.{v}.0"))
                tags += 1
    return "".join(out), tags


def populate(base: Path, artifacts: int, versions: int) -> tuple[Path, int]:
    bare = base / "bench.git"
    git("init", "--bare", "--quiet", "--initial-branch=main", str(bare))
    git("config", "daemon.receivepack", "true", cwd=bare)
    stream, tags = build_stream(artifacts, versions)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=bare, input=stream.encode(), check=True)
    return bare, tags


def time_gto_show(gto_cli: str, url: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([gto_cli, "show", "--repo", url], check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def report(label: str, seconds: float, detail: str = "") -> None:
    print(f"{label:<58} {seconds * 1000:9.1f} ms  {detail}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=100)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "remotes"
        base.mkdir()
        _, tags = populate(base, args.artifacts, args.versions)
        print(
            f"repository: {args.artifacts} artifacts, {args.artifacts * args.versions} versions, {tags} tags"
        )
        with git_daemon(base) as daemon:
            url = daemon.url("bench")
            gto_cli = shutil.which("gto") or str(Path(sys.executable).with_name("gto"))
            seconds = await asyncio.to_thread(time_gto_show, gto_cli, url, max(1, args.repeat // 2))
            report("gto show --repo git://… (GTO's own, clones per call)", seconds)

            mirrors = Path(tmp) / "mirrors"

            def adapter(fresh: bool) -> GtoRegistry:
                if fresh and mirrors.exists():
                    shutil.rmtree(mirrors)
                registry = RegistrySettings(id="bench", kind="gto", options={"repo": url, "page_size": 1000})
                return GtoRegistry("bench", load_settings(registry, environ={}), mirrors / "bench.git")

            async def full() -> tuple[int, int]:
                gto = adapter(fresh=True)
                await gto.changes_since(None)
                models = [m async for m in iterate_pages(gto.list_models)]
                versions = [v async for v in iterate_pages(gto.list_all_versions)]
                return len(models), len(versions)

            seconds, (m, v) = await timed(full, args.repeat)
            report("adapter full sync, empty mirror (fetch + parse)", seconds, f"{m} models, {v} versions")

            warm = adapter(fresh=True)
            cursor = (await warm.changes_since(None)).cursor

            async def unchanged() -> Any:
                return await warm.changes_since(cursor)

            seconds, change = await timed(unchanged, args.repeat * 4)
            report(
                "adapter incremental, nothing changed (one ls-remote)", seconds, f"changed={change.changed}"
            )

            clone = Path(tmp) / "team"
            git("clone", "--quiet", url, str(clone))
            samples = []
            for i in range(args.repeat):
                name = f"model-{i:04d}"
                env = {"GIT_COMMITTER_NAME": "Team", "GIT_COMMITTER_EMAIL": "t@example.com"}
                git("tag", "-a", "-m", "bench", f"{name}#qa#{100 + i}", f"{name}@v1.0.0", cwd=clone, env=env)
                git("push", "--quiet", "origin", f"refs/tags/{name}#qa#{100 + i}", cwd=clone)
                started = time.perf_counter()
                change = await warm.changes_since(cursor)
                samples.append(time.perf_counter() - started)
                cursor = change.cursor
            report(
                "adapter incremental, one stage tag pushed",
                statistics.median(samples),
                f"changed={change.changed}",
            )

            settings = settings_from_mapping(
                {
                    "storage": {"url": f"sqlite:///{tmp}/mg.db", "artifacts_dir": f"{tmp}/artifacts"},
                    "registries": [
                        {"id": "bench", "kind": "gto", "team": "nlp", "repo": url, "page_size": 1000}
                    ],
                },
                environ={},
            )
            gateway = await Gateway.open(settings)
            try:
                seconds, result = await timed(lambda: gateway.sync.sync_registry("bench", full=True), 1)
                report(
                    "gateway full sync into SQLite (first, empty mirror)", seconds, f"{result.models} models"
                )
                seconds, result = await timed(
                    lambda: gateway.sync.sync_registry("bench", full=True), args.repeat
                )
                report("gateway full sync into SQLite (warm mirror)", seconds, f"{result.models} models")
                seconds, result = await timed(lambda: gateway.sync.sync_registry("bench"), args.repeat * 4)
                report(
                    "gateway incremental sync, nothing changed", seconds, f"{result.models} models re-read"
                )
            finally:
                await gateway.aclose()


if __name__ == "__main__":
    asyncio.run(main())
