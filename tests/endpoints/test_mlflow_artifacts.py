"""``gateway.endpoints.mlflow_artifacts``: MLflow's read-only artifact proxy over
a native version's stored file, served alone over the demo catalogue."""

from __future__ import annotations

import hashlib

from starlette.routing import Mount, Route

from adapters.protocol import RegistrationRequest, VersionRegistrar
from gateway.domain import ModelVersion
from gateway.endpoints.mlflow_artifacts import routes
from gateway.endpoints.uploads import upload_artifact
from gateway.runtime import Gateway
from tests.endpoints.conftest import serve

BODY = b"pickled model" * 100
ROUTES = [
    Route("/artifacts/{registry}/{model}/{path:path}", upload_artifact, methods=["PUT"]),
    Mount("/mlflow", routes=routes()),
]
BASE = "/mlflow/api/2.0/mlflow-artifacts/artifacts"


async def test_lists_and_downloads_a_native_versions_file_read_only(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, ROUTES) as client:
        stored = (await client.put("/artifacts/platform/scorer/model.bin", content=BODY)).json()
        adapter = demo_gateway.adapters["platform"]
        assert isinstance(adapter, VersionRegistrar)
        version = await adapter.register_version(
            RegistrationRequest(
                "scorer", ModelVersion("platform", "scorer", "", artifact_uri=stored["uri"]), "pat"
            )
        )
        await demo_gateway.sync.refresh_model("platform", "scorer")
        where = f"platform/scorer/{version.version}"

        listed = await client.get(BASE, params={"path": where})
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"files": [{"path": "model.bin", "is_dir": False, "file_size": len(BODY)}]}
        assert (await client.get(BASE, params={"path": "platform/scorer"})).json() == {}
        assert (await client.get(BASE, params={"path": f"{where}/model.bin"})).json() == {}

        got = await client.get(f"{BASE}/{where}/model.bin")
        assert got.status_code == 200 and got.content == BODY
        digest = f"sha256:{hashlib.sha256(BODY).hexdigest()}"
        assert got.headers["etag"] == f'"{digest}"' and got.headers["x-content-digest"] == digest

        for absent in (f"{where}/other.bin", "platform/scorer/999/model.bin", "nowhere/scorer/1/model.bin"):
            answer = await client.get(f"{BASE}/{absent}")
            assert answer.status_code == 404, (absent, answer.text)
            assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

        unsafe = await client.get(BASE, params={"path": f"{where}/../x"})
        unknown = await client.get(BASE, params={"path": where, "recursive": "1"})
        for refused in (unsafe, unknown):
            assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "recursive" in unknown.json()["message"]

        for write in (
            client.put(f"{BASE}/{where}/new.bin", content=b"x"),
            client.delete(f"{BASE}/{where}/model.bin"),
        ):
            refused = await write
            assert refused.status_code == 501 and refused.json()["error_code"] == "NOT_IMPLEMENTED"
        assert (await client.get(f"{BASE}/{where}/model.bin")).content == BODY
