"""``gateway.lineage.service``: naming, walks, impact and export as the rest of
the gateway calls them, over a real store fed through the index (no gateway, no
API), with registry lineage off so only stored edges count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.auth.access import AccessPolicy
from gateway.auth.principal import ADMIN, Principal
from gateway.catalogue.cache import AsyncCache, MemoryBackend
from gateway.catalogue.index import CatalogueIndex
from gateway.domain import DatasetRef, Model, ModelVersion
from gateway.errors import BadInput, NotFound
from gateway.lineage.service import LineageService
from gateway.lineage.walk import Direction
from gateway.store.database import Database
from tests.support import make_settings

DATA = "s3://lake/churn/train"
SECRET = {"restricted": "true"}


def trained(registry: str, model: str, number: str, **fields: Any) -> ModelVersion:
    return ModelVersion(
        registry,
        model,
        number,
        training_data=(DatasetRef("S3A://Lake//churn/train/", role="training"),),
        **fields,
    )


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[LineageService]:
    settings = make_settings(database_url, tmp_path)
    db = Database(database_url)
    await db.migrate()
    index = CatalogueIndex(db)
    cache = AsyncCache(MemoryBackend(100, expire_seconds=60), 60)
    svc = LineageService(db, index, {}, cache, settings)
    svc.attach()
    await index.replace_models(
        [
            (
                Model("platform", "churn", team="platform"),
                [
                    trained("platform", "churn", "1", team="platform"),
                    ModelVersion("platform", "churn", "2", parent="mg://platform/churn/1", team="platform"),
                ],
            ),
            (
                Model("platform", "churn-small", team="platform"),
                [
                    ModelVersion(
                        "platform", "churn-small", "1", parent="mg://platform/churn/2", team="platform"
                    )
                ],
            ),
            (
                Model("research", "secret", team="research"),
                [trained("research", "secret", "1", team="research", tags=SECRET)],
            ),
        ]
    )
    yield svc
    await svc.aclose()
    await db.aclose()


def access(service: LineageService, *teams: str, admin: bool = False) -> AccessPolicy:
    roles = frozenset({ADMIN}) if admin else frozenset()
    principal = Principal("someone", roles, frozenset(teams))
    return AccessPolicy(principal, {r.id: r for r in service.settings.registries})


async def test_canonical_names_spell_one_node(service: LineageService) -> None:
    assert await service.canonical(" mg://platform/churn/1 ") == "mg://platform/churn/1"
    # A dataset in another spelling is the graph's one spelling.
    assert await service.canonical("S3N://LAKE/churn//train/") == DATA
    assert await service.canonical("not a uri") == "not a uri"
    for bad in ("   ", "mg://"):
        with pytest.raises(BadInput) as caught:
            await service.canonical(bad)
        assert caught.value.extensions["field"] == "uri"


async def test_a_parent_is_a_uri_or_a_reference_or_bad_input(service: LineageService) -> None:
    assert await service.parent_reference(" mg://platform/churn/1", "platform") == "mg://platform/churn/1"
    with pytest.raises(BadInput) as caught:
        await service.parent_reference("just some words", "platform")
    assert caught.value.extensions["field"] == "parent"
    with pytest.raises(BadInput):
        await service.parent_reference("mg://", "platform")


async def test_the_graph_hides_what_the_caller_may_not_see(service: LineageService) -> None:
    everyone = await service.visible_graph(DATA, access(service, admin=True), registry_lineage=False)
    assert {"mg://platform/churn/1", "mg://research/secret/1"} <= set(everyone.nodes)
    outsider = await service.visible_graph(DATA, access(service, "platform"), registry_lineage=False)
    assert "mg://platform/churn/1" in outsider.nodes
    assert "mg://research/secret/1" not in outsider.nodes
    insider = await service.visible_graph(DATA, access(service, "research"), registry_lineage=False)
    assert "mg://research/secret/1" in insider.nodes


async def test_a_hidden_root_answers_as_an_absent_one(service: LineageService) -> None:
    outsider = access(service, "platform")
    with pytest.raises(NotFound) as hidden:
        await service.visible_graph("mg://research/secret/1", outsider, registry_lineage=False)
    with pytest.raises(NotFound) as absent:
        await service.visible_graph("mg://research/nothing/1", outsider, registry_lineage=False)
    shape = "no version mg://research/{} in the catalogue"
    assert (hidden.value.message, absent.value.message) == (
        shape.format("secret/1"),
        shape.format("nothing/1"),
    )
    assert hidden.value.extensions == absent.value.extensions
    with pytest.raises(NotFound):  # an unknown dataset too
        await service.visible_graph("s3://lake/nowhere", outsider, registry_lineage=False)


async def test_walk_limits_are_checked(service: LineageService) -> None:
    admin = access(service, admin=True)
    with pytest.raises(BadInput) as depth:
        await service.visible_graph(DATA, admin, depth=99, registry_lineage=False)
    assert depth.value.extensions["field"] == "depth"
    with pytest.raises(BadInput) as nodes:
        await service.visible_graph(DATA, admin, max_nodes=0, registry_lineage=False)
    assert nodes.value.extensions["field"] == "maxNodes"
    with pytest.raises(BadInput):
        await service.impact(DATA, limit=0)


async def test_direction_bounds_the_walk(service: LineageService) -> None:
    admin = access(service, admin=True)
    up = await service.visible_graph(
        "mg://platform/churn/2", admin, Direction.UPSTREAM, depth=1, registry_lineage=False
    )
    assert "mg://platform/churn/1" in up.nodes and DATA not in up.nodes  # one hop only
    down = await service.visible_graph(
        "mg://platform/churn/1", admin, Direction.DOWNSTREAM, registry_lineage=False
    )
    assert "mg://platform/churn/2" in down.nodes and DATA not in down.nodes


async def test_impact_reaches_fine_tuned_versions_and_counts_only_what_the_caller_sees(
    service: LineageService,
) -> None:
    result = await service.impact("s3a://LAKE/churn/train/")  # any spelling of the dataset
    reached = {hit.node.uri for hit in result.hits}
    assert {"mg://platform/churn/1", "mg://platform/churn/2", "mg://research/secret/1"} <= reached
    by_uri = {hit.node.uri: hit for hit in result.hits}
    assert by_uri["mg://platform/churn/2"].path == (DATA, "mg://platform/churn/1", "mg://platform/churn/2")

    outsider = access(service, "platform")
    counted = await service.impact(DATA, access=outsider)
    assert counted.nodes_visited < result.nodes_visited  # the hidden version is not counted
    hidden_root = await service.impact("mg://research/secret/1", access=outsider)
    assert (hidden_root.hits, hidden_root.nodes_visited) == ([], 1)  # as an unknown node


async def test_a_model_impact_starts_from_each_of_its_versions(service: LineageService) -> None:
    result = await service.impact("mg://platform/churn")
    assert {hit.node.uri for hit in result.hits} == {"mg://platform/churn-small/1"}
    assert [h.path for h in result.hits] == [("mg://platform/churn/2", "mg://platform/churn-small/1")]


def produced(events: list[dict[str, Any]]) -> set[str]:
    """The versions whose runs completed in ``events``, as ``mg://`` URIs."""
    return {
        f"{out['namespace']}/{out['name']}"
        for e in events
        if e["eventType"] == "COMPLETE"
        for out in e.get("outputs", [])
    }


async def test_openlineage_export_has_a_run_per_visible_version(service: LineageService) -> None:
    admin = await service.openlineage_events(
        "mg://platform/churn", registry_lineage=False, access=access(service, admin=True)
    )
    # A model is the runs of its versions, each a START and a COMPLETE.
    assert {"mg://platform/churn/1", "mg://platform/churn/2"} <= produced(admin)
    assert len(admin) == 2 * len({e["run"]["runId"] for e in admin})
    everyone = await service.openlineage_events(
        DATA, registry_lineage=False, access=access(service, admin=True)
    )
    assert "mg://research/secret/1" in produced(everyone)
    outsider = await service.openlineage_events(
        DATA, registry_lineage=False, access=access(service, "platform")
    )
    assert "mg://platform/churn/1" in produced(outsider)
    assert "secret" not in str(outsider)  # no event, and no name in any placeholder
