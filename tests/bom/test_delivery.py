"""A version's BOM through every door: GraphQL ``ModelVersion.bom``, the REST
download ``/bom/...`` (hidden answers as absent) and ``modelgate bom``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import RegistrationRequest, iterate_pages
from adapters.protocol import PromotionContext
from gateway.auth.principal import Principal
from gateway.catalogue.index import SearchFilter, SearchQuery
from gateway.demo import seed_demo
from gateway.domain import DatasetRef, ModelVersion, Stage
from gateway.runtime import Gateway
from tests.bom.validation import cyclonedx_errors, spdx_errors
from tests.support import data_of, gql, make_settings, served_gateway

WHO = {
    "olga": Principal("olga", teams=frozenset({"platform"})),
    "sam": Principal("sam", teams=frozenset({"secret"})),
}
REPO = Path(__file__).resolve().parents[2]


async def register(gw: Gateway, registry: str, model: str, **fields: Any) -> str:
    v = ModelVersion(registry, model, "0", artifact_uri=f"s3://m/{registry}/{model}", **fields)
    return (await gw.register_version(registry, RegistrationRequest(model, v, "setup"))).uri


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    settings = make_settings(
        database_url,
        tmp_path,
        registries=[
            {"id": "platform", "kind": "native", "team": "platform"},
            {"id": "research", "kind": "native", "team": "research"},
            {"id": "secret", "kind": "native", "team": "secret", "restricted": True},
        ],
    )
    async with served_gateway(settings, WHO) as (gw, client):
        await seed_demo(gw)
        classified = await register(
            gw, "secret", "classified", training_data=(DatasetRef("s3://data/secret-only"),)
        )
        # In production, so the inventory would list it to anyone who may see it.
        (version,) = [
            v async for v in iterate_pages(lambda t: gw.adapters["secret"].list_versions("classified", t))
        ]
        await gw.adapters["secret"].set_stage(version, Stage.PRODUCTION, PromotionContext("setup"))
        assert classified == version.uri
        # An open version whose parent is restricted: its BOM must not name the parent.
        await register(gw, "platform", "child", parent="mg://secret/classified/1")
        await gw.sync.sync_all(full=True)
        yield gw, client


async def test_the_rest_download_is_a_valid_cyclonedx_bom(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = served
    response = await client.get("/bom/platform/fraud-detector/5")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    assert 'filename="fraud-detector-5.cdx.json"' in response.headers["content-disposition"]
    document = response.json()
    assert cyclonedx_errors(document) == []
    assert document["metadata"]["component"]["bom-ref"] == "mg://platform/fraud-detector/5"
    explicit = await client.get("/bom/platform/fraud-detector/5", params={"format": "cyclonedx"})
    assert explicit.json()["metadata"]["component"] == document["metadata"]["component"]


async def test_the_rest_download_as_spdx(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = served
    response = await client.get("/bom/platform/fraud-detector/5", params={"format": "spdx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/spdx+json")
    assert 'filename="fraud-detector-5.spdx.json"' in response.headers["content-disposition"]
    assert spdx_errors(response.json()) == []
    hidden = await client.get("/bom/secret/classified/1", params={"format": "spdx"})
    assert hidden.status_code == 404


async def test_a_hidden_version_answers_as_an_absent_one(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = served
    mine = await client.get("/bom/secret/classified/1", headers={"x-test-principal": "sam"})
    assert mine.status_code == 200 and cyclonedx_errors(mine.json()) == []
    hidden = await client.get("/bom/secret/classified/1")
    absent = await client.get("/bom/secret/nothing-here/1")
    assert hidden.status_code == absent.status_code == 404
    for body, uri in (
        (hidden.json(), "mg://secret/classified/1"),
        (absent.json(), "mg://secret/nothing-here/1"),
    ):
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert error["message"] == f"no version {uri} in the catalogue"


async def test_a_parent_the_caller_may_not_see_is_left_out(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = served
    outsider = (await client.get("/bom/platform/child/1")).json()
    assert "secret" not in json.dumps(outsider)
    insider = (await client.get("/bom/platform/child/1", headers={"x-test-principal": "sam"})).json()
    assert "mg://secret/classified/1" in insider["dependencies"][0]["dependsOn"]


async def test_bad_format_and_model_uris_are_bad_input(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = served
    response = await client.get("/bom/platform/fraud-detector/5", params={"format": "swid"})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "format"


async def test_graphql_bom_field(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = served
    body = await gql(
        client,
        '{ modelVersion(uri: "mg://platform/fraud-detector/5") { bom(format: CYCLONEDX_1_6) } }',
    )
    document = data_of(body)["modelVersion"]["bom"]
    assert cyclonedx_errors(document) == []
    assert document["specVersion"] == "1.6"
    hidden = await gql(
        client, '{ modelVersion(uri: "mg://secret/classified/1") { bom(format: CYCLONEDX_1_6) } }'
    )
    assert data_of(hidden)["modelVersion"] is None


def seeded_config(tmp_path: Path) -> Path:
    """A config file over a SQLite catalogue holding the demo's native registries."""
    config = tmp_path / "modelgate.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/mg.db"\nartifacts_dir = "{tmp_path}/artifacts"\n\n'
        '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n\n'
        '[[registries]]\nid = "research"\nkind = "native"\nteam = "research"\n'
    )

    async def seed() -> None:
        from gateway.config import load_settings

        gw = await Gateway.open(load_settings(str(config)))
        try:
            await seed_demo(gw)
        finally:
            await gw.aclose()

    import asyncio

    asyncio.run(seed())
    return config


def test_the_cli_writes_a_bom(tmp_path: Path) -> None:
    config = seeded_config(tmp_path)
    out = tmp_path / "fraud.cdx.json"
    cli = [sys.executable, "-m", "gateway.cli", "bom", "--config", str(config)]
    done = subprocess.run(
        [*cli, "mg://platform/fraud-detector/5", "--format", "cyclonedx", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert cyclonedx_errors(json.loads(out.read_text())) == []
    missing = subprocess.run(
        [*cli, "mg://platform/fraud-detector/99"], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert missing.returncode == 1 and "no version mg://platform/fraud-detector/99" in missing.stderr
    spdx = subprocess.run(
        [*cli, "mg://platform/fraud-detector/5", "--format", "spdx"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert spdx.returncode == 0, spdx.stderr
    assert spdx_errors(json.loads(spdx.stdout)) == []


def test_the_cli_writes_a_model_bom_and_the_inventory_bom(tmp_path: Path) -> None:
    config = seeded_config(tmp_path)
    cli = [sys.executable, "-m", "gateway.cli", "bom", "--config", str(config)]

    def bom(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, cwd=REPO)

    model = bom("mg://platform/fraud-detector", "--format", "cyclonedx")
    assert model.returncode == 0, model.stderr
    document = json.loads(model.stdout)
    assert cyclonedx_errors(document) == []
    assert document["metadata"]["component"]["bom-ref"] == "mg://platform/fraud-detector"
    cards = [c for c in document["components"] if "modelCard" in c]
    assert sorted(c["version"] for c in cards) == ["5", "6"]  # PRODUCTION and STAGING

    inventory = bom("--inventory", "--format", "spdx")
    assert inventory.returncode == 0, inventory.stderr
    spdx = json.loads(inventory.stdout)
    assert spdx_errors(spdx) == []
    (root,) = [e for e in spdx["@graph"] if e["type"] == "SpdxDocument"]
    assert "mg://platform/fraud-detector/5" in root["rootElement"]
    assert "mg://platform/fraud-detector/6" not in root["rootElement"]  # STAGING: not in the inventory

    absent = bom("mg://platform/no-such-model")
    assert absent.returncode == 1 and "no model mg://platform/no-such-model" in absent.stderr
    both = bom("mg://platform/fraud-detector", "--inventory")
    neither = bom()
    assert both.returncode == neither.returncode == 2


async def test_a_model_bom_lists_its_staging_and_production_versions(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    _, client = served
    response = await client.get("/bom/platform/fraud-detector")
    assert response.status_code == 200, response.text
    assert 'filename="fraud-detector.cdx.json"' in response.headers["content-disposition"]
    document = response.json()
    assert cyclonedx_errors(document) == []
    assert document["metadata"]["component"]["bom-ref"] == "mg://platform/fraud-detector"
    models = [c for c in document["components"] if c["type"] == "machine-learning-model" and "modelCard" in c]
    # v5 in PRODUCTION, v6 in STAGING; v6's parent is v5, listed once as itself.
    assert sorted(m["version"] for m in models) == ["5", "6"]
    refs = [c["bom-ref"] for c in document["components"]]
    assert len(refs) == len(set(refs))
    (subject,) = [d for d in document["dependencies"] if d["ref"] == "mg://platform/fraud-detector"]
    assert sorted(subject["dependsOn"]) == [
        "mg://platform/fraud-detector/5",
        "mg://platform/fraud-detector/6",
    ]

    spdx = (await client.get("/bom/platform/fraud-detector", params={"format": "spdx"})).json()
    assert spdx_errors(spdx) == []
    (root,) = [e for e in spdx["@graph"] if e["type"] == "SpdxDocument"]
    assert sorted(root["rootElement"]) == ["mg://platform/fraud-detector/5", "mg://platform/fraud-detector/6"]
    ids = [e["spdxId"] for e in spdx["@graph"] if "spdxId" in e]
    assert len(ids) == len(set(ids))

    hidden = await client.get("/bom/secret/classified")
    absent = await client.get("/bom/secret/nothing-here")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_the_inventory_bom_lists_every_production_version_the_caller_may_see(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    gw, client = served
    outsider = await client.get("/bom")
    assert outsider.status_code == 200, outsider.text
    document = outsider.json()
    assert cyclonedx_errors(document) == []
    listed = {c["bom-ref"] for c in document["components"] if "modelCard" in c}
    page = await gw.index.search_versions(
        SearchQuery(None, SearchFilter(stages=(Stage.PRODUCTION,)), 100, None)
    )
    production = {v.uri for v in page.items}
    assert "mg://secret/classified/1" in production
    assert listed == production - {"mg://secret/classified/1"}
    assert "secret" not in json.dumps(document)
    insider = (
        await client.get("/bom", params={"format": "spdx"}, headers={"x-test-principal": "sam"})
    ).json()
    assert spdx_errors(insider) == []
    (root,) = [e for e in insider["@graph"] if e["type"] == "SpdxDocument"]
    assert "mg://secret/classified/1" in root["rootElement"]
