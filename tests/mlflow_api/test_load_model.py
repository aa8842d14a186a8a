"""``mlflow.pyfunc.load_model("models:/<registry>.<model>@production")`` of a native
directory version, through a running gateway (uvicorn on a free port, API-key
auth): the real MLflow client, unchanged, resolves the version, lists and fetches
its files through the gateway's MLflow artifact proxy, and the model predicts.
Both with only the registry URI on the gateway and with the tracking URI too; a
version the caller may not see is not downloadable."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import settings_from_mapping
from tests.support import uvicorn_in_thread

KEYS = {  # principal -> (key, roles, teams)
    "ci": ("ci-key", [], ["platform"]),
    "outsider": ("outsider-key", [], ["marketing"]),
}
REGISTER = """mutation($i: RegisterVersionInput!) {
  registerModelVersion(input: $i) { uri artifactUri files { path } } }"""
PROMOTE = """mutation($u: String!) { requestPromotion(uri: $u, targetStage: PRODUCTION) { status } }"""


def _adder_class() -> Any:
    """A tiny PythonModel: 2x + n (mlflow is imported when a test runs)."""
    import mlflow.pyfunc

    class Adder(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def __init__(self, n: int):
            self.n = n

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input * 2 + self.n

    return Adder


@dataclass
class Gateway:
    url: str


def _graphql(url: str, who: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {KEYS[who][0]}"},
        timeout=30,
    )
    body: dict[str, Any] = response.json()
    assert not body.get("errors"), body
    return body["data"]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    settings = settings_from_mapping(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/mg.db"},
            "artifacts": {"url": f"file://{tmp_path / 'store'}"},
            "registries": [
                {"id": "platform", "kind": "native", "team": "platform"},
                {"id": "vault", "kind": "native", "team": "platform", "restricted": True},
            ],
            "auth": {
                "mode": "apikey",
                "api_keys": [
                    {"name": who, "sha256": hashlib.sha256(key.encode()).hexdigest(), "roles": r, "teams": t}
                    for who, (key, r, t) in KEYS.items()
                ],
            },
        },
        environ={},
    )
    with uvicorn_in_thread(settings, ready_within=60) as url:
        yield Gateway(url)


def save_model(where: Path, n: int) -> dict[str, bytes]:
    """A real pyfunc model directory (``mlflow.pyfunc.save_model``), as its files."""
    import mlflow.pyfunc

    mlflow.pyfunc.save_model(str(where), python_model=_adder_class()(n))
    return {str(p.relative_to(where)): p.read_bytes() for p in sorted(where.rglob("*")) if p.is_file()}


def publish(url: str, registry: str, model: str, files: dict[str, bytes]) -> dict[str, Any]:
    """Upload each file, register them as one directory version (version 1)."""
    listed = []
    for path, data in files.items():
        response = httpx.put(
            f"{url}/artifacts/{registry}/{model}/{path}",
            content=data,
            headers={"authorization": f"Bearer {KEYS['ci'][0]}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        listed.append({"path": path, "uri": response.json()["uri"]})
    registered: dict[str, Any] = _graphql(
        url, "ci", REGISTER, {"i": {"registry": registry, "model": model, "files": listed}}
    )["registerModelVersion"]
    return registered


@pytest.fixture
def mlflow_as(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``mlflow_as(who, registry_uri, tracking_uri)``: MLflow's globals and credentials
    set the way its users set them; put back afterwards."""
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())

    def use(who: str, registry_uri: str, tracking_uri: str | None = None) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", KEYS[who][0])
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        mlflow.set_tracking_uri(tracking_uri or f"sqlite:///{tmp_path}/tracking.db")  # not the gateway
        mlflow.set_registry_uri(registry_uri)

    yield use
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


def test_load_model_through_the_gateway(gateway: Gateway, mlflow_as: Any, tmp_path: Path) -> None:
    import mlflow
    import pandas as pd

    files = save_model(tmp_path / "adder", n=5)
    assert "MLmodel" in files and "python_model.pkl" in files
    version = publish(gateway.url, "platform", "adder", files)
    assert sorted(f["path"] for f in version["files"]) == sorted(files)
    assert (
        _graphql(gateway.url, "ci", PROMOTE, {"u": version["uri"]})["requestPromotion"]["status"] == "APPLIED"
    )
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    expected = [7.0, 9.0, 11.0]

    proxy = f"{gateway.url}/mlflow/api/2.0/mlflow-artifacts/artifacts/platform/adder/1"
    for tracking in (None, f"{gateway.url}/mlflow"):  # registry URI only, then both on the gateway
        mlflow_as("ci", f"{gateway.url}/mlflow", tracking)
        client = mlflow.MlflowClient()
        assert client.get_model_version_download_uri("platform.adder", "1") == proxy
        assert client.get_model_version("platform.adder", "1").source == proxy
        for uri in ("models:/platform.adder@production", "models:/platform.adder/1"):
            loaded = mlflow.pyfunc.load_model(uri)
            assert loaded.predict(frame)["x"].tolist() == expected, (uri, tracking)
        # Each file comes back byte for byte, nested ones included.
        fetched = mlflow.artifacts.download_artifacts(artifact_uri=proxy, dst_path=str(tmp_path / "got"))
        assert {
            str(p.relative_to(fetched)): p.read_bytes() for p in Path(fetched).rglob("*") if p.is_file()
        } == files


def test_the_proxy_lists_serves_and_refuses_in_mlflows_shape(gateway: Gateway, tmp_path: Path) -> None:
    files = {"MLmodel": b"flavors: {}\n", "data/weights/a.bin": b"\x00" * 10, "data/b.txt": b"b"}
    publish(gateway.url, "platform", "dirs", files)
    base = f"{gateway.url}/mlflow/api/2.0/mlflow-artifacts/artifacts"
    auth = {"authorization": f"Bearer {KEYS['ci'][0]}"}

    def listing(path: str) -> Any:
        response = httpx.get(base, params={"path": path}, headers=auth)
        assert response.status_code == 200, response.text
        return response.json()

    assert listing("platform/dirs/1") == {
        "files": [
            {"path": "MLmodel", "is_dir": False, "file_size": 12},
            {"path": "data", "is_dir": True},
        ]
    }
    assert listing("platform/dirs/1/data") == {
        "files": [{"path": "b.txt", "is_dir": False, "file_size": 1}, {"path": "weights", "is_dir": True}]
    }
    assert listing("platform/dirs/1/MLmodel") == {}  # a file lists nothing, as MLflow's server answers
    assert listing("platform/dirs/1/nothing") == {}
    assert listing("platform") == {}  # above a version: nothing is enumerated here
    zeros = b"\x00" * 10
    got = httpx.get(f"{base}/platform/dirs/1/data/weights/a.bin", headers=auth)
    assert got.status_code == 200 and got.content == zeros
    assert got.headers["etag"] == f'"sha256:{hashlib.sha256(zeros).hexdigest()}"'
    for response, status, code in [
        (httpx.get(f"{base}/platform/dirs/1/absent.bin", headers=auth), 404, "RESOURCE_DOES_NOT_EXIST"),
        (httpx.get(f"{base}/platform/dirs/9/MLmodel", headers=auth), 404, "RESOURCE_DOES_NOT_EXIST"),
        (httpx.get(f"{base}/platform/dirs/1/data", headers=auth), 404, "RESOURCE_DOES_NOT_EXIST"),
        (
            httpx.get(base, params={"path": "platform/dirs/1/../x"}, headers=auth),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (httpx.get(base, params={"path": "p", "x": "1"}, headers=auth), 400, "INVALID_PARAMETER_VALUE"),
        (httpx.put(f"{base}/platform/dirs/1/new.bin", content=b"x", headers=auth), 501, "NOT_IMPLEMENTED"),
        (httpx.delete(f"{base}/platform/dirs/1/MLmodel", headers=auth), 501, "NOT_IMPLEMENTED"),
        (
            httpx.post(f"{gateway.url}/mlflow/api/2.0/mlflow-artifacts/mpu/create/x", json={}, headers=auth),
            501,
            "NOT_IMPLEMENTED",
        ),
        (httpx.get(f"{base}/platform/dirs/1/MLmodel"), 401, "UNAUTHENTICATED"),
    ]:
        assert (response.status_code, response.json()["error_code"]) == (status, code), response.text
        assert set(response.json()) == {"error_code", "message"}


def test_a_hidden_version_is_not_downloadable(gateway: Gateway, mlflow_as: Any, tmp_path: Path) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    files = save_model(tmp_path / "secret", n=1)
    publish(gateway.url, "vault", "secret", files)
    mlflow_as("ci", f"{gateway.url}/mlflow")
    assert mlflow.pyfunc.load_model("models:/vault.secret/1") is not None  # its team loads it
    mlflow_as("outsider", f"{gateway.url}/mlflow")
    for uri in ("models:/vault.secret/1", "models:/vault.absent/1"):
        with pytest.raises(MlflowException) as raised:
            mlflow.pyfunc.load_model(uri)
        assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST", uri
    # Nor straight through the proxy: the same answer as for an absent version.
    base = f"{gateway.url}/mlflow/api/2.0/mlflow-artifacts/artifacts"
    auth = {"authorization": f"Bearer {KEYS['outsider'][0]}"}
    answers = []
    for model in ("secret", "absent"):
        got = httpx.get(f"{base}/vault/{model}/1/MLmodel", headers=auth)
        listed = httpx.get(base, params={"path": f"vault/{model}/1"}, headers=auth)
        answers.append(
            (
                got.status_code,
                got.text.replace(model, "M"),
                listed.status_code,
                listed.text.replace(model, "M"),
            )
        )
    assert answers[0] == answers[1] and answers[0][0] == 404
