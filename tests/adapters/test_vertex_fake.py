"""How faithful the Vertex fake is: its schema checker, its routing from the
discovery document, and the documented behaviours the adapter relies on
(filters, ordering, paging, read masks, alias moves, PATCH masks, errors,
the token endpoint's checks). Every response below is also validated against
the discovery document by the ``vertex_fake`` fixture."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from authlib.oauth2.rfc7523.assertion import sign_jwt_bearer_assertion
from joserfc.jwk import RSAKey

from adapters.base import to_utc
from adapters.vertex.auth import ServiceAccountAuth
from adapters.vertex.options import parse_service_account
from tests.adapters.contract import unique_name
from tests.adapters.test_vertex import upload
from tests.fakes.vertex import SERVED, api_methods, rfc3339, schema_book
from tests.servers.vertex import VertexServer

PARENT = "projects/modelgate-test/locations/us-central1"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


@pytest.fixture
async def api(vertex_fake: VertexServer) -> AsyncIterator[httpx.AsyncClient]:
    """Raw REST calls with a valid token (the adapter's auth, nothing else of it)."""
    account = parse_service_account(vertex_fake.credentials_file.read_text(), "key")
    auth = ServiceAccountAuth("fake-test", account, vertex_fake.token_url)
    async with httpx.AsyncClient(base_url=f"{vertex_fake.base_url}/v1/", auth=auth) as client:
        yield client
    await auth.aclose()


async def seeded(server: VertexServer, versions: int = 1, **fields: Any) -> str:
    name = unique_name("fake")
    await upload(server, name, versions, **fields)
    return name


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return error["code"], error["status"], error["message"]


# --- the checker and the routing ----------------------------------------------------


def test_schema_checker_catches_what_google_would_never_send() -> None:
    book = schema_book()
    good = {
        "name": f"{PARENT}/models/m",
        "displayName": "m",
        "versionId": "1",
        "labels": {"a": "b"},
        "createTime": "2026-11-26T09:00:00.123456Z",
        "deployedModels": [{"endpoint": "projects/1/locations/l/endpoints/2", "deployedModelId": "3"}],
        "metadata": {"anything": ["goes", 1]},
    }
    assert book.errors("GoogleCloudAiplatformV1Model", good) == []
    bad = [
        {**good, "stage": "production"},  # an invented field
        {**good, "versionId": 1},  # a number where Google sends a string
        {**good, "createTime": "2026-11-26 09:00:00"},  # not RFC 3339
        {**good, "createTime": "2026-11-26T09:00:00.1234Z"},  # 4 digits: proto3 JSON never does that
        {**good, "labels": {"a": 1}},
        {**good, "deployedModels": [{"endpointId": "x"}]},
    ]
    for body in bad:
        assert book.errors("GoogleCloudAiplatformV1Model", body), body
    assert book.errors("ErrorEnvelope", {"error": {"code": 404, "message": "gone"}})  # no status
    assert book.errors("ErrorEnvelope", {"error": {"code": 404, "message": "x", "status": "NOT_FOUND"}}) == []
    assert book.errors("GoogleCloudAiplatformV1Event", {"artifact": "a", "type": "PRODUCED"})


def test_served_methods_are_routed_from_the_discovery_document() -> None:
    methods = {m.id: m for m in api_methods()}
    assert set(methods) == SERVED
    get = methods["aiplatform.projects.locations.models.get"]
    assert get.pattern.match(f"/v1/{PARENT}/models/abc@2")
    assert not get.pattern.match(f"/v1/{PARENT}/models/abc:listVersions")
    assert methods["aiplatform.projects.locations.models.list"].query >= {
        "filter",
        "orderBy",
        "readMask",
        "alt",
    }
    assert methods["aiplatform.projects.locations.models.mergeVersionAliases"].request == (
        "GoogleCloudAiplatformV1MergeVersionAliasesRequest"
    )


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "2026-11-26T09:00:00Z"),
        (120_000_000, "2026-11-26T09:00:00.120Z"),
        (123_456_000, "2026-11-26T09:00:00.123456Z"),
        (123_456_789, "2026-11-26T09:00:00.123456789Z"),
    ],
)
def test_timestamps_are_proto3_json(nanos: int, text: str) -> None:
    seconds = 1_795_683_600  # 2026-11-26T09:00:00Z
    assert rfc3339(seconds * 1_000_000_000 + nanos) == text
    parsed = to_utc(text)
    assert parsed is not None and parsed.microsecond == nanos // 1000 and parsed.utcoffset() is not None


# --- requests Google refuses ----------------------------------------------------------


async def test_requests_are_refused_as_google_refuses_them(
    api: httpx.AsyncClient, vertex_fake: VertexServer
) -> None:
    unknown = await api.get(f"{PARENT}/models", params={"page_size_typo": "3"})
    assert (
        error_of(unknown)[:2] == (400, "INVALID_ARGUMENT") and "Cannot bind query parameter" in unknown.text
    )
    not_int = await api.get(f"{PARENT}/models", params={"pageSize": "many"})
    assert error_of(not_int)[:2] == (400, "INVALID_ARGUMENT")
    field = await api.post(f"{PARENT}/models:upload", json={"model": {"displayName": "x", "colour": "red"}})
    assert error_of(field)[:2] == (400, "INVALID_ARGUMENT") and "Invalid JSON payload" in field.text
    async with httpx.AsyncClient(base_url=f"{vertex_fake.base_url}/v1/") as anonymous:
        missing = await anonymous.get(f"{PARENT}/models")
        bogus = await anonymous.get(f"{PARENT}/models", headers={"Authorization": "Bearer ya29.nope"})
    for response in (missing, bogus):
        assert error_of(response)[:2] == (401, "UNAUTHENTICATED")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert "missing required authentication credential" in error_of(missing)[2]
    assert (await api.get(f"{PARENT}/models/{unique_name('nope')}")).status_code == 404


async def test_upload_rules(api: httpx.AsyncClient, vertex_fake: VertexServer) -> None:
    name = await seeded(vertex_fake)
    spec = {"displayName": "x", "containerSpec": {"imageUri": "img"}}
    again = await api.post(f"{PARENT}/models:upload", json={"modelId": name, "model": spec})
    assert error_of(again)[:2] == (409, "ALREADY_EXISTS")
    no_image = await api.post(
        f"{PARENT}/models:upload", json={"modelId": unique_name(), "model": {"displayName": "x"}}
    )
    assert error_of(no_image)[:2] == (400, "INVALID_ARGUMENT")
    bad_id = await api.post(f"{PARENT}/models:upload", json={"modelId": "9lives", "model": spec})
    assert error_of(bad_id)[:2] == (400, "INVALID_ARGUMENT")
    operation = (await api.post(f"{PARENT}/models:upload", json={"model": spec})).json()
    assert not operation.get("done")  # long-running: done on the next poll
    polled = (await api.get(operation["name"])).json()
    assert polled["done"] and polled["response"]["modelVersionId"] == "1"
    assert polled["response"]["model"].split("/")[-1].isdigit()  # Vertex-generated IDs are numbers


# --- reads ------------------------------------------------------------------------------


async def test_filters_in_the_syntax_vertex_documents(
    api: httpx.AsyncClient, vertex_fake: VertexServer
) -> None:
    tag = unique_name("f").replace("ct-f-", "")
    a = await seeded(vertex_fake, labels={"team": tag, "tier": "gold"}, display_name=f"Alpha {tag}")
    b = await seeded(vertex_fake, labels={"team": tag})

    async def names(filter_text: str) -> set[str]:
        response = await api.get(f"{PARENT}/models", params={"filter": filter_text})
        assert response.status_code == 200, response.text
        return {m["name"].rsplit("/", 1)[-1] for m in response.json().get("models", [])}

    assert await names(f'labels.team="{tag}"') == {a, b}
    assert await names(f'labels.team="{tag}" AND labels.tier:*') == {a}
    assert await names(f"labels.team={tag} AND labels:tier") == {a}
    assert await names(f'displayName="Alpha {tag}"') == {a}
    assert await names(f'labels.team="{tag}" AND display_name!="Alpha {tag}"') == {b}
    assert await names(f"model={b}") == {b}
    for bad in ("labels.team ~ 'x'", f'labels.team="{tag}" OR model={a}'):
        response = await api.get(f"{PARENT}/models", params={"filter": bad})
        assert error_of(response)[:2] == (400, "INVALID_ARGUMENT")
    versions = await api.get(f"{PARENT}/models/{a}:listVersions", params={"filter": 'displayName="x"'})
    assert versions.status_code == 400  # listVersions filters on labels only


async def test_order_paging_and_read_mask(api: httpx.AsyncClient, vertex_fake: VertexServer) -> None:
    name = await seeded(vertex_fake, versions=3)
    await api.post(f"{PARENT}/models/{name}@1:mergeVersionAliases", json={"versionAliases": ["touched"]})
    newest = await api.get(f"{PARENT}/models", params={"orderBy": "update_time desc", "pageSize": 1})
    assert newest.json()["models"][0]["name"].endswith(f"/models/{name}")
    by_update = await api.get(
        f"{PARENT}/models/{name}:listVersions",
        params={"orderBy": "update_time desc", "readMask": "versionId"},
    )
    assert by_update.json()["models"] == [{"versionId": "1"}, {"versionId": "3"}, {"versionId": "2"}]
    page = (await api.get(f"{PARENT}/models/{name}:listVersions", params={"pageSize": 2})).json()
    assert [m["name"].rsplit("@", 1)[-1] for m in page["models"]] == ["1", "2"]  # names carry @version
    rest = await api.get(f"{PARENT}/models/{name}:listVersions", params={"pageToken": page["nextPageToken"]})
    assert [m["versionId"] for m in rest.json()["models"]] == ["3"] and "nextPageToken" not in rest.json()
    other = await api.get(
        f"{PARENT}/models/{name}:listVersions",
        params={"pageToken": page["nextPageToken"], "orderBy": "update_time"},
    )
    assert error_of(other)[:2] == (400, "INVALID_ARGUMENT")  # a token belongs to its query
    for params in ({"orderBy": "version_id"}, {"readMask": "stage"}, {"pageSize": -1}):
        assert (await api.get(f"{PARENT}/models/{name}:listVersions", params=params)).status_code == 400


# --- writes ------------------------------------------------------------------------------


async def test_alias_rules(api: httpx.AsyncClient, vertex_fake: VertexServer) -> None:
    name = await seeded(vertex_fake, versions=2)

    async def merge(version: str, *aliases: str) -> httpx.Response:
        return await api.post(
            f"{PARENT}/models/{name}@{version}:mergeVersionAliases", json={"versionAliases": aliases}
        )

    async def aliases(version: str) -> list[str]:
        return (await api.get(f"{PARENT}/models/{name}@{version}")).json().get("versionAliases", [])

    assert (await merge("1", "gold")).json()["versionAliases"] == ["default", "gold"]
    assert sorted((await merge("2", "gold")).json()["versionAliases"]) == ["gold"]
    assert await aliases("1") == ["default"]  # the alias moved
    await merge("2", "silver", "-silver")  # adding and removing cancel out
    assert await aliases("2") == ["gold"]
    assert (await api.get(f"{PARENT}/models/{name}@gold")).json()["versionId"] == "2"
    assert (await api.get(f"{PARENT}/models/{name}")).json()["versionId"] == "1"  # the default version
    await merge("2", "default")
    assert await aliases("1") == [] and (await api.get(f"{PARENT}/models/{name}")).json()["versionId"] == "2"
    for refused in ((await merge("2", "-default")), (await merge("2", "123")), (await merge("2", "Gold"))):
        assert error_of(refused)[:2] == (400, "INVALID_ARGUMENT")
    by_alias = await api.post(
        f"{PARENT}/models/{name}@gold:mergeVersionAliases", json={"versionAliases": ["x"]}
    )
    assert by_alias.status_code == 400  # a version ID is required
    assert (await merge("9", "x")).status_code == 404


async def test_patch_rules(api: httpx.AsyncClient, vertex_fake: VertexServer) -> None:
    name = await seeded(vertex_fake, versions=2, labels={"team": "risk"})
    v2 = (await api.get(f"{PARENT}/models/{name}@2")).json()
    no_mask = await api.patch(f"{PARENT}/models/{name}@2", json={"labels": {}})
    assert error_of(no_mask)[:2] == (400, "INVALID_ARGUMENT")
    patched = await api.patch(
        f"{PARENT}/models/{name}@2",
        params={"updateMask": "labels"},
        json={"labels": {"x": "y"}, "etag": v2["etag"]},
    )
    assert patched.json()["labels"] == {"x": "y"}  # the map is replaced
    assert patched.json()["versionUpdateTime"] > v2["versionUpdateTime"]
    stale = await api.patch(
        f"{PARENT}/models/{name}@2", params={"updateMask": "labels"}, json={"labels": {}, "etag": v2["etag"]}
    )
    assert error_of(stale)[:2] == (409, "ABORTED")
    upper = await api.patch(
        f"{PARENT}/models/{name}@2", params={"updateMask": "labels"}, json={"labels": {"X": "y"}}
    )
    assert error_of(upper)[:2] == (400, "INVALID_ARGUMENT")
    await api.patch(
        f"{PARENT}/models/{name}", params={"updateMask": "displayName"}, json={"displayName": "Renamed"}
    )
    assert (await api.get(f"{PARENT}/models/{name}@1")).json()["displayName"] == "Renamed"  # model-level
    assert (await api.get(f"{PARENT}/models/{name}@1")).json()["labels"] == {"team": "risk"}  # version-level


async def test_lineage_subgraph_hops(api: httpx.AsyncClient, vertex_fake: VertexServer) -> None:
    name = await seeded(vertex_fake)
    vertex_fake.fake.add_training_run(name, "1", run="train", datasets=[("gs://d/1", "d1")])
    artifact = (await api.get(f"{PARENT}/models/{name}@1")).json()["metadataArtifact"]
    path = f"{artifact}:queryArtifactLineageSubgraph"
    alone = (await api.get(path, params={"maxHops": 0})).json()
    assert [a["name"] for a in alone["artifacts"]] == [artifact] and "events" not in alone
    full = (await api.get(path)).json()
    assert len(full["artifacts"]) == 2 and len(full["executions"]) == 1
    assert {e["type"] for e in full["events"]} == {"INPUT", "OUTPUT"}
    assert (await api.get(path, params={"maxHops": -1})).status_code == 400
    assert (await api.get(f"{artifact}404:queryArtifactLineageSubgraph")).status_code == 404


# --- the token endpoint --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({}, None),
        ({"scope": None}, "invalid_scope"),
        ({"exp": 7200}, "invalid_grant"),  # longer than an hour
        ({"exp": -10, "iat": -3610}, "invalid_grant"),  # expired
        ({"aud": "http://127.0.0.1/token"}, "invalid_grant"),
        ({"sub": "someone@example.com"}, "unauthorized_client"),
        ({"jti": "replayed"}, "invalid_grant"),  # the second use of this jti
    ],
)
async def test_token_endpoint_checks_the_assertion(
    vertex_fake: VertexServer, change: dict[str, Any], error: str | None
) -> None:
    now = int(time.time())
    claims: dict[str, Any] = {"scope": "https://www.googleapis.com/auth/cloud-platform"}
    if change.get("scope", "keep") is None:
        claims.pop("scope")
    if "jti" in change:
        claims["jti"] = f"{change['jti']}-{vertex_fake.tokens_issued}-{time.monotonic_ns()}"
    assertion = sign_jwt_bearer_assertion(
        RSAKey.import_key(vertex_fake.credentials["private_key"]),
        issuer=vertex_fake.credentials["client_email"],
        audience=change.get("aud", GOOGLE_TOKEN_URL),
        subject=change.get("sub"),
        issued_at=now + change.get("iat", 0),
        expires_at=now + change.get("exp", 3600),
        claims=claims,
        header={"alg": "RS256", "kid": vertex_fake.key_id},
    )
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    async with httpx.AsyncClient() as client:
        response = await client.post(vertex_fake.token_url, data=form)
        if "jti" in change:
            assert response.status_code == 200
            response = await client.post(vertex_fake.token_url, data=form)
        wrong_grant = await client.post(vertex_fake.token_url, data={**form, "grant_type": "password"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    if error is None:
        assert response.status_code == 200 and response.json()["token_type"] == "Bearer"
    else:
        assert response.status_code in (400, 401) and response.json()["error"] == error
