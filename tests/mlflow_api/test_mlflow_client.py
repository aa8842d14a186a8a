"""The real MLflow client, unchanged, against a running gateway (uvicorn on a free
port, API-key auth) that federates a native registry, a real MLflow server and
moto's SageMaker: reads, paging, filters, governed alias writes, visibility."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from gateway.config import settings_from_mapping
from gateway.server import create_app
from tests.servers.mlflow import MlflowServer, MlflowTeam, free_port
from tests.servers.sagemaker import DUMMY_CREDENTIALS

REGION = "ap-southeast-2"  # a region of its own in the session's moto server
KEYS = {  # principal -> (key, roles, teams)
    "admin": ("admin-key", ["admin"], []),
    "ci": ("ci-key", [], ["platform"]),
    "lead": ("lead-key", ["TEAM_LEAD"], ["platform"]),
    "outsider": ("outsider-key", [], ["marketing"]),
}
POLICIES = """
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD]
"""


@dataclass
class Federation:
    url: str  # the gateway
    mlflow: MlflowServer
    fraud: str  # the MLflow server's model name
    group: str  # the SageMaker model package group
    adder: str  # the native model


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


REGISTER = """mutation($i: RegisterVersionInput!) { registerModelVersion(input: $i) { uri } }"""


@pytest.fixture
def federation(
    mlflow_server: MlflowServer, moto_sagemaker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Federation]:
    import uvicorn

    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    suffix = uuid.uuid4().hex[:8]
    # The MLflow server: three versions of a model trained by a run.
    team = MlflowTeam(mlflow_server.url)
    fraud = f"fraud-detector-{suffix}"
    run_id = team.train(params={"depth": "4"})
    for i in range(3):
        team.register(fraud, f"s3://fraud-models/{fraud}/{i}", run_id=run_id)
    # moto's SageMaker: one approved package.
    group = f"churn-{suffix}"
    sm = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)
    sm.create_model_package_group(ModelPackageGroupName=group)
    sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [
                {"Image": "123.dkr.ecr.ap-southeast-2.amazonaws.com/x:1", "ModelDataUrl": "s3://m/1"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
    )
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    settings = settings_from_mapping(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/mg.db", "artifacts_dir": str(tmp_path / "artifacts")},
            "registries": [
                {"id": "platform", "kind": "native", "team": "platform"},
                {"id": "fraud-mlflow", "kind": "mlflow", "team": "fraud", "url": mlflow_server.url},
                {
                    "id": "ads",
                    "kind": "sagemaker",
                    "team": "ads",
                    "region": REGION,
                    "endpoint_url": moto_sagemaker_url,
                },
            ],
            "auth": {
                "mode": "apikey",
                "api_keys": [
                    {"name": who, "sha256": hashlib.sha256(key.encode()).hexdigest(), "roles": r, "teams": t}
                    for who, (key, r, t) in KEYS.items()
                ],
            },
            "governance": {"policies": str(policies)},
        },
        environ={},
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # every registry's first sync done
            assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not get ready"
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2).json()
                if ready.get("status") == "ready":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        adder = f"adder-{suffix}"
        for model, tags in ((adder, []), (f"secret-{suffix}", [{"key": "restricted", "value": "true"}])):
            _graphql(
                url, "ci", REGISTER,
                {"i": {"registry": "platform", "model": model, "artifactUri": f"file:///models/{model}", "tags": tags}},
            )  # fmt: skip
        yield Federation(url, mlflow_server, fraud, group, adder)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _client(fed: Federation, monkeypatch: pytest.MonkeyPatch, who: str, *, basic: bool = False) -> Any:
    """MLflow's own client; credentials the way its users set them (environment)."""
    from mlflow import MlflowClient

    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    if basic:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", who)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", KEYS[who][0])
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", KEYS[who][0])
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return MlflowClient(tracking_uri=f"{fed.url}/mlflow", registry_uri=f"{fed.url}/mlflow")


def _all_names(client: Any, filter_string: str | None = None, max_results: int = 100) -> list[str]:
    names: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(filter_string, max_results=max_results, page_token=token)
        names.extend(m.name for m in page)
        token = page.token
        if not token:
            return names


def test_mlflow_client_reads_the_whole_federation(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    fed = federation
    client = _client(fed, monkeypatch, "ci")
    everything = _all_names(client)
    wanted = {f"platform.{fed.adder}", f"fraud-mlflow.{fed.fraud}", f"ads.{fed.group}"}
    assert wanted <= set(everything)
    # Paging one model at a time walks the same list, each model once.
    paged = _all_names(client, max_results=1)
    assert paged == everything and len(set(paged)) == len(paged)

    # Filters: exact name, LIKE (case-sensitive), ILIKE, tags.
    assert _all_names(client, f"name = 'ads.{fed.group}'") == [f"ads.{fed.group}"]
    assert _all_names(client, f"name LIKE 'fraud-mlflow.%{fed.fraud[-8:]}'") == [f"fraud-mlflow.{fed.fraud}"]
    assert _all_names(client, f"name LIKE 'FRAUD-mlflow.%{fed.fraud[-8:]}'") == []
    assert _all_names(client, f"name ILIKE 'FRAUD-mlflow.%{fed.fraud[-8:]}'") == [f"fraud-mlflow.{fed.fraud}"]

    # A federated MLflow model: versions, stage words, run id, download URI.
    name = f"fraud-mlflow.{fed.fraud}"
    version = client.get_model_version(name, "3")
    own = MlflowClient(tracking_uri=fed.mlflow.url, registry_uri=fed.mlflow.url)
    theirs = own.get_model_version(fed.fraud, "3")
    assert (version.current_stage, version.run_id, version.source) == ("None", theirs.run_id, theirs.source)
    assert client.get_model_version_download_uri(name, "3") == own.get_model_version_download_uri(
        fed.fraud, "3"
    )
    runs = client.search_model_versions(f"run_id IN ('{theirs.run_id}', 'nope') AND name = '{name}'")
    assert sorted(v.version for v in runs) == ["1", "2", "3"]
    assert client.get_registered_model(name).name == name

    # SageMaker's approved package is Production, under the production alias.
    sm = f"ads.{fed.group}"
    latest = client.get_latest_versions(sm, stages=["Production"])
    assert [(v.version, v.current_stage) for v in latest] == [("1", "Production")]
    assert client.get_model_version_by_alias(sm, "production").version == "1"
    assert client.get_registered_model(sm).aliases == {"production": "1"}


def test_errors_come_in_mlflows_shape(federation: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException

    fed = federation
    client = _client(fed, monkeypatch, "ci")
    with pytest.raises(MlflowException) as raised:
        client.search_registered_models("name = 'a' OR name = 'b'")
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    # A native version whose artifact lies outside the model store: read where it is.
    assert (
        client.get_model_version_download_uri(f"platform.{fed.adder}", "1") == f"file:///models/{fed.adder}"
    )
    headers = {"authorization": f"Bearer {KEYS['ci'][0]}"}
    api = f"{fed.url}/mlflow/api/2.0/mlflow"
    for response, status, code in [
        (httpx.get(f"{api}/experiments/search", headers=headers), 404, "ENDPOINT_NOT_FOUND"),
        (httpx.options(f"{api}/registered-models/search", headers=headers), 405, "ENDPOINT_NOT_FOUND"),
        (
            httpx.get(f"{api}/registered-models/get?name=x&color=red", headers=headers),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            httpx.get(f"{api}/registered-models/search?max_results=5000", headers=headers),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            httpx.get(f"{api}/registered-models/search?page_token=bogus", headers=headers),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (httpx.post(f"{api}/model-versions/set-tag", json={}, headers=headers), 501, "NOT_IMPLEMENTED"),
        (httpx.get(f"{api}/registered-models/search"), 401, "UNAUTHENTICATED"),
        (httpx.get(f"{api}/registered-models/search", auth=("ci", "wrong")), 401, "UNAUTHENTICATED"),
        (
            httpx.post(
                f"{api}/registered-models/alias",
                content="{}",
                headers={**headers, "content-type": "text/plain"},
            ),
            415,
            "BAD_REQUEST",
        ),
        (
            httpx.get(f"{api}/registered-models/search", headers={"authorization": "Bearer nope"}),
            401,
            "UNAUTHENTICATED",
        ),
    ]:
        assert (response.status_code, response.json()["error_code"]) == (status, code), response.text
        assert set(response.json()) == {"error_code", "message"}


def test_alias_write_waits_for_approval_then_reads_back(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    fed = federation
    name = f"platform.{fed.adder}"
    client = _client(fed, monkeypatch, "ci", basic=True)  # basic auth: the password is the key
    # No rule for STAGING: applied at once, answered as MLflow answers.
    client.set_registered_model_alias(name, "staging", "1")
    assert client.get_model_version_by_alias(name, "staging").current_stage == "Staging"
    with pytest.raises(MlflowException) as raised:
        client.set_registered_model_alias(name, "production", "1")
    assert raised.value.error_code == "PERMISSION_DENIED"
    message = raised.value.message
    assert "waiting for approval" in message and "TEAM_LEAD" in message, message
    request_id = message.split("promotion request ", 1)[1].split()[0]
    approved = _graphql(
        fed.url, "lead",
        "mutation($id: ID!) { approvePromotion(requestId: $id) { status version { stage aliases } } }",
        {"id": request_id},
    )["approvePromotion"]  # fmt: skip
    assert approved["status"] == "APPLIED" and approved["version"]["stage"] == "PRODUCTION"
    read = client.get_model_version_by_alias(name, "production")
    assert (read.version, read.current_stage, read.aliases) == ("1", "Production", ["production"])
    graphql = _graphql(
        fed.url,
        "ci",
        "query($u: String!) { modelVersion(uri: $u) { stage aliases } }",
        {"u": f"mg://platform/{fed.adder}/1"},
    )
    assert graphql["modelVersion"]["stage"] == "PRODUCTION"

    # Deleting the alias moves the version out of the stage, under governance too
    # (no rule for ARCHIVED: applied at once).
    client.delete_registered_model_alias(name, "production")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version_by_alias(name, "production")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    with pytest.raises(MlflowException) as absent:
        client.delete_registered_model_alias(name, "production")  # nobody holds it now
    assert absent.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as other:
        client.delete_registered_model_alias(name, "champion")  # a registry's own alias
    assert other.value.error_code == "INVALID_PARAMETER_VALUE"


def test_an_outsider_sees_a_restricted_model_as_absent(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    fed = federation
    secret = f"platform.secret-{fed.adder.removeprefix('adder-')}"
    assert secret in _all_names(_client(fed, monkeypatch, "ci"))  # its team sees it
    outsider = _client(fed, monkeypatch, "outsider")
    names = _all_names(outsider)
    assert secret not in names and f"platform.{fed.adder}" in names
    answers = []
    for name in (secret, f"platform.absent-{fed.adder}"):
        with pytest.raises(MlflowException) as raised:
            outsider.get_registered_model(name)
        answers.append((raised.value.error_code, raised.value.message.replace(name, "NAME")))
        with pytest.raises(MlflowException) as raised:
            outsider.get_model_version(name, "1")
        answers.append((raised.value.error_code, raised.value.message.replace(name, "NAME")))
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert answers[0][0] == "RESOURCE_DOES_NOT_EXIST"
    assert outsider.search_model_versions(f"name = '{secret}'") == []


def test_native_registration_through_the_mlflow_client(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    fed = federation
    name = f"platform.new-{fed.adder}"
    client = _client(fed, monkeypatch, "ci")
    client.create_registered_model(name)
    created = client.create_model_version(
        name, "s3://models/new/1", run_id="run-7", tags={"owner": "ci"}, await_creation_for=0
    )
    assert (created.name, created.version, created.current_stage) == (name, "1", "None")
    read = client.get_model_version(name, "1")
    assert (read.source, read.run_id, read.tags) == ("s3://models/new/1", "run-7", {"owner": "ci"})
    with pytest.raises(MlflowException) as raised:
        client.create_registered_model(name)
    assert raised.value.error_code == "RESOURCE_ALREADY_EXISTS"
    # A stage transition the policies let through at once: answered with the moved version.
    moved = client.transition_model_version_stage(name, "1", "Staging")
    assert (moved.version, moved.current_stage, moved.aliases) == ("1", "Staging", ["staging"])
    with pytest.raises(MlflowException) as raised:
        client.transition_model_version_stage(name, "1", "Prod")
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as raised:
        client.set_registered_model_alias(name, "champion", "1")
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE" and "registry itself" in raised.value.message
    admin = _client(fed, monkeypatch, "admin")
    with pytest.raises(MlflowException) as raised:  # remote registries take versions in their own tools
        admin.create_model_version(f"ads.{fed.group}", "s3://m/2", await_creation_for=0)
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as raised:
        _client(fed, monkeypatch, "outsider").create_model_version(name, "s3://m/3", await_creation_for=0)
    assert raised.value.error_code == "PERMISSION_DENIED"
