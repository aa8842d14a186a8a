"""``mlflow.pyfunc.load_model`` of one model three ways, with MLflow's own client:
from its directory on disk, from a real MLflow server (its artifact proxy,
``mlflow-artifacts:``), and from a native version through the gateway's MLflow
API and artifact proxy.

    .venv/bin/python bench/mlflow_load_model.py                    # 64 MiB of weights
    .venv/bin/python bench/mlflow_load_model.py --weights-mib 256 --rounds 5

The model is a tiny PythonModel (2x + n) saved with ``mlflow.pyfunc.save_model``
with a random weights file as a model artifact, so the download dominates. The
same files go to both servers: logged to an MLflow run and registered there, and
uploaded to the gateway (``PUT /artifacts/...``) and registered as a directory
version. Each round loads into a fresh temporary directory (``load_model``
downloads every time); the median of ``--rounds`` is printed, with the ratios.
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

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway_process import free_port, running_gateway  # noqa: E402
from tests.servers.mlflow import SERVER_ENV  # noqa: E402

REGISTER = """mutation($i: RegisterVersionInput!) { registerModelVersion(input: $i) { uri } }"""


def median_s(fn: Callable[[], Any], rounds: int) -> float:
    fn()  # warm: connections, imports, caches on both sides alike
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def save_model(where: Path, weights_mib: int) -> None:
    import mlflow.pyfunc

    class Adder(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def load_context(self, context: Any) -> None:
            self.n = Path(context.artifacts["weights"]).stat().st_size % 7

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input * 2 + self.n

    weights = where.parent / "weights.bin"
    with weights.open("wb") as out:
        for _ in range(weights_mib):
            out.write(os.urandom(1024 * 1024))
    mlflow.pyfunc.save_model(str(where), python_model=Adder(), artifacts={"weights": str(weights)})


def start_mlflow(workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """``mlflow server`` serving artifacts itself (``mlflow-artifacts:``), as a
    team that hands models out over HTTP runs it."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination",
            str(workdir / "mlflow-artifacts"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **SERVER_ENV},
        cwd=workdir,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return url, process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("the MLflow server did not start")


def register_in_mlflow(url: str, model_dir: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    run = client.create_run(client.create_experiment(f"bench-{os.getpid()}"))
    client.log_artifacts(run.info.run_id, str(model_dir), "model")
    client.create_registered_model("adder")
    client.create_model_version("adder", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_terminated(run.info.run_id)


def register_in_gateway(http: httpx.Client, model_dir: Path) -> None:
    files = []
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        relative = str(path.relative_to(model_dir))
        with path.open("rb") as body:
            response = http.put(f"/artifacts/platform/adder/{relative}", content=body)
        response.raise_for_status()
        files.append({"path": relative, "uri": response.json()["uri"]})
    body = http.post(
        "/graphql",
        json={
            "query": REGISTER,
            "variables": {"i": {"registry": "platform", "model": "adder", "files": files}},
        },
    ).json()
    assert not body.get("errors"), body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    import pandas as pd

    workdir = Path(tempfile.mkdtemp(prefix="modelgate-load-model-"))
    model_dir = workdir / "model"
    save_model(model_dir, args.weights_mib)
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    url, server = start_mlflow(workdir)
    try:
        register_in_mlflow(url, model_dir)
        config = workdir / "gateway.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{workdir}/gateway.db"\n'
            f'[artifacts]\nurl = "file://{workdir}/store"\n'
            '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n'
        )
        with running_gateway(config, cwd=workdir) as (http, _):
            register_in_gateway(http, model_dir)
            gateway = f"{http.base_url}".rstrip("/") + "/mlflow"

            def load(tracking: str, registry: str, uri: str) -> Callable[[], Any]:
                def run() -> Any:
                    mlflow.set_tracking_uri(tracking)
                    mlflow.set_registry_uri(registry)
                    with tempfile.TemporaryDirectory(dir=workdir) as dst:
                        model = mlflow.pyfunc.load_model(uri, dst_path=dst)
                        assert len(model.predict(frame)) == 2
                    return model

                return run

            disk = median_s(load(url, url, str(model_dir)), args.rounds)
            theirs = median_s(load(url, url, "models:/adder/1"), args.rounds)
            ours = median_s(load(gateway, gateway, "models:/platform.adder/1"), args.rounds)
        size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file()) / 1024**2
        print(f"load_model of a {size:.0f} MiB pyfunc model, median of {args.rounds}")
        print(f"  from disk                 {disk * 1000:8.0f} ms")
        print(f"  from the MLflow server    {theirs * 1000:8.0f} ms")
        print(f"  through the gateway       {ours * 1000:8.0f} ms")
        print(f"  gateway / MLflow server   {ours / theirs:8.2f}x")
        print(f"  gateway / disk            {ours / disk:8.2f}x")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
