"""Vertex AI serving state in the schema-checked fake: ``endpoints.list`` with
``deployedModels`` and ``trafficSplit``, read through the adapter's
``list_endpoints`` (``ServingReader``). Traffic is shifted with Google's own
client (``endpoints.patch``); every answer is checked against the discovery
document by the ``vertex_fake`` fixture."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from adapters.protocol import ServingReader
from adapters.vertex import VertexRegistry
from adapters.vertex.serving import endpoint_from_wire
from gateway.domain import Endpoint
from tests.adapters.contract import unique_name
from tests.adapters.test_vertex import REGISTRY, make_adapter, upload
from tests.servers.vertex import LOCATION, PROJECT_ID, PROJECT_NUMBER, VertexServer


@pytest.fixture
async def adapter(vertex_fake: VertexServer) -> AsyncIterator[VertexRegistry]:
    vertex = make_adapter(vertex_fake)
    yield vertex
    await vertex.aclose()


def endpoint_id() -> str:
    return str(secrets.randbelow(10**12) + 10**12)  # Vertex endpoint IDs are numbers


async def read(adapter: VertexRegistry, uri: str) -> Endpoint:
    found = [e for e in await adapter.list_endpoints() if e.uri == uri]
    assert len(found) == 1
    return found[0]


def test_the_adapter_is_a_serving_reader(adapter: VertexRegistry) -> None:
    assert isinstance(adapter, ServingReader)


async def test_an_endpoint_splits_traffic_between_two_versions(
    adapter: VertexRegistry, vertex_fake: VertexServer
) -> None:
    name = unique_name("split")
    await upload(vertex_fake, name, 2)
    where = endpoint_id()
    uri = vertex_fake.fake.deploy(name, "1", where)
    vertex_fake.fake.deploy(name, "2", where, traffic_split={"0": 20, **_ids(vertex_fake, where, 80)})

    found = await read(adapter, uri)

    assert uri == f"projects/{PROJECT_NUMBER}/locations/{LOCATION}/endpoints/{where}"
    assert found.registry_id == REGISTRY and found.name == f"endpoint-{where}"
    assert found.updated_at is not None
    shares = sorted((t.version_uri, t.percent) for t in found.traffic)
    assert shares == [(f"mg://{REGISTRY}/{name}/1", 80.0), (f"mg://{REGISTRY}/{name}/2", 20.0)]
    assert all(t.variant for t in found.traffic)  # the deployed-model IDs


async def test_a_traffic_shift_through_googles_client_is_read_back(
    adapter: VertexRegistry, vertex_fake: VertexServer
) -> None:
    name = unique_name("shift")
    await upload(vertex_fake, name, 2)
    where = endpoint_id()
    uri = vertex_fake.fake.deploy(name, "1", where)
    vertex_fake.fake.deploy(name, "2", where)  # no split given: the new model takes nothing yet
    before = {t.version_uri: t.percent for t in (await read(adapter, uri)).traffic}
    assert before == {f"mg://{REGISTRY}/{name}/1": 100.0, f"mg://{REGISTRY}/{name}/2": 0.0}
    ids = {t.version_uri: t.variant for t in (await read(adapter, uri)).traffic}

    await asyncio.to_thread(
        vertex_fake.set_traffic_split,
        uri,
        {ids[f"mg://{REGISTRY}/{name}/1"]: 0, ids[f"mg://{REGISTRY}/{name}/2"]: 100},  # type: ignore[dict-item]
    )

    after = {t.version_uri: t.percent for t in (await read(adapter, uri)).traffic}
    assert after == {f"mg://{REGISTRY}/{name}/1": 0.0, f"mg://{REGISTRY}/{name}/2": 100.0}


async def test_endpoints_page(adapter: VertexRegistry, vertex_fake: VertexServer) -> None:
    """With a page size of 1 every endpoint still comes back, once."""
    name = unique_name("pages")
    await upload(vertex_fake, name, 1)
    uris = {vertex_fake.fake.deploy(name, "1", endpoint_id()) for _ in range(3)}
    paged = make_adapter(vertex_fake, page_size=1)
    try:
        listed = [e.uri for e in await paged.list_endpoints()]
    finally:
        await paged.aclose()
    assert uris <= set(listed) and len(listed) == len(set(listed))


def test_a_model_of_another_project_or_location_is_no_version_here() -> None:
    wire = {
        "name": f"projects/{PROJECT_NUMBER}/locations/{LOCATION}/endpoints/9",
        "deployedModels": [
            {
                "id": "1",
                "model": f"projects/{PROJECT_ID}/locations/{LOCATION}/models/m",
                "modelVersionId": "3",
            },
            {"id": "2", "model": "projects/other/locations/us-central1/models/m", "modelVersionId": "1"},
            {
                "id": "3",
                "model": f"projects/{PROJECT_NUMBER}/locations/europe-west4/models/m",
                "modelVersionId": "1",
            },
            {"id": "4", "model": f"projects/{PROJECT_NUMBER}/locations/{LOCATION}/models/m@golden"},
        ],
        "trafficSplit": {"1": 70, "2": 30},
    }
    found = endpoint_from_wire(wire, "v", PROJECT_ID, LOCATION)
    assert [(t.variant, t.version_uri, t.percent) for t in found.traffic] == [
        ("1", "mg://v/m/3", 70.0),
        ("2", None, 30.0),
        ("3", None, 0.0),
        ("4", None, 0.0),
    ]


def _ids(server: VertexServer, where: str, percent: int) -> dict[str, int]:
    """The endpoint's deployed models so far, all given ``percent`` (one model here)."""
    return {d.deployed_id: percent for d in server.fake.endpoints[where].deployed}
