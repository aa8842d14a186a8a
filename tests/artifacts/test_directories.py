"""Directory versions: ``registerModelVersion(input: {files: [{path, uri}]})``
assembles uploaded files under one content-addressed prefix that ordinary tools
read as a directory (boto3 listing and fetching it from moto's S3 server; the
files on disk for ``file://``), lists them in ``files``, serves each through
``download(path:)`` and the GET route, and refuses anything but the model's own
uploads."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import obstore
import pytest

from gateway.auth.principal import Principal
from gateway.config import settings_from_mapping
from gateway.runtime import Gateway
from tests.artifacts.conftest import local_url
from tests.support import gql, served_gateway

WHO = {
    "olga": Principal("olga", teams=frozenset({"platform"})),
    "sam": Principal("sam", teams=frozenset({"secret"})),
}
MODEL = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "requirements.txt": b"numpy\n",
    "data/weights/layer0.bin": os.urandom(2 * 1024 * 1024 + 3),
    "code/__init__.py": b"",  # a model's code: a leading '_', and no bytes at all
}
REGISTER = """mutation($i: RegisterVersionInput!) {
  registerModelVersion(input: $i) { uri artifactUri files { path size digest } } }"""
FILES = """query($u: String!, $p: String) { modelVersion(uri: $u) {
  artifactUri files { path size digest } download(path: $p) { url digest size } } }"""


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def upload(
    client: httpx.AsyncClient, registry: str, model: str, files: dict[str, bytes]
) -> list[dict[str, str]]:
    """Each file PUT under its own path; the ``files`` input of a registration."""
    listed = []
    for path, data in files.items():
        response = await client.put(f"/artifacts/{registry}/{model}/{path}", content=data)
        assert response.status_code == 201, response.text
        listed.append({"path": path, "uri": response.json()["uri"]})
    return listed


async def register(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return await gql(client, REGISTER, {"i": {"registry": "platform", "model": "adder", **fields}})


def refusal(body: dict[str, Any]) -> tuple[str, str | None, str]:
    (error,) = body["errors"]
    return error["extensions"]["code"], error["extensions"].get("path"), error["message"]


def settings_for(database_url: str, artifacts: dict[str, Any]) -> Any:
    return settings_from_mapping(
        {
            "storage": {"url": database_url},
            "artifacts": artifacts,
            "registries": [
                {"id": "platform", "kind": "native", "team": "platform"},
                {"id": "secret", "kind": "native", "team": "secret", "restricted": True},
            ],
        },
        environ=dict(os.environ),
    )


@pytest.fixture(params=["file", "s3"])
async def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    artifacts = local_url(tmp_path) if request.param == "file" else request.getfixturevalue("s3_artifacts")
    async with served_gateway(settings_for(f"sqlite:///{tmp_path}/modelgate.db", artifacts), WHO) as pair:
        yield pair


async def test_a_directory_version_is_one_prefix_with_its_files(
    served: tuple[Gateway, httpx.AsyncClient], request: pytest.FixtureRequest
) -> None:
    gw, client = served
    body = await register(client, files=await upload(client, "platform", "adder", MODEL))
    version = body["data"]["registerModelVersion"]
    expected = sorted(
        ({"path": p, "size": len(d), "digest": sha(d)} for p, d in MODEL.items()), key=lambda f: f["path"]
    )
    assert version["files"] == expected
    manifest = "".join(f"{f['digest'][7:]}  {f['path']}\n" for f in expected)
    prefix = f"platform/adder/dirs/{hashlib.sha256(manifest.encode()).hexdigest()}"
    backend = gw.artifacts.backend
    assert version["artifactUri"] == backend.uri(backend.key(prefix))

    # Ordinary tools read the prefix as a directory and get the exact bytes.
    if backend.root.startswith("s3://"):
        s3 = request.getfixturevalue("s3")
        bucket = backend.root.removeprefix("s3://")
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=backend.key(prefix) + "/")["Contents"]
        got = {
            o["Key"][len(backend.key(prefix)) + 1 :]: s3.get_object(Bucket=bucket, Key=o["Key"])[
                "Body"
            ].read()
            for o in listed
        }
    else:
        got = files_under(Path(version["artifactUri"].removeprefix("file://")))
    assert got == MODEL

    # Listed, handed out and served one path at a time, nested paths included.
    await gw.sync.sync_all(full=True)
    uri = version["uri"]
    for path, data in MODEL.items():
        read = (await gql(client, FILES, {"u": uri, "p": path}))["data"]["modelVersion"]
        assert read["files"] == expected
        assert (read["download"]["digest"], read["download"]["size"]) == (sha(data), len(data))
        served_file = await client.get(f"/artifacts/platform/adder/1/{path}")
        assert served_file.status_code == 200 and served_file.content == data
        assert served_file.headers["etag"] == f'"{sha(data)}"'
    ranged = await client.get(
        "/artifacts/platform/adder/1/data/weights/layer0.bin", headers={"range": "bytes=5-9"}
    )
    assert ranged.status_code == 206 and ranged.content == MODEL["data/weights/layer0.bin"][5:10]
    missing = await client.get("/artifacts/platform/adder/1/data/weights")  # a directory is not a file
    assert missing.status_code == 404
    # A directory has no one artifact: download without path is null.
    whole = (await gql(client, FILES, {"u": uri, "p": None}))["data"]["modelVersion"]
    assert whole["download"] is None


async def test_registering_the_same_files_again_reuses_the_directory(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    gw, client = served
    files = await upload(client, "platform", "adder", MODEL)
    first = (await register(client, files=files))["data"]["registerModelVersion"]
    second = (await register(client, files=list(reversed(files))))["data"]["registerModelVersion"]
    assert second["uri"].endswith("/2") and second["artifactUri"] == first["artifactUri"]
    # Another path for one file is another directory.
    moved = [{**f, "path": "MLmodel.yaml"} if f["path"] == "MLmodel" else f for f in files]
    third = (await register(client, files=moved))["data"]["registerModelVersion"]
    assert third["artifactUri"] != first["artifactUri"]
    await gw.sync.sync_all(full=True)
    fetched = await client.get("/artifacts/platform/adder/3/MLmodel.yaml")
    assert fetched.content == MODEL["MLmodel"]


async def test_refuses_anything_but_the_models_own_uploads(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    gw, client = served
    own = await upload(client, "platform", "adder", {"MLmodel": b"x"})
    other_model = await upload(client, "platform", "other", {"MLmodel": b"y"})
    uri = own[0]["uri"]
    absent = uri.replace(uri.split("/")[-2], "0" * 64)  # the right form, but never uploaded
    cases: list[tuple[list[dict[str, str]], str | None, str]] = [
        (
            [{"path": "MLmodel", "uri": "s3://elsewhere/model/MLmodel"}],
            "MLmodel",
            "not a file of platform/adder",
        ),
        ([{"path": "MLmodel", "uri": other_model[0]["uri"]}], "MLmodel", "not a file of platform/adder"),
        ([{"path": "MLmodel", "uri": absent}], "MLmodel", "does not hold"),
        ([{"path": "MLmodel", "uri": uri.rsplit("/", 1)[0] + "/../MLmodel"}], "MLmodel", "does not hold"),
        ([{"path": "../MLmodel", "uri": uri}], "../MLmodel", "not a valid path"),
        ([{"path": "a/.hidden", "uri": uri}], "a/.hidden", "not a valid path"),
        ([{"path": "/abs", "uri": uri}], "/abs", "not a valid path"),
        ([{"path": "MLmodel", "uri": uri}, {"path": "MLmodel", "uri": uri}], "MLmodel", "listed twice"),
        ([{"path": "a", "uri": uri}, {"path": "a/b", "uri": uri}], "a/b", "lies inside 'a'"),
        ([], None, "at least one file"),
    ]
    for files, path, words in cases:
        code, named, message = refusal(await register(client, files=files))
        assert (code, named) == ("BAD_USER_INPUT", path), (files, message)
        assert words in message, message
    code, _, message = refusal(await register(client, files=own, artifactUri=uri))
    assert code == "BAD_USER_INPUT" and "not both" in message
    code, _, message = refusal(await register(client))
    assert code == "BAD_USER_INPUT" and "artifactUri is required" in message
    # A registry of another team: the permission is checked before any file.
    code, _, _ = refusal(
        await gql(client, REGISTER, {"i": {"registry": "secret", "model": "m", "files": own}})
    )
    assert code == "FORBIDDEN"
    # Nothing was registered, and no directory was assembled.
    await gw.sync.sync_all(full=True)
    assert await gw.index.get_version("mg://platform/adder/1") is None
    assert not [k for k in await stored_keys(gw) if "/dirs/" in k]


async def stored_keys(gw: Gateway) -> list[str]:
    return [o["path"] async for batch in obstore.list(gw.artifacts.backend.store) for o in batch]


async def test_a_hidden_directory_version_answers_as_absent(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    gw, client = served
    client.headers["x-test-principal"] = "sam"
    files = await upload(client, "secret", "classified", {"weights.bin": b"secret bytes"})
    body = await gql(client, REGISTER, {"i": {"registry": "secret", "model": "classified", "files": files}})
    assert "errors" not in body, body
    await gw.sync.sync_all(full=True)
    owner = await client.get("/artifacts/secret/classified/1/weights.bin")
    assert owner.status_code == 200 and owner.content == b"secret bytes"
    client.headers["x-test-principal"] = "olga"
    hidden = await client.get("/artifacts/secret/classified/1/weights.bin")
    absent = await client.get("/artifacts/secret/nothing/1/weights.bin")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["errors"][0]["extensions"].keys() == absent.json()["errors"][0]["extensions"].keys()
    assert hidden.json()["errors"][0]["message"].replace("classified", "X") == absent.json()["errors"][0][
        "message"
    ].replace("nothing", "X")


async def test_the_file_list_is_kept_by_the_database(database_url: str, tmp_path: Path) -> None:
    """SQLite and PostgreSQL: the files outlive the gateway that registered them."""
    settings = settings_for(database_url, local_url(tmp_path))
    async with served_gateway(settings, WHO) as (_, client):
        version = (await register(client, files=await upload(client, "platform", "adder", MODEL)))["data"][
            "registerModelVersion"
        ]
    async with served_gateway(settings, WHO) as (gw, client):
        await gw.sync.sync_all(full=True)
        read = (await gql(client, FILES, {"u": version["uri"], "p": "requirements.txt"}))["data"][
            "modelVersion"
        ]
        assert read["files"] == version["files"] and len(read["files"]) == len(MODEL)
        fetched = await client.get("/artifacts/platform/adder/1/data/weights/layer0.bin")
        assert fetched.content == MODEL["data/weights/layer0.bin"]
