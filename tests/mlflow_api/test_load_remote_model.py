"""``load_model("models:/<mlflow-registry>.<model>/<n>")`` through the gateway's
MLflow-compatible API resolves to the federated MLflow server's own artifact:
the real MLflow client, unchanged, finds the version through the gateway and
reads the bytes where that server keeps them, with its own access to them, as it
would without modelgate."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import settings_from_mapping
from tests.mlflow_api.test_load_model import _adder_class
from tests.servers.mlflow import MlflowServer
from tests.support import uvicorn_in_thread


@pytest.fixture
def logged_model(mlflow_server: MlflowServer) -> Iterator[str]:
    """A pyfunc model logged and registered on the real MLflow server (version 1)."""
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_registry_uri(mlflow_server.url)
    name = f"remote-adder-{uuid.uuid4().hex[:8]}"
    try:
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(name="model", python_model=_adder_class()(7))
        mlflow.register_model(info.model_uri, name)
        yield name
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


@pytest.fixture
def gateway_url(mlflow_server: MlflowServer, logged_model: str, tmp_path: Path) -> Iterator[str]:
    settings = settings_from_mapping(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/mg.db"},
            "registries": [{"id": "team-mlflow", "kind": "mlflow", "team": "ml", "url": mlflow_server.url}],
        },
        environ={},
    )
    with uvicorn_in_thread(settings) as url:
        yield url


def test_load_model_of_a_remote_mlflow_version_reads_the_servers_own_artifact(
    gateway_url: str, mlflow_server: MlflowServer, logged_model: str
) -> None:
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    # The usual setup of a team that keeps its MLflow server for tracking and reads
    # models through the federation.
    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_registry_uri(f"{gateway_url}/mlflow")
    try:
        name = f"team-mlflow.{logged_model}"
        source = MlflowClient(registry_uri=mlflow_server.url).get_model_version(logged_model, "1").source
        # The registry's own reference to its artifact (here MLflow 3's logged model,
        # which the client resolves with the tracking server), not a copy.
        assert MlflowClient().get_model_version_download_uri(name, "1") == source
        model = mlflow.pyfunc.load_model(f"models:/{name}/1")
        predicted = model.predict(pd.DataFrame({"x": [1, 2, 3]}))
        assert predicted["x"].tolist() == [9, 11, 13]  # 2x + 7: the logged model itself
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
