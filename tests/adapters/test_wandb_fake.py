"""The W&B fake itself: it must reject what the SDK does not send, or it proves nothing."""

from __future__ import annotations

import httpx
import pytest
from graphql import parse, validate

from adapters.wandb import queries
from tests.fakes.wandb.app import load_schema
from tests.servers.wandb import WandbServer

DOCUMENTS = [
    queries.REGISTRY_COLLECTIONS,
    queries.REGISTRY_VERSIONS,
    queries.VERSION_DETAILS,
    queries.ADD_ALIASES,
    queries.DELETE_ALIASES,
    queries.UPDATE_ARTIFACT_TAGS,
    queries.HEALTH,
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_adapter_document_validates_against_the_sdk_schema(document: str) -> None:
    assert validate(load_schema(), parse(document)) == []


def test_a_field_the_sdk_never_asks_for_is_rejected() -> None:
    drifted = 'query { organization(name: "acme") { orgEntity { name artifactCount } } }'
    errors = validate(load_schema(), parse(drifted))
    assert errors and "artifactCount" in errors[0].message


async def test_the_server_answers_a_drifted_document_400_and_records_it(wandb_server: WandbServer) -> None:
    seen = len(wandb_server.fake.violations)
    async with httpx.AsyncClient(auth=("api", wandb_server.key)) as client:
        response = await client.post(
            f"{wandb_server.base_url}/graphql", json={"query": "query Drift { viewer { karma } }"}
        )
    assert response.status_code == 400 and "karma" in response.text
    assert any("karma" in v for v in wandb_server.fake.violations[seen:])
    del wandb_server.fake.violations[seen:]  # this test's violation is the point, not a failure
