"""The demo's Git registry: a real repository managed the GTO way (versions and
stages are Git tags, metadata in ``dvc.yaml``), created with ``git`` under
``data/demo-gto/`` and federated as registry ``models-git`` (kind ``gto``).
Its models link to native ones (``meta.parent``), so lineage crosses from a Git
tag to the native registry."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from gateway.config import RegistrySettings, Settings

REGISTRY_ID = "models-git"
TEAM = "research"
BASE_TIME = 1_767_225_600  # 2026-01-01: tags get distinct seconds (GTO orders them by time)

ARTIFACTS = {
    "churn-gbm": {
        "path": "models/churn-gbm.pkl",
        "type": "model",
        "desc": "Gradient-boosted churn model trained in a Git repository",
        "labels": ["tabular", "churn"],
        "meta": {"parent": "mg://platform/churn-predictor/3"},
    },
    "sentiment-small": {
        "path": "models/sentiment-small",
        "type": "model",
        "desc": "A small sentiment classifier distilled from the research summariser base",
        "labels": ["nlp"],
        "meta": {"parent": "mg://research/llm-summarizer-base/2"},
    },
}
# (tag, message) in GTO's own grammar and wording, in order.
TAGS = [
    ("churn-gbm@v1.0.0", "Registering artifact churn-gbm version v1.0.0"),
    ("churn-gbm#prod#1", "Assigning stage prod to artifact churn-gbm version v1.0.0"),
    ("churn-gbm@v1.1.0", "Registering artifact churn-gbm version v1.1.0"),
    ("churn-gbm#staging#1", "Assigning stage staging to artifact churn-gbm version v1.1.0"),
    ("sentiment-small@v0.1.0", "Registering artifact sentiment-small version v0.1.0"),
    ("sentiment-small#staging#1", "Assigning stage staging to artifact sentiment-small version v0.1.0"),
]


def _git(*args: str, cwd: Path, at: int | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "demo", "GIT_AUTHOR_EMAIL": "demo@modelgate.local",
           "GIT_COMMITTER_NAME": "demo", "GIT_COMMITTER_EMAIL": "demo@modelgate.local"}  # fmt: skip
    if at is not None:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = f"{at} +0000"
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def create_repository(data_dir: Path) -> Path:
    """The bare repository (created once; an existing one is kept as teams left it)."""
    bare = (data_dir / "models.git").resolve()
    if bare.exists():
        return bare
    work = data_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _git("init", "--quiet", "--bare", str(bare), cwd=data_dir)
    _git("init", "--quiet", "-b", "main", cwd=work)
    (work / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": ARTIFACTS}, sort_keys=False))
    (work / "metrics.json").write_text('{"auc": 0.912, "f1": 0.71}\n')
    (work / "params.yaml").write_text("max_depth: 6\nlearning_rate: 0.05\n")
    _git("add", "-A", cwd=work)
    _git("commit", "--quiet", "-m", "Declare the models", cwd=work, at=BASE_TIME)
    for i, (tag, message) in enumerate(TAGS, start=1):
        _git("tag", "-a", tag, "-m", message, cwd=work, at=BASE_TIME + 60 * i)
    _git("push", "--quiet", "--tags", str(bare), "main", cwd=work)
    shutil.rmtree(work, ignore_errors=True)
    return bare


def with_gto_registry(settings: Settings, bare: Path) -> Settings:
    """``settings`` with the demo Git registry added (and nothing if git is missing)."""
    registry = RegistrySettings(
        id=REGISTRY_ID,
        kind="gto",
        team=TEAM,
        sync_interval_seconds=30,
        options={"repo": bare.as_uri()},
        key=f"registries[{len(settings.registries)}]",
    )
    return dataclasses.replace(settings, registries=(*settings.registries, registry))


def git_available() -> bool:
    return shutil.which("git") is not None
