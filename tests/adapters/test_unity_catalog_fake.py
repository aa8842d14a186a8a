"""The Unity Catalog fake holds requests and responses to the published spec: a
test of modelgate against it can only pass if what modelgate sends, and what the
fake answers, is what the OpenAPI file allows."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.adapters.contract import unique_name
from tests.servers.unity_catalog import CATALOG, SCHEMAS, UnityCatalogServer


@pytest.fixture
def server(uc_oss_server: UnityCatalogServer) -> Iterator[UnityCatalogServer]:
    """The OSS fake, unchecked: these tests break the spec on purpose and take
    their violations back."""
    seen = len(uc_oss_server.fake.violations)
    yield uc_oss_server
    del uc_oss_server.fake.violations[seen:]


def _client(server: UnityCatalogServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.api_url, headers={"Authorization": f"Bearer {server.token}"})


async def test_a_request_outside_the_spec_is_a_violation(server: UnityCatalogServer) -> None:
    await server.ensure_namespace()
    seen = len(server.fake.violations)
    async with _client(server) as client:
        too_many = await client.get(
            "/models", params={"catalog_name": CATALOG, "schema_name": SCHEMAS[0], "max_results": 99}
        )
        alias = await client.put(
            f"/models/{CATALOG}.{SCHEMAS[0]}.m/aliases/champion", json={"version_num": 1}
        )
        missing_field = await client.post(
            "/models/versions", json={"catalog_name": CATALOG, "model_name": "m"}
        )
    assert too_many.status_code == 400 and alias.status_code == 400 and missing_field.status_code == 400
    found = server.fake.violations[seen:]
    assert len(found) == 3, found
    assert "max_results" in found[0] or "99" in found[0]
    assert "aliases" in found[1]  # OSS has no alias operation


async def test_a_response_outside_the_spec_is_a_violation(server: UnityCatalogServer) -> None:
    full = await server.register(unique_name("badresponse"), [{"source": "s3://b/m"}])
    server.fake.store.versions[full][1]["status"] = "ARCHIVED"  # not a ModelVersionStatus
    seen = len(server.fake.violations)
    try:
        async with _client(server) as client:
            answer = await client.get(f"/models/{full}/versions/1")
    finally:
        server.fake.store.versions[full][1]["status"] = "READY"
    assert answer.status_code == 500
    assert len(server.fake.violations[seen:]) == 1 and "response" in server.fake.violations[seen]


async def test_errors_have_the_servers_shape(server: UnityCatalogServer) -> None:
    await server.ensure_namespace()
    async with _client(server) as client:
        missing = await client.get(f"/models/{CATALOG}.{SCHEMAS[0]}.{unique_name('nothing')}")
        half = await client.get("/models", params={"catalog_name": CATALOG})
    async with httpx.AsyncClient(base_url=server.api_url) as anonymous:
        refused = await anonymous.get("/schemas", params={"catalog_name": CATALOG})
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
    assert half.status_code == 400 and "catalog w/o schema" in half.json()["message"]
    assert refused.status_code == 401 and refused.json()["error_code"] == "UNAUTHENTICATED"
    assert missing.json()["details"][0]["reason"] == "NOT_FOUND"
