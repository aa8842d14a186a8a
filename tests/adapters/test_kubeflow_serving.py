"""Kubeflow InferenceServices as serving state (``ServingReader``), against the
spec-validated fake, seeded with the real ``model-registry`` client's generated
API (``create_inference_service``, as KServe's controller writes them).

One endpoint per InferenceService, ``<serving environment>/<name>``: the version
it names, or its model's latest by creation when it names none; its
``desiredState`` as status; all traffic while DEPLOYED, none once UNDEPLOYED.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.kubeflow import KubeflowRegistry
from adapters.protocol import ServingReader
from gateway.config import Settings
from gateway.runtime import Gateway
from tests.adapters.contract import unique_name
from tests.adapters.test_kubeflow import ALICE, POLICIES, REGISTRY, make_adapter, register
from tests.servers.kubeflow import KubeflowServer
from tests.support import data_of, gql, make_settings, served_app

ENDPOINTS = """query($r: String) { endpoints(registry: $r) {
  uri name status registry { id } traffic { percent variant version { uri } } } }"""
VERSION = """query($uri: String!) { modelVersion(uri: $uri) {
  stage deployments { endpoint trafficPercent registry status }
  compliance { violations { policy } } } }"""
NOT_SERVING = "modelgate.production-not-serving"


@pytest.fixture
async def adapter(kubeflow_fake: KubeflowServer) -> AsyncIterator[KubeflowRegistry]:
    kubeflow = make_adapter(kubeflow_fake)
    yield kubeflow
    await kubeflow.aclose()


def mark_production(server: KubeflowServer, name: str, version: str) -> None:
    """The stage property set as a data scientist would, with the registry's client."""
    mv = server.client.get_model_version(name, version)
    mv.custom_properties = {**(mv.custom_properties or {}), "stage": "production"}
    server.client.update(mv)


async def test_every_inference_service_is_an_endpoint(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    assert isinstance(adapter, ServingReader)
    name = unique_name("endpoints")
    rm = await asyncio.to_thread(register, kubeflow_fake, name, "v1")
    for version in ("v2", "v3"):
        await asyncio.to_thread(register, kubeflow_fake, name, version)
    v1 = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v1")
    v2 = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v2")
    await asyncio.to_thread(kubeflow_fake.deploy, rm.id, v1.id, f"{name}-isvc", environment="fraud-ns")
    await asyncio.to_thread(kubeflow_fake.deploy, rm.id, v2.id, f"{name}-off", state="UNDEPLOYED")
    await asyncio.to_thread(kubeflow_fake.deploy, rm.id, None, f"{name}-latest")

    found = {e.name: e for e in await adapter.list_endpoints() if e.name.startswith(name)}
    assert set(found) == {f"{name}-isvc", f"{name}-off", f"{name}-latest"}
    served = found[f"{name}-isvc"]
    assert (served.uri, served.registry_id, served.status) == (f"fraud-ns/{name}-isvc", REGISTRY, "DEPLOYED")
    assert [(t.percent, t.version_uri) for t in served.traffic] == [(100.0, f"mg://{REGISTRY}/{name}/v1")]
    assert served.updated_at is not None
    off = found[f"{name}-off"]
    assert (off.uri, off.status) == (f"team-serving/{name}-off", "UNDEPLOYED")
    assert [(t.percent, t.version_uri) for t in off.traffic] == [(0.0, f"mg://{REGISTRY}/{name}/v2")]
    latest = found[f"{name}-latest"]  # no modelVersionId: the latest version by creation
    assert [(t.percent, t.version_uri) for t in latest.traffic] == [(100.0, f"mg://{REGISTRY}/{name}/v3")]
    # The versions' own deployments name the same endpoints, so the serving state replaces them.
    versions = {v.version: v for v in (await adapter.list_versions(name)).items}
    assert [d.endpoint for d in versions["v1"].deployments] == [served.uri]


async def test_the_gateway_shows_inference_services_and_warns_of_production_not_serving(
    kubeflow_fake: KubeflowServer, tmp_path: Path
) -> None:
    name = unique_name("serving")
    rm = await asyncio.to_thread(register, kubeflow_fake, name, "v1")
    await asyncio.to_thread(register, kubeflow_fake, name, "v2")
    v1 = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v1")
    isvc = await asyncio.to_thread(
        kubeflow_fake.deploy, rm.id, v1.id, f"{name}-isvc", environment="ml-serving"
    )
    await asyncio.to_thread(mark_production, kubeflow_fake, name, "v2")  # PRODUCTION, served by nothing
    token_file = tmp_path / "kf-token"
    token_file.write_text(kubeflow_fake.token)
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    registry = {"id": REGISTRY, "kind": "kubeflow", "team": "ml", "url": kubeflow_fake.base_url}
    settings = make_settings_for(tmp_path, {**registry, "token_file": str(token_file)}, policies)
    gateway = await Gateway.open(settings)

    try:
        assert (await gateway.sync.sync_registry(REGISTRY, full=True)).error is None
        async with served_app(gateway, {ALICE.name: ALICE}) as client:
            endpoint = await one_endpoint(client, f"ml-serving/{name}-isvc")
            assert endpoint == {
                "uri": f"ml-serving/{name}-isvc",
                "name": f"{name}-isvc",
                "status": "DEPLOYED",
                "registry": {"id": REGISTRY},
                "traffic": [
                    {"percent": 100.0, "variant": None, "version": {"uri": f"mg://{REGISTRY}/{name}/v1"}}
                ],
            }
            first = await version(client, f"mg://{REGISTRY}/{name}/v1")
            assert first["stage"] == "PRODUCTION"
            assert first["deployments"] == [
                {
                    "endpoint": f"ml-serving/{name}-isvc",
                    "trafficPercent": 100.0,
                    "registry": REGISTRY,
                    "status": "DEPLOYED",
                }
            ]
            assert NOT_SERVING not in policies_of(first)
            second = await version(client, f"mg://{REGISTRY}/{name}/v2")
            assert (second["stage"], second["deployments"]) == ("PRODUCTION", [])
            assert NOT_SERVING in policies_of(second)

            # KServe takes it down: the next pass reads the endpoint as UNDEPLOYED, serving nothing.
            await asyncio.to_thread(kubeflow_fake.undeploy, isvc["id"])
            assert (await gateway.sync.sync_registry(REGISTRY)).error is None
            endpoint = await one_endpoint(client, f"ml-serving/{name}-isvc")
            assert endpoint["status"] == "UNDEPLOYED" and endpoint["traffic"][0]["percent"] == 0.0
            first = await version(client, f"mg://{REGISTRY}/{name}/v1")
            assert [d["trafficPercent"] for d in first["deployments"]] == [0.0]
    finally:
        await gateway.aclose()


def make_settings_for(tmp_path: Path, registry: dict[str, Any], policies: Path) -> Settings:
    return make_settings(
        f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=[registry], governance={"policies": str(policies)}
    )


async def one_endpoint(client: httpx.AsyncClient, uri: str) -> dict[str, Any]:
    endpoints = data_of(await gql(client, ENDPOINTS, {"r": REGISTRY}))["endpoints"]
    (found,) = [e for e in endpoints if e["uri"] == uri]
    return found  # type: ignore[no-any-return]


async def version(client: httpx.AsyncClient, uri: str) -> dict[str, Any]:
    return data_of(await gql(client, VERSION, {"uri": uri}))["modelVersion"]  # type: ignore[no-any-return]


def policies_of(version: dict[str, Any]) -> set[str]:
    return {v["policy"] for v in version["compliance"]["violations"]}
