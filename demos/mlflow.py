"""``modelgate demo --with-mlflow``: a real local MLflow server beside the native
registries, filled through MLflow's REST API with models that show what
federation is for: a version that is the same artifact as a native one
(SAME_AS), fine-tunes of native models (lineage across registries), and a model
whose legacy stage and alias each name a production version (a stage conflict
the catalogue reports). Needs the ``mlflow`` package (``pip install mlflow``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.config import RegistrySettings, Settings

REGISTRY_ID = "fraud-mlflow"
DEMO_EXPERIMENT = "modelgate-demo"
TEAM = "fraud"
START_TIMEOUT = 120.0  # a cold MLflow start takes 10-50 s on a small machine
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
CARD = {
    "model_card.intended_use": "Scoring EU card-not-present transactions",
    "model_card.limitations": "Not calibrated for merchants outside the EU",
    "model_card.evaluation": "AUC 0.93 on the 2026Q3 EU holdout",
    "model_card.bias_assessment": "False-positive rates within 2% across member states",
}


@dataclass(frozen=True)
class DemoMlflowVersion:
    source: str
    description: str
    tags: dict[str, str]
    legacy_stage: str | None = None  # MLflow's deprecated stages: the way older scripts promote
    alias: str | None = None
    # The training run's metrics per epoch (MLflow keeps every step: the dashboard draws them).
    history: dict[str, list[float]] | None = None


# (model, description, versions)
DEMO_MLFLOW: list[tuple[str, str, list[DemoMlflowVersion]]] = [
    (
        "fraud-detector-eu",
        "The platform fraud model, adapted to EU transactions.",
        [
            DemoMlflowVersion(
                # The very artifact of mg://platform/fraud-detector/5: one model in two registries.
                "s3://acme-models/platform/fraud-detector/1.4.0/model.tar.gz",
                "Imported from the platform registry as is",
                {"modelgate.semver": "1.4.0", **CARD},
                legacy_stage="Production",
            ),
            DemoMlflowVersion(
                "s3://acme-models/fraud-mlflow/fraud-detector-eu/2/model.tar.gz",
                "Fine-tuned on EU transactions",
                {
                    "modelgate.semver": "1.5.0",
                    "lineage.parent": "mg://platform/fraud-detector/5",
                    "lineage.training_data": "s3://acme-data/fraud/eu-transactions/2026-09/",
                    **CARD,
                },
                alias="champion",  # and v1 still holds legacy Production: two production versions
                history={
                    "val_auc": [0.861, 0.894, 0.912, 0.921, 0.927, 0.930, 0.931, 0.931],
                    "train_loss": [0.412, 0.301, 0.244, 0.213, 0.196, 0.188, 0.184, 0.183],
                },
            ),
            DemoMlflowVersion(
                "s3://acme-models/fraud-mlflow/fraud-detector-eu/3/model.tar.gz",
                "Candidate with device fingerprint features",
                {
                    "modelgate.semver": "1.6.0",
                    "lineage.parent": "mg://platform/fraud-detector/6",
                    "lineage.training_data": "s3://acme-data/fraud/eu-transactions/2026-10/",
                },
                alias="challenger",
                history={
                    "val_auc": [0.870, 0.901, 0.919, 0.929, 0.934, 0.937, 0.938, 0.936],
                    "train_loss": [0.398, 0.288, 0.231, 0.199, 0.180, 0.171, 0.166, 0.165],
                },
            ),
        ],
    ),
    (
        "support-summarizer-distilled",
        "A small distillation of the research support summariser, for on-device use.",
        [
            DemoMlflowVersion(
                "s3://acme-models/fraud-mlflow/support-summarizer-distilled/1/model.tar.gz",
                "Distilled from llm-summarizer-support v2",
                {"lineage.parent": "mg://research/llm-summarizer-support/2"},
                alias="staging",
            ),
        ],
    ),
]


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the gateway exits,
    however it exits (uvicorn re-raises SIGTERM, so no ``finally`` runs then)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_mlflow(data_dir: Path) -> Iterator[str]:
    """``mlflow server`` on a free loopback port, its store under ``data_dir``;
    yields its URL once it answers, and stops it (and its workers) afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{data_dir.resolve() / 'mlflow.db'}",
        "--default-artifact-root", str(data_dir.resolve() / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = (data_dir / "mlflow-server.log").open("wb")
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **SERVER_ENV},
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {data_dir / 'mlflow-server.log'}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer within {START_TIMEOUT:g}s")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        log.close()


def seed_mlflow(url: str) -> int:
    """Create the demo models in the MLflow server at ``url`` with its REST API
    (as a team's scripts would); models that exist are left alone. Returns the
    number of versions created."""
    api = f"{url.rstrip('/')}/api/2.0/mlflow"
    created = 0
    with httpx.Client(base_url=api, timeout=30) as client:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = client.post(path, json=body)
            response.raise_for_status()
            return dict(response.json())

        for name, description, versions in DEMO_MLFLOW:
            if client.get("/registered-models/get", params={"name": name}).status_code == 200:
                continue
            post("/registered-models/create", {"name": name, "description": description,
                                              "tags": [{"key": "team", "value": TEAM}]})  # fmt: skip
            for v in versions:
                tags = [{"key": k, "value": value} for k, value in v.tags.items()]
                body = {"name": name, "source": v.source, "description": v.description, "tags": tags}
                if v.history:
                    body["run_id"] = _training_run(post, client, name, v.history)
                number = post("/model-versions/create", body)["model_version"]["version"]
                if v.legacy_stage:
                    post("/model-versions/transition-stage",
                         {"name": name, "version": number, "stage": v.legacy_stage,
                          "archive_existing_versions": False})  # fmt: skip
                if v.alias:
                    post("/registered-models/alias", {"name": name, "alias": v.alias, "version": number})
                created += 1
    return created


def _training_run(
    post: Callable[[str, dict[str, Any]], dict[str, Any]],
    client: httpx.Client,
    model: str,
    history: dict[str, list[float]],
) -> str:
    """A finished run in the demo experiment with ``history`` logged one epoch per step."""
    found = client.get("/experiments/get-by-name", params={"experiment_name": DEMO_EXPERIMENT})
    if found.status_code == 200:
        experiment = found.json()["experiment"]["experiment_id"]
    else:
        experiment = post("/experiments/create", {"name": DEMO_EXPERIMENT})["experiment_id"]
    start = int(time.time() * 1000) - 3_600_000
    run = post(
        "/runs/create", {"experiment_id": experiment, "run_name": f"train-{model}", "start_time": start}
    )
    run_id = str(run["run"]["info"]["run_id"])
    metrics = [
        {"key": key, "value": value, "step": step, "timestamp": start + step * 60_000}
        for key, values in history.items()
        for step, value in enumerate(values)
    ]
    post(
        "/runs/log-batch", {"run_id": run_id, "metrics": metrics, "params": [{"key": "epochs", "value": "8"}]}
    )
    post("/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": start + 600_000})
    return run_id


def with_mlflow_registry(settings: Settings, url: str) -> Settings:
    """``settings`` with the demo MLflow registry added."""
    import dataclasses

    registry = RegistrySettings(
        id=REGISTRY_ID,
        kind="mlflow",
        team=TEAM,
        sync_interval_seconds=30,
        options={"url": url, "read_model_files": False},  # artifacts are on a pretend S3
        key=f"registries[{len(settings.registries)}]",
    )
    return dataclasses.replace(settings, registries=(*settings.registries, registry))
