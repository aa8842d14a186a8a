"""The adapter contract: what every registry adapter must do, tested the same way.

To put an adapter through it, subclass ``AdapterContract`` in a test module and
provide a ``subject`` fixture returning an ``AdapterSubject``: the adapter under
test plus a way to populate the *real* registry (or its faithful fake) behind it
with that registry's own client, as a team would. Registries differ in what a
version can carry; a subject lists what it supports in ``capabilities`` and the
contract checks exactly those.

Model names are unique per test (``unique_name``), so a registry server can be
shared by the whole test session.

Optional subject members (read with defaults, so older subjects keep working):
``page_size`` (the most models or versions the subject's adapter returns per
page; the paging checks seed one more than that and skip without it),
``several_production`` (a reason, for a kind whose registry cannot be made to
keep a single PRODUCTION version per model: the one-production check then skips
saying so), and the ``LINEAGE`` capability (``seed`` records
``SeedVersion.datasets`` as training data, which ``lineage`` must then return). Error
translation is checked for every adapter against one table in
``tests/adapters/test_error_taxonomy.py``.

Each optional capability of ``adapters.protocol`` the adapter declares is checked
against its documented promise, and skipped only when the adapter does not
declare it. Some need the subject's help, which it then must give:
``webhook_delivery(model_name) -> (headers, body)`` (a ``WebhookReceiver``: a
genuine delivery about the model), ``serve(version) -> endpoint name`` (a
``ServingReader``: an endpoint serving the version with all its traffic), and
``factory``, ``settings`` and ``reference_to(version) -> str`` (a factory that is a
``ReferenceParser``: the kind's own reference to the version). A subject whose
server cannot do what one capability needs names it in ``server_lacks``
(capability name → why, and where that capability is tested instead).

``ReferenceParser`` has a server-free half too, run for every installed kind that
declares it with that kind's real reference shapes (own, foreign, malformed):
``tests/adapters/reference_contract.py``, driven by ``test_reference_contract.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import pytest

from adapters.base import iterate_pages, source_url_of
from adapters.protocol import (
    BatchVersionReader,
    BulkVersionLister,
    CandidateDeployer,
    ChangeSet,
    DetailFiller,
    EndpointDescriber,
    ErrorRateReader,
    Health,
    MetricHistoryReader,
    Page,
    PromotionContext,
    ReferenceParser,
    RegistrationRequest,
    RegistryAdapter,
    ServingReader,
    SourceLinker,
    TrafficController,
    VersionRegistrar,
    WebhookReceiver,
    WebhookRejected,
)
from gateway.bom.cyclonedx import cyclonedx_document
from gateway.bom.facts import BomFacts
from gateway.bom.spdx import spdx_document
from gateway.domain import Endpoint, LineageEdge, Model, ModelVersion, Relation, Stage
from tests.bom.validation import cyclonedx_errors, spdx_errors

T = TypeVar("T")

# Capabilities a subject may declare.
VERSION_DESCRIPTION = "version_description"
VERSION_TAGS = "version_tags"
METRICS = "metrics"
HYPERPARAMETERS = "hyperparameters"
MODEL_TAGS = "model_tags"
MODEL_DESCRIPTION = "model_description"
LINEAGE = "lineage"  # seed() records SeedVersion.datasets; lineage() returns them


@dataclass
class SeedVersion:
    artifact_uri: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)  # training data URIs (LINEAGE subjects)


@dataclass
class SeedModel:
    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    versions: list[SeedVersion] = field(default_factory=list)


class AdapterSubject(Protocol):
    adapter: RegistryAdapter
    capabilities: set[str]
    writable_stages: set[Stage]  # stages ``set_stage`` can write to this registry

    async def seed(self, models: list[SeedModel]) -> None:
        """Create these models and versions in the registry, with its own client."""

    async def touch(self, model_name: str) -> None:
        """Change the model in the registry (e.g. add a version or a tag)."""


def page_size_of(subject: AdapterSubject) -> int:
    size = getattr(subject, "page_size", None)
    if not size:
        pytest.skip("the subject declares no page_size: paging past one page is not forced")
    return int(size)


async def _pages(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> list[Page[T]]:
    pages, token = [], None
    while True:
        page = await fetch(token)
        pages.append(page)
        if not page.next_token:
            return pages
        assert len(pages) < 10_000, "paging does not end"
        token = page.next_token


def unique_name(stem: str = "model") -> str:
    return f"ct-{stem}-{uuid.uuid4().hex[:8]}"


def _seed(stem: str, versions: int = 2) -> SeedModel:
    name = unique_name(stem)
    return SeedModel(
        name=name,
        description=f"{stem} model for the contract suite",
        tags={"team": "contract", "purpose": stem},
        versions=[
            SeedVersion(
                artifact_uri=f"s3://contract-bucket/{name}/v{i + 1}/model.tar.gz",
                description=f"version {i + 1} of {name}",
                tags={"build": str(i + 1)},
                metrics={"auc": 0.8 + i / 100},
                params={"max_depth": str(4 + i)},
            )
            for i in range(versions)
        ],
    )


async def _all_versions(adapter: RegistryAdapter, name: str) -> list[ModelVersion]:
    return [v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]


class AdapterContract:
    """Subclass and provide an async ``subject`` fixture."""

    @pytest.fixture
    def subject(self) -> AdapterSubject:  # pragma: no cover - overridden
        raise NotImplementedError("provide a subject fixture")

    async def test_lists_every_seeded_model_once(self, subject: AdapterSubject) -> None:
        seeds = [_seed("list", versions=1) for _ in range(3)]
        await subject.seed(seeds)
        names = [m.name async for m in iterate_pages(subject.adapter.list_models)]
        assert len(names) == len(set(names)), "a model appeared on two pages"
        assert {s.name for s in seeds} <= set(names)

    async def test_get_model_carries_registry_fields(self, subject: AdapterSubject) -> None:
        seed = _seed("get")
        await subject.seed([seed])
        model = await subject.adapter.get_model(seed.name)
        assert isinstance(model, Model)
        assert model.name == seed.name
        assert model.registry_id == subject.adapter.registry_id
        assert model.uri == f"mg://{subject.adapter.registry_id}/{seed.name}"
        if MODEL_DESCRIPTION in subject.capabilities:
            assert model.description == seed.description
        if MODEL_TAGS in subject.capabilities:
            for key, value in seed.tags.items():
                assert model.tags.get(key) == value
        assert model.created_at is not None and model.created_at.tzinfo is UTC

    async def test_get_model_missing_is_none(self, subject: AdapterSubject) -> None:
        assert await subject.adapter.get_model(unique_name("missing")) is None

    async def test_lists_every_version(self, subject: AdapterSubject) -> None:
        seed = _seed("versions", versions=3)
        await subject.seed([seed])
        versions = await _all_versions(subject.adapter, seed.name)
        assert len(versions) == 3
        assert len({v.version for v in versions}) == 3
        assert all(v.model_name == seed.name for v in versions)
        assert {v.artifact_uri for v in versions} == {s.artifact_uri for s in seed.versions}

    async def test_get_version_details(self, subject: AdapterSubject) -> None:
        seed = _seed("detail", versions=2)
        await subject.seed([seed])
        listed = await _all_versions(subject.adapter, seed.name)
        by_artifact = {v.artifact_uri: v for v in listed}
        for expected in seed.versions:
            summary = by_artifact[expected.artifact_uri]
            version = await subject.adapter.get_version(seed.name, summary.version)
            assert version is not None
            assert version.uri == f"mg://{subject.adapter.registry_id}/{seed.name}/{summary.version}"
            assert version.artifact_uri == expected.artifact_uri
            assert isinstance(version.stage, Stage)
            assert version.created_at is not None and version.created_at.tzinfo is UTC
            if VERSION_DESCRIPTION in subject.capabilities:
                assert version.description == expected.description
            if VERSION_TAGS in subject.capabilities:
                for key, value in expected.tags.items():
                    assert version.tags.get(key) == value
            if METRICS in subject.capabilities:
                assert dict(version.metrics) == pytest.approx(expected.metrics)
            if HYPERPARAMETERS in subject.capabilities:
                for key, value in expected.params.items():
                    assert version.hyperparameters.get(key) == value

    async def test_get_version_missing_is_none(self, subject: AdapterSubject) -> None:
        seed = _seed("noversion", versions=1)
        await subject.seed([seed])
        assert await subject.adapter.get_version(seed.name, "9999") is None
        assert await subject.adapter.get_version(unique_name("missing"), "1") is None

    async def test_set_stage_is_written_to_the_registry(self, subject: AdapterSubject) -> None:
        seed = _seed("stage", versions=2)
        await subject.seed([seed])
        first, second = sorted(await _all_versions(subject.adapter, seed.name), key=lambda v: v.created_at)
        for stage in (Stage.STAGING, Stage.PRODUCTION):
            if stage not in subject.writable_stages:
                continue
            returned = await subject.adapter.set_stage(second, stage, PromotionContext("contract-suite"))
            assert returned.stage is stage
            assert returned.native_stage  # the registry's own word survives
            reread = await subject.adapter.get_version(seed.name, second.version)
            assert reread is not None and reread.stage is stage
        untouched = await subject.adapter.get_version(seed.name, first.version)
        assert untouched is not None and untouched.stage is Stage.DRAFT

    async def test_a_production_write_leaves_exactly_one_production_version(
        self, subject: AdapterSubject
    ) -> None:
        """What ``modelgate.multiple-production`` warns about must never be the result
        of modelgate's own write: PRODUCTION moves off the version that held it,
        also back to a version it was moved off."""
        if Stage.PRODUCTION not in subject.writable_stages:
            pytest.skip("this registry cannot be written PRODUCTION")
        if reason := getattr(subject, "several_production", None):
            pytest.skip(f"this registry keeps several PRODUCTION versions: {reason}")
        seed = _seed("oneproduction", versions=2)
        await subject.seed([seed])
        by_artifact = {v.artifact_uri: v for v in await _all_versions(subject.adapter, seed.name)}
        first, second = (by_artifact[s.artifact_uri] for s in seed.versions)
        for promoted in (first, second, first):
            await subject.adapter.set_stage(promoted, Stage.PRODUCTION, PromotionContext("contract-suite"))
            listed = await _all_versions(subject.adapter, seed.name)
            production = [v.version for v in listed if v.stage is Stage.PRODUCTION]
            assert production == [promoted.version], f"PRODUCTION after promoting {promoted.version}"
            for v in listed:
                reread = await subject.adapter.get_version(seed.name, v.version)
                assert reread is not None
                assert (reread.stage is Stage.PRODUCTION) == (v.version == promoted.version)

    async def test_changes_since_sees_a_touched_model(self, subject: AdapterSubject) -> None:
        seed = _seed("changes", versions=1)
        await subject.seed([seed])
        start = await subject.adapter.changes_since(None)
        assert isinstance(start, ChangeSet)
        await subject.touch(seed.name)
        later = await subject.adapter.changes_since(start.cursor)
        if later.changed is not None:  # None means "list everything": always correct
            assert seed.name in later.changed

    async def test_lineage_returns_edges_from_this_version(self, subject: AdapterSubject) -> None:
        seed = _seed("lineage", versions=1)
        await subject.seed([seed])
        (version,) = await _all_versions(subject.adapter, seed.name)
        edges = await subject.adapter.lineage(version)
        assert all(isinstance(e, LineageEdge) for e in edges)
        assert all(version.uri in (e.source.uri, e.target.uri) for e in edges)

    async def test_health_is_ok(self, subject: AdapterSubject) -> None:
        health = await subject.adapter.health()
        assert isinstance(health, Health)
        assert health.ok, health.detail

    # --- paging, the bulk lister, ARCHIVED, seeded lineage -------------------------

    async def test_model_listing_follows_tokens_past_one_page(self, subject: AdapterSubject) -> None:
        size = page_size_of(subject)
        seeds = [_seed("paged", versions=1) for _ in range(size + 1)]
        await subject.seed(seeds)
        pages = await _pages(subject.adapter.list_models)
        assert len(pages) >= 2, "more models than one page holds came back on one page"
        assert all(len(p.items) <= size for p in pages), f"a page held more than page_size={size}"
        names = [m.name for p in pages for m in p.items]
        assert len(names) == len(set(names)), "a model appeared on two pages"
        assert {s.name for s in seeds} <= set(names)

    async def test_version_listing_follows_tokens_past_one_page(self, subject: AdapterSubject) -> None:
        size = page_size_of(subject)
        seed = _seed("manyversions", versions=size + 1)
        await subject.seed([seed])
        pages = await _pages(lambda t: subject.adapter.list_versions(seed.name, t))
        assert len(pages) >= 2, "more versions than one page holds came back on one page"
        versions = [v.version for p in pages for v in p.items]
        assert sorted(versions) == sorted(set(versions)) and len(versions) == size + 1

    async def test_bulk_lister_lists_every_version_once(self, subject: AdapterSubject) -> None:
        if not isinstance(subject.adapter, BulkVersionLister):
            pytest.skip("the adapter has no bulk version listing")
        seeds = [_seed("bulk", versions=2) for _ in range(2)]
        await subject.seed(seeds)
        adapter = subject.adapter
        listed = [v async for v in iterate_pages(adapter.list_all_versions)]
        keys = [(v.model_name, v.version) for v in listed]
        assert len(keys) == len(set(keys)), "the bulk listing returned a version twice"
        for seed in seeds:
            mine = {v.version for v in listed if v.model_name == seed.name}
            assert mine == {v.version for v in await _all_versions(adapter, seed.name)}
            assert len(mine) == len(seed.versions)

    async def test_archived_is_written_to_the_registry(self, subject: AdapterSubject) -> None:
        if Stage.ARCHIVED not in subject.writable_stages:
            pytest.skip("this registry cannot be written ARCHIVED")
        seed = _seed("archive", versions=1)
        await subject.seed([seed])
        (version,) = await _all_versions(subject.adapter, seed.name)
        returned = await subject.adapter.set_stage(
            version, Stage.ARCHIVED, PromotionContext("contract-suite")
        )
        assert returned.stage is Stage.ARCHIVED and returned.native_stage
        reread = await subject.adapter.get_version(seed.name, version.version)
        assert reread is not None and reread.stage is Stage.ARCHIVED

    async def test_lineage_returns_the_seeded_training_data(self, subject: AdapterSubject) -> None:
        if LINEAGE not in subject.capabilities:
            pytest.skip("the subject cannot seed lineage")
        seed = _seed("seededlineage", versions=1)
        datasets = [f"s3://contract-data/{seed.name}/train.parquet"]
        seed.versions[0].datasets = datasets
        await subject.seed([seed])
        (version,) = await _all_versions(subject.adapter, seed.name)
        edges = await subject.adapter.lineage(version)
        trained_on = {e.target.uri for e in edges if e.relation is Relation.TRAINED_ON}
        assert set(datasets) <= trained_on, f"seeded training data missing from lineage: {edges}"
        assert all(e.source.uri == version.uri for e in edges if e.relation is Relation.TRAINED_ON)

    async def test_bom_of_a_seeded_version_validates(self, subject: AdapterSubject) -> None:
        """The version as this registry records it makes BOMs the official schemas
        accept (CycloneDX 1.6, SPDX 3.0.1)."""
        seed = _seed("bom", versions=1)
        if LINEAGE in subject.capabilities:
            seed.versions[0].datasets = [f"s3://contract-data/{seed.name}/train.parquet"]
        await subject.seed([seed])
        (summary,) = await _all_versions(subject.adapter, seed.name)
        version = await subject.adapter.get_version(seed.name, summary.version)
        assert version is not None
        facts = BomFacts(
            version,
            subject.adapter.kind,
            source_url=source_url_of(subject.adapter, version.model_name, version.version),
        )
        assert spdx_errors(spdx_document(facts)) == []
        document = cyclonedx_document(facts)
        assert cyclonedx_errors(document) == []
        model = document["metadata"]["component"]
        assert (model["name"], model["version"]) == (seed.name, version.version)
        if METRICS in subject.capabilities:
            metrics = model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
            assert {m["type"] for m in metrics} >= set(seed.versions[0].metrics)
        # Every dataset the record carries (registries that keep datasets in a lineage
        # API instead, as SageMaker and Vertex do, carry none here).
        datasets = model["modelCard"].get("modelParameters", {}).get("datasets", [])
        assert len(datasets) == len(version.training_data)

    # --- optional capabilities: each checked when the adapter declares it ------------

    async def test_detail_filler_completes_the_brief_listing(self, subject: AdapterSubject) -> None:
        """``DetailFiller``: the brief listing holds the versions of the full one, and
        ``fill_details`` returns them exactly as ``list_all_versions`` does, in order."""
        adapter = _declared(subject, DetailFiller)
        seed = _seed("brief", versions=2)
        await subject.seed([seed])
        full = {
            (v.model_name, v.version): v
            async for v in iterate_pages(adapter.list_all_versions)
            if v.model_name == seed.name
        }
        brief = [v async for v in iterate_pages(adapter.list_all_versions_brief) if v.model_name == seed.name]
        assert {(v.model_name, v.version) for v in brief} == set(full)
        if not adapter.fills_details:
            assert brief == list(full.values()), "without details the brief listing is the whole listing"
            return
        filled = await adapter.fill_details(brief)
        assert filled == [full[(v.model_name, v.version)] for v in brief]
        assert not any(v.partial for v in filled)

    async def test_batch_reader_answers_as_get_version(self, subject: AdapterSubject) -> None:
        """``BatchVersionReader``: one call answers each key as ``get_version`` would,
        leaving out the versions the registry does not have."""
        adapter = _declared(subject, BatchVersionReader)
        seed = _seed("batch", versions=2)
        await subject.seed([seed])
        listed = await _all_versions(subject.adapter, seed.name)
        missing = (seed.name, "9999")
        keys = [(seed.name, v.version) for v in listed] + [missing]
        found = await adapter.get_versions(keys)
        assert set(found) == set(keys) - {missing}
        for name, number in found:
            assert found[(name, number)] == await subject.adapter.get_version(name, number)

    async def test_registrar_commits_its_hook_with_the_version(self, subject: AdapterSubject) -> None:
        """``VersionRegistrar``: ``within`` runs once in the registration's transaction,
        so a hook that fails leaves no version behind; the stage write runs the
        ``PromotionContext`` hooks there too (``demoted`` with the version it moved
        out of PRODUCTION, then ``within``)."""
        adapter = _declared(subject, VersionRegistrar)
        name = unique_name("registrar")
        seen: list[ModelVersion] = []

        async def record(conn: Any, version: ModelVersion) -> None:
            seen.append(version)

        request = RegistrationRequest(name, ModelVersion("", name, "0", artifact_uri="s3://c/1"), "contract")
        first = await adapter.register_version(request, within=record)
        assert seen == [first] and first.model_name == name

        async def refuse(conn: Any, version: ModelVersion) -> None:
            raise RuntimeError("the gateway's own write failed")

        refused = RegistrationRequest(name, ModelVersion("", name, "0", artifact_uri="s3://c/2"), "contract")
        with pytest.raises(RuntimeError):
            await adapter.register_version(refused, within=refuse)
        assert [v.version for v in await _all_versions(subject.adapter, name)] == [first.version]

        second = await adapter.register_version(
            RegistrationRequest(name, ModelVersion("", name, "0", artifact_uri="s3://c/3"), "contract")
        )
        await subject.adapter.set_stage(first, Stage.PRODUCTION, PromotionContext("contract-suite"))
        calls: list[tuple[str, str]] = []

        async def demoted(conn: Any, version: ModelVersion) -> None:
            calls.append(("demoted", version.version))

        async def within(conn: Any, version: ModelVersion) -> None:
            calls.append(("within", version.version))

        context = PromotionContext("contract-suite", within=within, demoted=demoted)
        await subject.adapter.set_stage(second, Stage.PRODUCTION, context)
        assert calls == [("demoted", first.version), ("within", second.version)]

    async def test_metric_history_is_in_step_order_within_the_limit(self, subject: AdapterSubject) -> None:
        """``MetricHistoryReader``: series only for metrics the version has, each in
        step order and at most ``limit`` points, the last one the version's value."""
        adapter = _declared(subject, MetricHistoryReader)
        seed = _seed("history", versions=1)
        await subject.seed([seed])
        (listed,) = await _all_versions(subject.adapter, seed.name)
        version = await subject.adapter.get_version(seed.name, listed.version)
        assert version is not None
        every = await adapter.metric_history(version, None, 10)
        assert set(every) <= set(version.metrics)
        assert set(every) == set(seed.versions[0].metrics), "seeded metrics without a history"
        for key, points in every.items():
            assert 0 < len(points) <= 10
            assert [p.step for p in points] == sorted(p.step for p in points)
            assert points[-1].value == pytest.approx(version.metrics[key])
        assert await adapter.metric_history(version, ["never-logged"], 10) == {}

    async def test_source_link_is_a_web_page(self, subject: AdapterSubject) -> None:
        """``SourceLinker``: pure and never raising; a link is an absolute http(s) URL."""
        adapter = _declared(subject, SourceLinker)
        seed = _seed("link", versions=1)
        await subject.seed([seed])
        (version,) = await _all_versions(subject.adapter, seed.name)
        for link in (adapter.source_url(seed.name), adapter.source_url(seed.name, version.version)):
            assert link is None or (
                urlsplit(link).scheme in ("http", "https") and bool(urlsplit(link).netloc)
            )

    async def test_described_endpoint_carries_no_credentials(self, subject: AdapterSubject) -> None:
        """``EndpointDescriber``: says where the adapter calls, without credentials."""
        adapter = _declared(subject, EndpointDescriber)
        described = adapter.describe_endpoint()
        assert described is None or isinstance(described, str)
        if described:
            parts = urlsplit(described)
            assert parts.password is None and "token" not in parts.query.lower()

    async def test_webhook_names_the_model_and_refuses_forgeries(self, subject: AdapterSubject) -> None:
        """``WebhookReceiver``: a genuine delivery names the model to refresh and
        changes nothing; a delivery that fails verification is ``WebhookRejected``."""
        adapter = _declared(subject, WebhookReceiver)
        deliver = getattr(subject, "webhook_delivery", None)
        assert deliver is not None, "a WebhookReceiver subject provides webhook_delivery(model_name)"
        seed = _seed("hooked", versions=1)
        await subject.seed([seed])
        before = await _all_versions(subject.adapter, seed.name)
        headers, body = deliver(seed.name)
        assert await adapter.handle_webhook(headers, body) == [seed.name]
        with pytest.raises(WebhookRejected):
            await adapter.handle_webhook({}, body)
        with pytest.raises(WebhookRejected):  # every header the delivery is verified by, forged
            await adapter.handle_webhook(dict.fromkeys(headers, "forged"), body)
        assert await _all_versions(subject.adapter, seed.name) == before

    async def test_factory_parses_references_to_its_versions(self, subject: AdapterSubject) -> None:
        """``ReferenceParser`` (on the factory): this kind's own reference to a version
        is recognised and names that version of a registry configured like the subject's;
        a catalogue URI or free text is not this kind's reference."""
        factory = getattr(subject, "factory", None)
        if factory is None:
            pytest.skip("the subject names no factory")
        if not isinstance(factory, ReferenceParser):
            pytest.skip("the factory does not declare ReferenceParser")
        reference_to = getattr(subject, "reference_to", None)
        assert reference_to is not None, "a ReferenceParser subject provides reference_to(version)"
        seed = _seed("referenced", versions=1)
        await subject.seed([seed])
        (version,) = await _all_versions(subject.adapter, seed.name)
        text = reference_to(version)
        assert factory.is_reference(text)
        match = factory.parse_reference(text, subject.settings)
        assert match is not None and match.version == version.version
        assert (match.model_name.lower() if match.case_insensitive else match.model_name) == (
            seed.name.lower() if match.case_insensitive else seed.name
        )
        assert not factory.is_reference(version.uri) and not factory.is_reference("just some words")

    # --- serving: the subject stands up an endpoint (``serve``) ----------------------

    async def _served(self, subject: AdapterSubject, stem: str) -> tuple[str, ModelVersion, ModelVersion]:
        """An endpoint (its name or uri, as ``serve`` says) serving the first of two
        fresh versions with all its traffic; the second is not served."""
        serve = getattr(subject, "serve", None)
        assert serve is not None, "a serving subject provides serve(version) -> endpoint"
        seed = _seed(stem, versions=2)
        await subject.seed([seed])
        by_artifact = {v.artifact_uri: v for v in await _all_versions(subject.adapter, seed.name)}
        first, second = (by_artifact[s.artifact_uri] for s in seed.versions)
        return await serve(first), first, second

    async def test_serving_reader_lists_an_endpoint_and_what_it_serves(self, subject: AdapterSubject) -> None:
        """``ServingReader``: a live endpoint is listed with its traffic split (summing
        to 100), naming the catalogue version a variant serves."""
        adapter = _declared(subject, ServingReader)
        name, served, _ = await self._served(subject, "served")
        (endpoint,) = [e for e in await adapter.list_endpoints() if name in (e.name, e.uri)]
        assert endpoint.registry_id == subject.adapter.registry_id
        assert sum(s.percent for s in endpoint.traffic) == pytest.approx(100)
        assert [s.version_uri for s in endpoint.traffic if s.percent] == [served.uri]

    async def test_traffic_controller_sets_a_split_and_repeating_it_is_harmless(
        self, subject: AdapterSubject
    ) -> None:
        """``TrafficController``: ``endpoint_traffic`` reads the split; setting the
        split the endpoint already has returns the same split."""
        adapter = _declared(subject, TrafficController)
        name, _, _ = await self._served(subject, "traffic")
        current = await adapter.endpoint_traffic(name)
        assert sum(s.percent for s in current.traffic) == pytest.approx(100)
        again = await adapter.set_traffic(name, current.traffic)
        assert _split(again) == _split(current)
        assert _split(await adapter.endpoint_traffic(name)) == _split(current)

    async def test_candidate_deployer_adds_a_variant_with_no_traffic(self, subject: AdapterSubject) -> None:
        """``CandidateDeployer``: the candidate becomes a variant of the endpoint at
        weight 0; what served before keeps all the traffic."""
        adapter = _declared(subject, CandidateDeployer)
        name, served, candidate = await self._served(subject, "candidate")
        endpoint = await adapter.deploy_candidate(name, candidate)
        shares = {s.version_uri: s.percent for s in endpoint.traffic}
        assert shares.get(candidate.uri) == 0 and shares.get(served.uri) == pytest.approx(100)

    async def test_error_rate_is_none_without_traffic(self, subject: AdapterSubject) -> None:
        """``ErrorRateReader``: a variant that served no request has no error rate."""
        adapter = _declared(subject, ErrorRateReader)
        name, _, _ = await self._served(subject, "errors")
        endpoint = await _endpoint(subject.adapter, name)
        variant = next(s.variant for s in endpoint.traffic if s.percent and s.variant)
        end = datetime.now(UTC)
        assert await adapter.error_rate(name, variant, end - timedelta(minutes=10), end) is None


C = TypeVar("C")


def _declared(subject: AdapterSubject, capability: type[C]) -> C:
    """The subject's adapter as ``capability``, or a skip when it does not declare it
    (or when the subject's server cannot do what it needs: ``server_lacks``)."""
    if not isinstance(subject.adapter, capability):
        pytest.skip(f"the adapter does not declare {capability.__name__}")
    if reason := getattr(subject, "server_lacks", {}).get(capability.__name__):
        pytest.skip(f"{capability.__name__} is not checked on this server: {reason}")
    return subject.adapter


def _split(endpoint: Endpoint) -> dict[str | None, float]:
    return {s.variant or s.version_uri: s.percent for s in endpoint.traffic}


async def _endpoint(adapter: RegistryAdapter, name: str) -> Endpoint:
    if isinstance(adapter, TrafficController):
        return await adapter.endpoint_traffic(name)
    assert isinstance(adapter, ServingReader)
    (found,) = [e for e in await adapter.list_endpoints() if name in (e.name, e.uri)]
    return found
