"""One real MLflow tracking server for the whole test session.

``mlflow server`` on a free 127.0.0.1 port with a SQLite backend and a local
artifact root under a temporary directory. Cold start takes 10-50 s here, so it
starts once (``mlflow_server``) and every test shares it with unique model
names. Webhooks are allowed to reach plain-http loopback targets (the test
gateway), and MLflow's webhook list cache is switched off so a webhook created
by a test applies to the very next event.

``start_mlflow_server`` is also used by ``bench/mlflow_sync.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

START_TIMEOUT = 90.0  # seconds; a cold start on a busy 2-core machine can take a minute

SERVER_ENV = {
    # The job runner forks workers we do not need; webhook delivery does not use it.
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    # Webhook targets: MLflow allows only https and public addresses unless told otherwise.
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    # MLflow caches the webhook list per event for 60 s; a test's new webhook must apply at once.
    "MLFLOW_WEBHOOK_CACHE_TTL": "0",
    "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


class MlflowServerUnavailable(RuntimeError):
    """``mlflow server`` could not be started here."""


@dataclass
class MlflowServer:
    url: str
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> str:
        return f"{self.url}/api/2.0/mlflow"

    def stop(self) -> None:
        """Terminate the server and the workers it spawned (its own process group)."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_mlflow_server(workdir: Path, *, timeout: float = START_TIMEOUT) -> MlflowServer:
    """Start ``mlflow server`` and wait until it answers ``/health``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / "mlflow-server.log"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **SERVER_ENV},
                cwd=workdir,
                start_new_session=True,  # its own process group, so stop() reaches its workers
            )
        except OSError as exc:
            raise MlflowServerUnavailable(f"cannot run {command[0]} -m mlflow: {exc}") from exc
    server = MlflowServer(f"http://127.0.0.1:{port}", workdir, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MlflowServerUnavailable(
                f"mlflow server exited with {process.returncode}:\n{_log_tail(log_path)}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    server.stop()
    raise MlflowServerUnavailable(
        f"mlflow server did not answer within {timeout:.0f} s:\n{_log_tail(log_path)}"
    )


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real MLflow 3.x tracking server, shared by the session."""
    from tests.conftest import service_missing  # late: conftest loads this module as a plugin

    for key in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"):  # the in-process client too
        os.environ.setdefault(key, "true")
    try:
        import mlflow  # noqa: F401  (a test dependency; without it there is no server to start)
    except ImportError as exc:
        service_missing("MLflow (pip install mlflow)", exc)
    try:
        server = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    except MlflowServerUnavailable as exc:
        service_missing("MLflow server", exc)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_url(mlflow_server: MlflowServer) -> str:
    return mlflow_server.url


# --- populating the server the way a team does --------------------------------


@dataclass(frozen=True)
class LoggedDataset:
    name: str
    source: str  # where the data lives: s3://..., https://..., a path
    context: str | None  # mlflow.data.context: training | validation | ...


class MlflowTeam:
    """A team's use of MLflow through its own client: runs with params, metrics and
    dataset inputs, LoggedModels, registered models, versions, aliases, stages."""

    def __init__(self, url: str):
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=url, registry_uri=url)
        self._experiment: str | None = None

    @property
    def experiment_id(self) -> str:
        if self._experiment is None:
            name = f"modelgate-tests-{os.getpid()}-{time.time_ns()}"
            self._experiment = self.client.create_experiment(name)
        return self._experiment

    def train(
        self,
        *,
        params: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        datasets: list[LoggedDataset] | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """A finished training run, as ``mlflow.log_params/log_metrics/log_input`` leave it."""
        import pandas as pd
        from mlflow.data.pandas_dataset import from_pandas
        from mlflow.entities import DatasetInput, InputTag, Metric, Param

        run = self.client.create_run(self.experiment_id, tags=tags or {})
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, v) for k, v in (params or {}).items()],
        )
        if datasets:
            frame = pd.DataFrame({"amount": [1.0, 2.5, 3.0], "label": [0, 1, 0]})
            inputs = []
            for ds in datasets:
                dataset = from_pandas(frame, source=ds.source, name=ds.name, targets="label")
                tags_ = [InputTag("mlflow.data.context", ds.context)] if ds.context else []
                inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags_))
            self.client.log_inputs(run_id, datasets=inputs)
        self.client.set_terminated(run_id)
        return run_id

    def log_model(self, run_id: str, name: str = "model") -> str:
        """An MLflow 3 LoggedModel produced by ``run_id``; returns its model id."""
        return self.client.create_logged_model(self.experiment_id, name=name, source_run_id=run_id).model_id

    def register(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """A new version of ``name`` (the registered model is created if missing)."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        # MLflow 3 insists a models:/<model_id> source is registered with that model_id.
        model_id = source.removeprefix("models:/") if source.startswith("models:/m-") else None
        version = self.client.create_model_version(
            name,
            source,
            run_id=run_id,
            description=description,
            tags=tags,
            await_creation_for=0,
            model_id=model_id,
        )
        return str(version.version)
