"""Real Git remotes for the GTO adapter: bare repositories served by ``git daemon``
on loopback (push enabled) and over ``file://``, populated the way a team does
it: commits of a real ``dvc.yaml`` with ``git``, versions and stages with the
real ``gto`` API (``gto.api.register`` / ``assign`` / …, ``push=True``).

``gto show`` in a fresh clone of the remote (``GtoRemote.show``) is GTO's own
view, to check what the adapter wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

TEAM = {"user.name": "Team Member", "user.email": "team@example.com"}
# The team's tags are dated by a clock the tests set (a minute apart from here),
# not the wall clock: GTO orders events by tag time in whole seconds, and tags a
# script creates in one second would tie.
TEAM_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


class _TagClock:
    """Stands in for the ``time`` module inside dulwich's tag creation (which gto uses)."""

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class GitDaemon:
    base: Path
    port: int
    process: subprocess.Popen[bytes]

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}.git"


@contextmanager
def git_daemon(base: Path) -> Iterator[GitDaemon]:
    """``git daemon`` exporting every repository under ``base``, push allowed."""
    port = free_port()
    process = subprocess.Popen(
        [
            "git", "daemon", "--export-all", f"--base-path={base}", "--enable=receive-pack",
            "--reuseaddr", f"--port={port}", "--listen=127.0.0.1", str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):  # wait for the socket, not for a time
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None:
                raise RuntimeError("git daemon exited at start")
            time.sleep(0.02)
        yield GitDaemon(base, port, process)
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class GtoRemote:
    """A bare repository (the registry) and a team's working clone of it."""

    bare: Path
    url: str
    work: Path
    clock: float = TEAM_EPOCH

    @contextmanager
    def _dated(self) -> Iterator[None]:
        import dulwich.porcelain.tag

        self.clock += 60
        # scmrepo's pygit2 backend refuses a set GIT_COMMITTER_DATE and hands the
        # tag to dulwich, which reads the clock from its ``time`` module.
        with (
            mock.patch.dict(os.environ, {"GIT_COMMITTER_DATE": f"{int(self.clock)} +0000"}),
            mock.patch.object(dulwich.porcelain.tag, "time", _TagClock(self.clock)),
        ):
            yield

    @classmethod
    def create(cls, base: Path, name: str, url: str, *, hooks: dict[str, str] | None = None) -> GtoRemote:
        bare = base / f"{name}.git"
        git("init", "--bare", "--quiet", "--initial-branch=main", str(bare))
        git("config", "daemon.receivepack", "true", cwd=bare)
        for hook, script in (hooks or {}).items():
            path = bare / "hooks" / hook
            path.write_text(script)
            path.chmod(0o755)
        work = Path(tempfile.mkdtemp(prefix=f"{name}-work-", dir=base.parent))
        git("clone", "--quiet", str(bare), str(work))
        git("checkout", "--quiet", "-b", "main", cwd=work)
        for key, value in TEAM.items():
            git("config", key, value, cwd=work)
        return cls(bare, url, work)

    # --- a team's commits --------------------------------------------------------

    def commit_artifact(
        self,
        name: str,
        *,
        path: str,
        type: str | None = "model",
        desc: str | None = None,
        labels: list[str] | None = None,
        meta: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        directory: str = "",
    ) -> str:
        """Declare (or update) an artifact in ``dvc.yaml`` and commit its metrics and
        params files; returns the commit."""
        folder = self.work / directory if directory else self.work
        folder.mkdir(parents=True, exist_ok=True)
        dvc_path = folder / "dvc.yaml"
        dvc = yaml.safe_load(dvc_path.read_text()) if dvc_path.exists() else {}
        entry: dict[str, Any] = {"path": path}
        if type:
            entry["type"] = type
        if desc:
            entry["desc"] = desc
        if labels:
            entry["labels"] = labels
        if meta:
            entry["meta"] = meta
        dvc.setdefault("artifacts", {})[name] = entry
        if metrics is not None:
            (folder / "metrics.json").write_text(json.dumps(metrics))
            dvc["metrics"] = ["metrics.json"]
        if params is not None:
            (folder / "params.yaml").write_text(yaml.safe_dump(params))
        dvc_path.write_text(yaml.safe_dump(dvc, sort_keys=False))
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", f"Update {name}", cwd=self.work)
        git("push", "--quiet", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    # --- the registry, with the gto API --------------------------------------------

    def register(self, name: str, version: str, ref: str = "HEAD") -> None:
        import gto.api

        with self._dated():
            gto.api.register(str(self.work), name, ref, version=version, push=True)

    def assign(self, name: str, stage: str, version: str) -> None:
        import gto.api

        with self._dated():
            gto.api.assign(str(self.work), name, stage, version=version, push=True)

    def unassign(self, name: str, stage: str, version: str) -> None:
        import gto.api

        with self._dated():
            gto.api.unassign(str(self.work), name, stage=stage, version=version, push=True)

    def deregister(self, name: str, version: str) -> None:
        import gto.api

        with self._dated():
            gto.api.deregister(str(self.work), name, version=version, push=True)

    def deprecate(self, name: str) -> None:
        import gto.api

        with self._dated():
            gto.api.deprecate(str(self.work), name, push=True)

    def pull_tags(self) -> None:
        git("fetch", "--quiet", "--tags", "--force", "origin", cwd=self.work)

    def show(self, name: str) -> list[dict[str, Any]]:
        """``gto show NAME`` (every version, deprecated included) in a fresh clone of the remote."""
        import gto.api

        with tempfile.TemporaryDirectory(dir=self.work.parent) as fresh:
            git("clone", "--quiet", str(self.bare), fresh)
            return list(gto.api.show(fresh, name, deprecated=True))

    def stages_shown(self, name: str) -> dict[str, list[str]]:
        """Version → the stages ``gto show`` lists for it."""
        return {v["version"]: [s["stage"] for s in v["stages"]] for v in self.show(name)}

    def tag_message(self, tag: str) -> str:
        return git("for-each-ref", "--format=%(contents)", f"refs/tags/{tag}", cwd=self.bare)


def unique_repo(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)
