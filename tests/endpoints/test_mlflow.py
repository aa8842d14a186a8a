"""``gateway.endpoints.mlflow``: MLflow's REST API mounted alone; every answer that
is not a success is MLflow's ``{error_code, message}``."""

from __future__ import annotations

from gateway.endpoints.mlflow import API, PREFIX, Params, refusal_bytes, routes
from gateway.mlflow_api.errors import MlflowApiError
from gateway.runtime import Gateway
from tests.endpoints.conftest import serve

BASE = PREFIX + API


def test_a_parameter_given_twice_or_of_the_wrong_type_is_refused() -> None:
    params = Params({"name": ["a", "b"], "n": [3], "tags": ["x", 1], "obj": [{"k": 1}]})
    for read in (lambda: params.one("name"), lambda: params.texts("tags"), lambda: params.text("obj")):
        try:
            read()
        except MlflowApiError as exc:
            assert exc.as_body()["error_code"] == "INVALID_PARAMETER_VALUE"
        else:
            raise AssertionError("accepted")
    assert params.text("n") == "3" and params.text("absent") is None and params.texts("absent") == []


def test_refusals_before_routing_speak_mlflow() -> None:
    assert (
        refusal_bytes("FORBIDDEN", "no", "rid", {}) == b'{"error_code": "PERMISSION_DENIED", "message": "no"}'
    )
    assert b'"BAD_REQUEST"' in refusal_bytes("SOMETHING_ELSE", "no", "rid", {})


async def test_reads_answer_mlflow_json_and_errors_mlflow_codes(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, routes()) as client:
        found = await client.get(f"{BASE}/registered-models/get", params={"name": "platform.fraud-detector"})
        version = await client.get(
            f"{BASE}/model-versions/get", params={"name": "platform.fraud-detector", "version": "1"}
        )
        absent = await client.get(f"{BASE}/registered-models/get", params={"name": "platform.nothing"})
        unknown_param = await client.get(
            f"{BASE}/registered-models/get", params={"name": "platform.fraud-detector", "colour": "red"}
        )
        nowhere = await client.get(f"{BASE}/experiments/list")
        refused = await client.post(
            f"{BASE}/registered-models/delete", json={"name": "platform.fraud-detector"}
        )
    assert found.status_code == 200 and found.json()["registered_model"]["name"] == "platform.fraud-detector"
    assert version.json()["model_version"]["version"] == "1"
    assert (absent.status_code, absent.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert (unknown_param.status_code, unknown_param.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert (nowhere.status_code, nowhere.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    assert refused.status_code >= 400 and set(refused.json()) == {"error_code", "message"}
    assert all("x-request-id" in r.headers for r in (absent, nowhere))
