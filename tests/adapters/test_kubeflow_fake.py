"""The Kubeflow fake itself: that its spec checks bite, so the adapter tests can fail.

A fake that validated nothing would pass any adapter. These tests send what the
spec forbids, plant a record the spec forbids, and check the answers the spec
prescribes (and the one place the fake follows the server over the spec).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.kubeflow.mapping import domain_name, registry_name
from gateway.domain import parse_uri, version_uri
from tests.servers.kubeflow import KubeflowServer

V1 = "/api/model_registry/v1"
OLD = "/api/model_registry/v1alpha3"


@pytest.fixture
def http(kubeflow_server: KubeflowServer) -> Iterator[httpx.Client]:
    kubeflow_server.reset_switches()
    headers = {"Authorization": f"Bearer {kubeflow_server.token}"}
    with httpx.Client(base_url=kubeflow_server.base_url, headers=headers, timeout=10) as client:
        yield client
    kubeflow_server.reset_switches()


def taken_violations(server: KubeflowServer, seen: int) -> list[str]:
    """The violations since ``seen``, removed so the session's other tests do not see them."""
    new = server.fake.violations[seen:]
    del server.fake.violations[seen:]
    return new


def test_a_request_outside_the_spec_is_a_violation(
    http: httpx.Client, kubeflow_server: KubeflowServer
) -> None:
    seen = len(kubeflow_server.fake.violations)
    bad_page = http.get(f"{V1}/registered_models", params={"pageSize": "0"})
    bad_body = http.post(f"{V1}/registered_models", json={"name": "x", "state": "RETIRED"})
    assert bad_page.status_code == bad_body.status_code == 500
    found = taken_violations(kubeflow_server, seen)
    assert len(found) == 2 and all(v.startswith("request ") for v in found)
    assert "pageSize" in found[0] and "RETIRED" in found[1]


def test_a_response_outside_the_spec_is_a_violation(
    http: httpx.Client, kubeflow_server: KubeflowServer
) -> None:
    created = http.post(f"{V1}/registered_models", json={"name": "planted-bad-record"}).json()
    with kubeflow_server.fake.lock:  # a record no real server could hold
        kubeflow_server.fake.store.entities["registered_models"][created["id"]]["customProperties"] = {
            "auc": {"metadataType": "MetadataDoubleValue", "double_value": "high"}
        }
    seen = len(kubeflow_server.fake.violations)
    try:
        answer = http.get(f"{V1}/registered_models/{created['id']}")
        assert answer.status_code == 500 and "violates the spec" in answer.json()["message"]
        (violation,) = taken_violations(kubeflow_server, seen)
        assert violation.startswith("response 200")
    finally:
        with kubeflow_server.fake.lock:
            kubeflow_server.fake.store.entities["registered_models"][created["id"]]["customProperties"] = {}


def test_answers_the_spec_prescribes(http: httpx.Client, kubeflow_server: KubeflowServer) -> None:
    seen = len(kubeflow_server.fake.violations)
    anonymous = httpx.get(f"{kubeflow_server.base_url}{V1}/registered_models")
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"code", "message"}
    missing = http.get(f"{OLD}/registered_model", params={"name": "no-such-model"})
    assert missing.status_code == 404 and missing.json()["code"] == "404"
    duplicate = http.post(f"{OLD}/registered_models", json={"name": "twice"})
    again = http.post(f"{OLD}/registered_models", json={"name": "twice"})
    assert (duplicate.status_code, again.status_code) == (201, 409)
    kubeflow_server.fake.generations = {"v1alpha3"}
    gone = http.get(f"{V1}/registered_models")
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/plain")
    assert taken_violations(kubeflow_server, seen) == []


def test_a_filter_the_fake_does_not_evaluate_fails_loudly(
    http: httpx.Client, kubeflow_server: KubeflowServer
) -> None:
    """The server answers 400 to a bad filter, a status the spec does not list for
    listings; the fake's 400 to a filter it cannot evaluate is therefore recorded
    as a violation too, so no adapter test passes on a filter the fake ignored."""
    seen = len(kubeflow_server.fake.violations)
    unsupported = http.get(f"{V1}/registered_models", params={"filterQuery": "name LIKE 'x%'"})
    assert unsupported.status_code == 500
    (violation,) = taken_violations(kubeflow_server, seen)
    assert violation.startswith("response 400")


def test_patch_replaces_custom_properties_whole(http: httpx.Client, kubeflow_server: KubeflowServer) -> None:
    seen = len(kubeflow_server.fake.violations)
    model = http.post(f"{V1}/registered_models", json={"name": "patched-model"}).json()
    version = http.post(
        f"{V1}/model_versions",
        json={
            "name": "v1",
            "registeredModelId": model["id"],
            "customProperties": {
                "a": {"metadataType": "MetadataStringValue", "string_value": "1"},
                "b": {"metadataType": "MetadataStringValue", "string_value": "2"},
            },
        },
    ).json()
    b_only = {"b": {"metadataType": "MetadataStringValue", "string_value": "3"}}
    patched = http.patch(f"{V1}/model_versions/{version['id']}", json={"customProperties": b_only}).json()
    assert patched["customProperties"] == b_only and patched["name"] == "v1"
    assert int(patched["lastUpdateTimeSinceEpoch"]) > int(version["lastUpdateTimeSinceEpoch"])
    assert taken_violations(kubeflow_server, seen) == []


def test_paging_tokens_walk_every_item_once(http: httpx.Client, kubeflow_server: KubeflowServer) -> None:
    for i in range(3):
        http.post(f"{V1}/serving_environments", json={"name": f"paging-env-{i}"})
    names, token = [], None
    while True:
        params = {"pageSize": "2", "orderBy": "CREATE_TIME", "sortOrder": "DESC"}
        body = http.get(
            f"{V1}/serving_environments", params={**params, **({"nextPageToken": token} if token else {})}
        ).json()
        assert body["size"] == len(body["items"]) <= 2 and body["pageSize"] == 2
        names += [e["name"] for e in body["items"]]
        token = body["nextPageToken"]
        if not token:
            break
    assert len(names) == len(set(names)) and {f"paging-env-{i}" for i in range(3)} <= set(names)
    assert names.index("paging-env-2") < names.index("paging-env-0")  # newest first


def test_inference_service_creation_answers_201_as_the_server_does(
    http: httpx.Client, kubeflow_server: KubeflowServer
) -> None:
    """The published spec lists 200 for createInferenceService; the Go server sends
    201 and the real client accepts only 201. The fake follows the server and
    checks the body against the spec's 200."""
    seen = len(kubeflow_server.fake.violations)
    model = http.post(f"{V1}/registered_models", json={"name": "served-by-errata"}).json()
    env = http.post(f"{V1}/serving_environments", json={"name": "errata-ns"}).json()
    created = http.post(
        f"{V1}/inference_services",
        json={"name": "errata-isvc", "registeredModelId": model["id"], "servingEnvironmentId": env["id"]},
    )
    assert created.status_code == 201 and created.json()["desiredState"] == "DEPLOYED"
    assert taken_violations(kubeflow_server, seen) == []


def test_names_with_slash_at_and_percent_make_parseable_uris() -> None:
    # "/" would split an mg:// URI and "@" start a reference by stage or alias.
    for name in ("ibm/granite@3.1", "100%@latest", "plain"):
        spelled = domain_name(name)
        assert registry_name(spelled) == name
        parsed = parse_uri(version_uri("kf", spelled, domain_name("v1@rc")))
        assert (parsed.model_name, parsed.version, parsed.ref) == (spelled, "v1%40rc", None)
