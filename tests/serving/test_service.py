"""``gateway.serving.service`` without a gateway: in-memory registries at the
adapter seam (one reading its own endpoints, one not), the real serving tables.
Which models a registry read changed, reports checked field by field, and
reports refused for registries that read their own serving state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.domain import Deployment, Endpoint, ModelVersion, TrafficShare
from gateway.errors import BadInput
from gateway.serving.service import DeploymentReport, Serving, merged
from gateway.store.database import Database
from tests.fakes.memory_registry import MemoryRegistry

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class EndpointRegistry(MemoryRegistry):
    """A ``ServingReader``: lists the endpoints the test sets."""

    def __init__(self, registry_id: str) -> None:
        super().__init__(registry_id)
        self.endpoints: list[Endpoint] = []

    async def list_endpoints(self) -> list[Endpoint]:
        await self._call("list_endpoints")
        return list(self.endpoints)


def ep(name: str, *shares: tuple[float, str]) -> Endpoint:
    return Endpoint(
        f"arn:{name}", name, "sm", "InService", tuple(TrafficShare(p, u, name) for p, u in shares), NOW
    )


@pytest.fixture
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Serving, EndpointRegistry]]:
    db = Database(f"sqlite:///{tmp_path}/serving.db")
    await db.migrate()
    sm = EndpointRegistry("sm")
    yield Serving(db, {"sm": sm, "plain": MemoryRegistry("plain")}), sm  # type: ignore[dict-item]
    await db.aclose()


async def test_a_registry_read_returns_the_models_whose_deployments_changed(
    serving: tuple[Serving, EndpointRegistry],
) -> None:
    service, sm = serving
    assert service.serving_registries == frozenset({"sm"})
    sm.endpoints = [ep("a", (100, "mg://sm/ranker/1")), ep("b", (100, "mg://sm/churn/1"))]
    assert await service.refresh_registry("sm") == {"mg://sm/ranker", "mg://sm/churn"}
    assert await service.refresh_registry("sm") == set()  # the same state again: nothing changed

    sm.endpoints = [
        ep("a", (50, "mg://sm/ranker/1"), (50, "mg://sm/ranker/2")),
        ep("b", (100, "mg://sm/churn/1")),
    ]
    assert await service.refresh_registry("sm") == {"mg://sm/ranker"}
    deployments = await service.deployments("sm", ["mg://sm/ranker"])
    assert {uri: [d.traffic_percent for d in ds] for uri, ds in deployments.items()} == {
        "mg://sm/ranker/1": [50],
        "mg://sm/ranker/2": [50],
    }

    sm.endpoints = [ep("b", (100, "mg://sm/churn/1"))]  # endpoint "a" deleted
    assert await service.refresh_registry("sm") == {"mg://sm/ranker"}


async def test_a_failed_read_keeps_the_last_state(serving: tuple[Serving, EndpointRegistry]) -> None:
    service, sm = serving
    sm.endpoints = [ep("a", (100, "mg://sm/ranker/1"))]
    await service.refresh_registry("sm")
    sm.failing = True
    assert await service.refresh_registry("sm") is None
    assert [e.name for e in await service.endpoints(["sm"])] == ["a"]
    assert await service.refresh_registry("plain") is None  # reads no serving state


async def test_a_report_is_stored_for_a_registry_without_its_own_serving(
    serving: tuple[Serving, EndpointRegistry],
) -> None:
    service, _ = serving
    report = DeploymentReport("mg://plain/m/3", "  kserve/m  ", None, variant="blue", status="Ready")
    assert await service.record(report) == "plain"
    (endpoint,) = await service.endpoints(["plain"])
    assert endpoint.name == "kserve/m"  # trimmed
    assert endpoint.traffic == (TrafficShare(100.0, "mg://plain/m/3", "blue"),)  # no percent: all of it


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (DeploymentReport("not a uri", "e", 10), "uri"),
        (DeploymentReport("mg://plain/m", "e", 10), "uri"),  # a model
        (DeploymentReport("mg://plain/m/1", "  ", 10), "endpoint"),
        (DeploymentReport("mg://plain/m/1", "e" * 701, 10), "endpoint"),
        (DeploymentReport("mg://plain/m/1", "e", 100.5), "trafficPercent"),
        (DeploymentReport("mg://plain/m/1", "e", -1), "trafficPercent"),
        (DeploymentReport("mg://plain/m/1", "e", 10, variant="v" * 257), "variant"),
        (DeploymentReport("mg://plain/m/1", "e", 10, status="s" * 65), "status"),
        (DeploymentReport("mg://nowhere/m/1", "e", 10), "uri"),  # no such registry
        (DeploymentReport("mg://sm/m/1", "e", 10), "uri"),  # reads its own serving state
    ],
)
async def test_a_bad_report_names_its_field(
    serving: tuple[Serving, EndpointRegistry], report: DeploymentReport, field: str
) -> None:
    service, _ = serving
    with pytest.raises(BadInput) as caught:
        await service.record(report)
    assert caught.value.extensions["field"] == field
    assert await service.endpoints() == []


def test_served_deployments_replace_the_records_own_for_the_same_endpoint() -> None:
    own = (Deployment("arn:a", 10.0), Deployment("arn:z", 5.0))
    version = ModelVersion("sm", "m", "1", deployments=own)
    served = (Deployment("arn:a", 60.0, registry="sm"),)
    assert merged(version, served).deployments == (served[0], own[1])
    assert merged(version, ()) is version  # nothing to add: the same record
