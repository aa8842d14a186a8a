"""The adapter seam, proven with a third-party kind: ``acme_registry``
(``tests/adapters/plugin/acme_registry.py``, the example of
``docs/writing-an-adapter.md``) is installed into a directory outside
``adapters/`` as a distribution with a ``modelgate.adapters`` entry point (a
``.dist-info`` with ``entry_points.txt``, as pip leaves it) and put on
``sys.path``. Discovered like any installed kind, it passes the adapter contract
(with its optional capabilities), is searchable with its own ``kindName``, and
its references resolve in lineage, with nothing under ``gateway/`` naming it."""

from __future__ import annotations

import dataclasses
import importlib
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from adapters.base import load_factories
from adapters.protocol import AdapterContext, RegistryAdapter, capability_protocols
from gateway.config import RegistrySettings
from gateway.domain import ModelVersion, Stage
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.adapters.contract import (
    HYPERPARAMETERS,
    LINEAGE,
    METRICS,
    MODEL_DESCRIPTION,
    MODEL_TAGS,
    VERSION_DESCRIPTION,
    VERSION_TAGS,
    AdapterContract,
    SeedModel,
)
from tests.support import data_of, gql, make_settings

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SOURCE = Path(__file__).parent / "plugin" / "acme_registry.py"
ENTRY_POINTS = "[modelgate.adapters]\nacme = acme_registry:factory\n"
METADATA = "Metadata-Version: 2.1\nName: acme-registry\nVersion: 0.1.0\n"


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """acme-registry installed into its own site directory, importable and discoverable."""
    site = tmp_path_factory.mktemp("site-packages")
    shutil.copy(PLUGIN_SOURCE, site / "acme_registry.py")
    info = site / "acme_registry-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(METADATA)
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (info / "RECORD").write_text("")
    sys.path.insert(0, str(site))
    try:
        yield importlib.import_module("acme_registry")
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("acme_registry", None)


def test_the_kind_is_discovered_through_the_entry_point(plugin: ModuleType) -> None:
    factories = load_factories()
    assert "acme" in factories
    registry = RegistrySettings(id="acme-x", kind="acme", options={"account": "x"})
    factories["acme"].validate(registry)
    # It is the installed copy, outside the repository's adapters/ package.
    assert not Path(plugin.__file__).resolve().is_relative_to(REPO / "adapters")


def test_nothing_under_gateway_names_the_plugin() -> None:
    # Neither its module, nor its reference scheme, nor its kind as a word in code.
    names = ("acme_registry", "acme://", '"acme"')
    mentions = [p for p in (REPO / "gateway").rglob("*.py") if any(n in p.read_text() for n in names)]
    assert mentions == []


def test_the_walkthrough_describes_this_plugin_and_every_capability() -> None:
    """``docs/writing-an-adapter.md`` walks through this very example (its entry
    point, its file, its factory's declaration) and names every capability of
    ``adapters.protocol``, so neither drifts from the other unnoticed."""
    walkthrough = (REPO / "docs" / "writing-an-adapter.md").read_text()
    assert 'acme = "acme_registry:factory"' in walkthrough
    assert ENTRY_POINTS.splitlines()[1].replace(" ", "") in walkthrough.replace(" ", "").replace('"', "")
    assert "tests/adapters/plugin/acme_registry.py" in walkthrough
    declared = "class AcmeFactory(ReferenceParser)"
    assert declared in walkthrough and declared in PLUGIN_SOURCE.read_text()
    protocols = [p.__name__ for p in capability_protocols() if p is not RegistryAdapter]
    missing = [name for name in [*protocols, "ReferenceParser"] if f"`{name}`" not in walkthrough]
    assert missing == []


# --- the contract ------------------------------------------------------------------


class AcmeSubject:
    capabilities = {
        VERSION_DESCRIPTION,
        VERSION_TAGS,
        METRICS,
        HYPERPARAMETERS,
        MODEL_TAGS,
        MODEL_DESCRIPTION,
        LINEAGE,
    }
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}

    def __init__(self, plugin: ModuleType, settings: RegistrySettings, adapter: RegistryAdapter):
        self.adapter = adapter
        self.page_size = plugin.PAGE
        self.server = plugin.SERVERS["contract"]
        self.factory = plugin.factory  # a ReferenceParser: the contract parses reference_to's answers
        self.settings = settings

    def reference_to(self, version: ModelVersion) -> str:
        return f"acme://contract/{version.model_name}/v{version.version}"

    async def seed(self, models: list[SeedModel]) -> None:
        for m in models:
            self.server.create_model(m.name, m.description, m.tags)
            for v in m.versions:
                self.server.add_version(
                    m.name,
                    v.artifact_uri,
                    description=v.description,
                    labels=v.tags,
                    metrics=v.metrics,
                    params=v.params,
                    datasets=v.datasets,
                )

    async def touch(self, model_name: str) -> None:
        self.server.add_version(model_name, "s3://contract-bucket/touched")


class TestAcmePluginContract(AdapterContract):
    @pytest.fixture
    def subject(self, plugin: ModuleType, tmp_path: Path) -> AcmeSubject:
        registry = RegistrySettings(id="acme-contract", kind="acme", options={"account": "contract"})
        context = AdapterContext(database=None, artifacts_dir=tmp_path)  # type: ignore[arg-type]
        return AcmeSubject(plugin, registry, load_factories()["acme"].create(registry, context))


# --- through the whole gateway -------------------------------------------------------


@pytest.fixture
async def client(
    plugin: ModuleType, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    server = plugin.SERVERS["fraud-team"] = plugin.AcmeServer()  # fresh per database
    server.create_model("acme-fraud-scorer", "Scores card payments", {"domain": "payments"})
    server.add_version("acme-fraud-scorer", "s3://acme/fraud/1")
    server.add_version("acme-fraud-scorer", "s3://acme/fraud/2")
    settings = make_settings(database_url, tmp_path)
    acme = RegistrySettings(id="acme-1", kind="acme", team="fraud", options={"account": "fraud-team"})
    settings = dataclasses.replace(settings, registries=(*settings.registries, acme))
    gw = await Gateway.open(settings)  # entry-point discovery, as in production
    await gw.sync.sync_all(full=True)
    app = create_app(settings, gateway=gw, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield gw, http
    await gw.aclose()


async def query(http: httpx.AsyncClient, document: str, **variables: Any) -> dict[str, Any]:
    return data_of(await gql(http, document, variables))


async def test_a_plugin_registry_is_searchable_with_its_own_kind_name(
    client: tuple[Gateway, httpx.AsyncClient],
) -> None:
    _, http = client
    registries = (await query(http, "{ registries { id kind kindName } }"))["registries"]
    by_id = {r["id"]: r for r in registries}
    assert by_id["acme-1"] == {"id": "acme-1", "kind": "OTHER", "kindName": "acme"}
    assert by_id["platform"] == {"id": "platform", "kind": "NATIVE", "kindName": "native"}
    found = await query(
        http,
        "query($q: String) { models(query: $q) { totalCount edges { node { uri team latestVersion { version } } } } }",
        q="fraud scorer",
    )
    nodes = [e["node"] for e in found["models"]["edges"]]
    assert {
        "uri": "mg://acme-1/acme-fraud-scorer",
        "team": "fraud",
        "latestVersion": {"version": "2"},
    } in nodes


async def test_plugin_references_resolve_in_lineage(client: tuple[Gateway, httpx.AsyncClient]) -> None:
    gw, http = client
    register = """mutation($input: RegisterVersionInput!) {
      registerModelVersion(input: $input) { uri parent { uri } } }"""
    tuned = (
        await query(
            http,
            register,
            input={
                "registry": "platform",
                "model": "fraud-tuned",
                "artifactUri": "s3://platform/fraud-tuned/1",
                "parent": "acme://fraud-team/acme-fraud-scorer/v2",
            },
        )
    )["registerModelVersion"]
    assert tuned["parent"] == {"uri": "mg://acme-1/acme-fraud-scorer/2"}
    lineage = """query($u: String!) { lineage(uri: $u, direction: DOWNSTREAM, depth: 1) {
      edges { source target relation } } }"""
    downstream = (await query(http, lineage, u="acme://fraud-team/acme-fraud-scorer/v2"))["lineage"]
    assert {
        "source": tuned["uri"],
        "target": "mg://acme-1/acme-fraud-scorer/2",
        "relation": "DERIVED_FROM",
    } in (downstream["edges"])
    # Another account's reference names no configured registry: kept as an external parent.
    assert await gw.lineage.resolve("acme://elsewhere/acme-fraud-scorer/v2") is None
    assert (
        await gw.lineage.resolve("acme://fraud-team/acme-fraud-scorer/v1")
        == "mg://acme-1/acme-fraud-scorer/1"
    )
