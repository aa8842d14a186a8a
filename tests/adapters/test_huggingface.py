"""The Hugging Face Hub adapter against the fake Hub (``tests/fakes/huggingface``),
seeded with the real ``huggingface_hub.HfApi`` (``create_repo``, ``upload_file`` of a
README whose front matter is the card, ``create_tag``), as a team publishes models.
Every answer the fake gives must parse with the client's own types (``hub_fake``
fails the test otherwise), and the client's own reads check what the adapter wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tenacity import RetryCallState

from adapters.base import RetryPolicy, iterate_pages
from adapters.huggingface import HuggingFaceRegistry, factory, load_settings
from adapters.huggingface.mapping import domain_name
from adapters.toolkit.retry import _backoff
from gateway.config import ConfigError, RegistrySettings
from gateway.domain import Relation, Stage
from gateway.errors import RegistryAuthError, RegistryForbidden, RegistryUnavailable
from tests.adapters.contract import LINEAGE, METRICS, VERSION_TAGS, AdapterContract, SeedModel, unique_name
from tests.servers.huggingface import ORG, HubServer

REGISTRY = "hub"
FAST_RETRY = RetryPolicy(attempts=4, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)
PAGE = 3


def make_adapter(
    server: HubServer, *, environ: dict[str, str] | None = None, **options: Any
) -> HuggingFaceRegistry:
    registry = RegistrySettings(id=REGISTRY, kind="huggingface", team="ml", options=server.options(**options))
    settings = load_settings(registry, environ=server.environ if environ is None else environ)
    return HuggingFaceRegistry(REGISTRY, settings, team="ml", retry=FAST_RETRY)


@pytest.fixture
async def adapter(hub_fake: HubServer) -> AsyncIterator[HuggingFaceRegistry]:
    hub = make_adapter(hub_fake, page_size=PAGE, include_main=False)
    yield hub
    await hub.aclose()


def model_index(name: str, metrics: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "results": [
                {
                    "task": {"type": "text-classification"},
                    "dataset": {"name": "holdout", "type": "holdout"},
                    "metrics": [{"type": k, "value": v} for k, v in metrics.items()],
                }
            ],
        }
    ]


class HubSubject:
    """Versions are ``v<i>.0.0`` tags on successive README commits. The Hub names a
    model ``<org>/<name>`` and its artifact by commit, so ``seed`` records the
    catalogue's spelling of both in the seed (what the registry made of it)."""

    capabilities = {VERSION_TAGS, METRICS, LINEAGE}
    writable_stages = {Stage.STAGING, Stage.PRODUCTION}
    page_size = PAGE

    def __init__(self, adapter: HuggingFaceRegistry, server: HubServer):
        self.adapter = adapter
        self.server = server

    def _seed(self, models: list[SeedModel]) -> None:
        for m in models:
            repo = f"{ORG}/{m.name}"
            for i, v in enumerate(m.versions):
                card: dict[str, Any] = {
                    "license": "apache-2.0",
                    "tags": [f"{k}:{value}" for k, value in v.tags.items()],
                    "model-index": model_index(m.name, v.metrics),
                }
                if v.datasets:
                    card["datasets"] = v.datasets
                commit = self.server.publish(repo, card, message=f"version {i + 1}")
                self.server.tag(repo, f"v{i + 1}.0.0", commit)
                v.artifact_uri = f"hf://{repo}@{commit}"
            m.name = domain_name(repo)

    async def seed(self, models: list[SeedModel]) -> None:
        await asyncio.to_thread(self._seed, models)

    async def touch(self, model_name: str) -> None:
        repo = model_name.replace("%2F", "/")
        await asyncio.to_thread(self.server.publish, repo, {"license": "mit"}, message="touch")


class TestHuggingFaceContract(AdapterContract):
    @pytest.fixture
    def subject(self, adapter: HuggingFaceRegistry, hub_fake: HubServer) -> HubSubject:
        return HubSubject(adapter, hub_fake)


# --- reads ---------------------------------------------------------------------


async def test_versions_follow_the_tag_convention_and_read_the_card(hub_fake: HubServer) -> None:
    repo = f"{ORG}/{unique_name('card')}"
    card = {
        "license": "llama3.1",
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "base_model": ["meta-llama/Llama-3.1-8B", f"{ORG}/adapter-base"],
        "datasets": ["acme-ml/support-tickets", "s3://acme-data/extra"],
        "tags": ["chat", "domain:support"],
        "model-index": model_index("tuned", {"accuracy": 0.91, "f1": 0.88}),
    }
    first = await asyncio.to_thread(hub_fake.publish, repo, card)
    await asyncio.to_thread(hub_fake.tag, repo, "v1.0.0", first)
    await asyncio.to_thread(hub_fake.tag, repo, "experiment-3", first)  # not a version: outside v*
    second = await asyncio.to_thread(
        hub_fake.publish, repo, {**card, "base_model": "meta-llama/Llama-3.1-8B"}
    )
    await asyncio.to_thread(hub_fake.tag, repo, "v1.1.0", second)
    await asyncio.to_thread(hub_fake.tag, repo, "prod", first)
    await asyncio.to_thread(hub_fake.tag, repo, "staging", second)
    hub = make_adapter(hub_fake)
    try:
        versions = [v async for v in iterate_pages(lambda t: hub.list_versions(domain_name(repo), t))]
        by_name = {v.version: v for v in versions}
        assert [v.version for v in versions] == ["v1.0.0", "v1.1.0", "main"]  # oldest commit first
        v1 = by_name["v1.0.0"]
        assert (v1.stage, v1.native_stage) == (Stage.PRODUCTION, "prod")
        assert (by_name["v1.1.0"].stage, by_name["v1.1.0"].native_stage) == (Stage.STAGING, "staging")
        assert by_name["main"].artifact_uri == f"hf://{repo}@{second}"  # main is at the second commit
        assert v1.artifact_uri == f"hf://{repo}@{first}" and v1.semver == "1.0.0"
        assert v1.parent == "hf://meta-llama/Llama-3.1-8B"
        assert v1.tags["base_model"] == f"meta-llama/Llama-3.1-8B,{ORG}/adapter-base"
        assert [(d.uri, d.role) for d in v1.training_data] == [
            ("hf://datasets/acme-ml/support-tickets", "training"),
            ("s3://acme-data/extra", "training"),
        ]
        assert dict(v1.metrics) == pytest.approx({"accuracy": 0.91, "f1": 0.88})
        assert {k: v1.tags[k] for k in ("license", "pipeline_tag", "library_name", "chat", "domain")} == {
            "license": "llama3.1",
            "pipeline_tag": "text-generation",
            "library_name": "transformers",
            "chat": "true",
            "domain": "support",
        }
        edges = await hub.lineage(v1)
        parents = {e.target.uri for e in edges if e.relation is Relation.DERIVED_FROM}
        assert parents == {"hf://meta-llama/Llama-3.1-8B", f"hf://{ORG}/adapter-base"}
        assert await hub.get_version(domain_name(repo), "experiment-3") is None
        assert await hub.get_version(domain_name(repo), "prod") is None  # a stage tag is no version
        model = await hub.get_model(domain_name(repo))
        assert model is not None and model.tags["pipeline_tag"] == "text-generation"
        assert model.tags["license"] == "llama3.1"
    finally:
        await hub.aclose()


async def test_only_configured_repositories_are_models(hub_fake: HubServer) -> None:
    mine = f"{ORG}/{unique_name('listed')}"
    theirs = f"other-org/{unique_name('theirs')}"
    for repo in (mine, theirs):
        await asyncio.to_thread(hub_fake.publish, repo, {"license": "mit"})
    hub = make_adapter(hub_fake, organization=None, repositories=[theirs])
    try:
        names = [m.name async for m in iterate_pages(hub.list_models)]
        assert names == [domain_name(theirs)]
        assert await hub.get_model(domain_name(mine)) is None  # exists on the Hub, not configured
        assert await hub.get_model(theirs) is None  # only the %2F spelling is a name
    finally:
        await hub.aclose()


def test_the_fake_pages_as_the_client_expects(hub_fake: HubServer) -> None:
    """The real client follows the fake's ``Link`` headers to the end."""
    stem = unique_name("linkpaged")
    repos = [f"{ORG}/{stem}-{i}" for i in range(5)]
    for repo in repos:
        hub_fake.client.create_repo(repo)
    hub_fake.fake.max_limit = 2
    since = len(hub_fake.fake.requests)
    seen = [m.id for m in hub_fake.client.list_models(author=ORG, search=stem)]
    assert seen == repos
    cursors = [r for r in hub_fake.fake.requests[since:] if r.path == "/api/models" and "cursor=" in r.query]
    assert len(cursors) == 2


# --- rate limits, auth, errors ---------------------------------------------------


async def test_a_throttled_read_waits_and_succeeds(hub_fake: HubServer, adapter: HuggingFaceRegistry) -> None:
    seen = len(hub_fake.fake.requests)
    hub_fake.fake.throttle_next = 1
    page = await adapter.list_models()
    assert page.items  # the second attempt got through
    assert len(hub_fake.fake.requests) - seen == 2


def test_the_retry_waits_as_long_as_the_registry_asks() -> None:
    policy = RetryPolicy(attempts=4, deadline_seconds=30.0, initial_wait=0.01, max_wait=0.05)
    wait = _backoff(policy)
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.set_exception(
        (RegistryUnavailable, RegistryUnavailable("hub", "slow down", retryAfterSeconds=7.0), None)
    )
    assert wait(state) == 7.0
    state.set_exception((RegistryUnavailable, RegistryUnavailable("hub", "flaky"), None))
    assert wait(state) <= 0.05
    short = _backoff(RetryPolicy(deadline_seconds=2.0))
    state.set_exception(
        (RegistryUnavailable, RegistryUnavailable("hub", "slow down", retryAfterSeconds=60.0), None)
    )
    assert short(state) <= 2.0  # never past the deadline


async def test_a_refused_token_is_cannot_authenticate_and_never_echoed(hub_fake: HubServer) -> None:
    hub = make_adapter(hub_fake, environ={"HF_TOKEN": "hf_not-a-real-token"})
    try:
        health = await hub.health()
        assert not health.ok and health.detail and "cannot authenticate" in health.detail
        with pytest.raises(RegistryAuthError) as caught:
            await hub.list_models()
        assert "hf_not-a-real-token" not in str(caught.value)
        assert "hf_not-a-real-token" not in repr(caught.value.as_extensions())
    finally:
        await hub.aclose()


async def test_a_refused_tag_is_a_failed_write_and_the_old_stage_stands(
    hub_fake: HubServer, adapter: HuggingFaceRegistry
) -> None:
    repo = f"{ORG}/{unique_name('refused')}"
    first = await asyncio.to_thread(hub_fake.publish, repo, {"license": "mit"})
    await asyncio.to_thread(hub_fake.tag, repo, "v1", first)
    second = await asyncio.to_thread(hub_fake.publish, repo, {"license": "mit"}, message="two")
    await asyncio.to_thread(hub_fake.tag, repo, "v2", second)
    await asyncio.to_thread(hub_fake.tag, repo, "prod", first)
    v2 = await adapter.get_version(domain_name(repo), "v2")
    assert v2 is not None and v2.stage is Stage.DRAFT
    hub_fake.fake.fail_tag_create = [403]
    with pytest.raises(RegistryForbidden, match="tag creation refused"):
        await adapter.set_stage(v2, Stage.PRODUCTION, actor="alice")
    refs = await asyncio.to_thread(hub_fake.client.list_repo_refs, repo)
    assert {t.name: t.target_commit for t in refs.tags}["prod"] == first  # put back


async def test_a_promotion_moves_the_tag_and_draft_removes_it(
    hub_fake: HubServer, adapter: HuggingFaceRegistry
) -> None:
    repo = f"{ORG}/{unique_name('moved')}"
    first = await asyncio.to_thread(hub_fake.publish, repo, {"license": "mit"})
    await asyncio.to_thread(hub_fake.tag, repo, "v1", first)
    second = await asyncio.to_thread(hub_fake.publish, repo, {"license": "mit"}, message="two")
    await asyncio.to_thread(hub_fake.tag, repo, "v2", second)
    await asyncio.to_thread(hub_fake.tag, repo, "prod", first)
    v2 = await adapter.get_version(domain_name(repo), "v2")
    assert v2 is not None
    promoted = await adapter.set_stage(v2, Stage.PRODUCTION, actor="alice")
    assert (promoted.stage, promoted.native_stage) == (Stage.PRODUCTION, "prod")
    refs = await asyncio.to_thread(hub_fake.client.list_repo_refs, repo)
    assert {t.name: t.target_commit for t in refs.tags}["prod"] == second  # as the Hub's client sees it
    v1 = await adapter.get_version(domain_name(repo), "v1")
    assert v1 is not None and v1.stage is Stage.DRAFT
    demoted = await adapter.set_stage(promoted, Stage.DRAFT, actor="alice")
    assert demoted.stage is Stage.DRAFT
    refs = await asyncio.to_thread(hub_fake.client.list_repo_refs, repo)
    assert "prod" not in {t.name for t in refs.tags}


# --- options and references --------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "key", "words"),
    [
        ({}, "registries[0].organization", "organization and/or repositories"),
        ({"organization": "acme", "token": "hf_x"}, "registries[0].token", "never inline"),
        ({"repositories": ["no-slash"]}, "registries[0].repositories[0]", "namespace/name"),
        ({"organization": "acme", "token_env": "NOPE"}, "registries[0].token_env", "not set"),
        ({"organization": "acme", "page_size": 0}, "registries[0].page_size", "between"),
        ({"organization": "acme", "endpoint": "ftp://hub"}, "registries[0].endpoint", "http(s)"),
        ({"organization": "acme", "staging_tags": ["prod"]}, "registries[0].staging_tags", "production tag"),
        ({"organization": "acme", "tag_pattern": "v*"}, "registries[0].tag_pattern", ""),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], key: str, words: str) -> None:
    registry = RegistrySettings(id="hub", kind="huggingface", options=options)
    with pytest.raises(ConfigError) as caught:
        load_settings(registry, environ={})
    assert caught.value.key == key and words in str(caught.value)


def test_the_token_comes_from_a_file(tmp_path: Any) -> None:
    secret = tmp_path / "hf-token"
    secret.write_text("hf_from_file\n")
    registry = RegistrySettings(
        id="hub", kind="huggingface", options={"organization": "acme", "token_file": str(secret)}
    )
    assert load_settings(registry, environ={}).token == "hf_from_file"


def test_hub_references_resolve_to_the_registry_that_owns_the_repository() -> None:
    registry = RegistrySettings(
        id="hub",
        kind="huggingface",
        options={"organization": "acme", "repositories": ["meta-llama/Llama-3.1-8B"]},
    )
    match = factory.parse_reference("hf://acme/base@v1.2.0", registry)
    assert match is not None and (match.model_name, match.version) == ("acme%2Fbase", "v1.2.0")
    by_commit = factory.parse_reference("hf://acme/base@" + "a" * 40, registry)
    assert by_commit is not None and by_commit.version is None  # a commit names the model
    url = factory.parse_reference("https://huggingface.co/meta-llama/Llama-3.1-8B/tree/main", registry)
    assert url is not None and (url.model_name, url.version) == ("meta-llama%2FLlama-3.1-8B", "main")
    assert factory.parse_reference("hf://someone/else", registry) is None
    assert factory.parse_reference("hf://datasets/acme/data", registry) is None
    assert not factory.is_reference("acme/base")  # bare names only in a card's base_model
    assert factory.bare_reference("acme/base") == "hf://acme/base"
    assert factory.canonical_reference("https://hf.co/someone/else/tree/v2") == "hf://someone/else"


def test_the_client_reads_the_fake_s_card_at_a_revision(hub_fake: HubServer) -> None:
    """``HfApi.model_info(revision=…)`` parses the fake's answer into ``ModelCardData``
    as it parses the Hub's: each revision's own card, and its refs."""
    repo = f"{ORG}/{unique_name('clientread')}"
    first = hub_fake.publish(repo, {"base_model": "meta-llama/Llama-3.1-8B", "license": "mit"})
    hub_fake.tag(repo, "v1.0.0", first)
    hub_fake.publish(repo, {"base_model": "mistralai/Mistral-7B-v0.3", "license": "mit"}, message="two")
    info = hub_fake.client.model_info(repo, revision="v1.0.0")
    assert info.sha == first and info.card_data is not None
    assert info.card_data.base_model == "meta-llama/Llama-3.1-8B"
    assert hub_fake.client.model_info(repo).card_data.base_model == "mistralai/Mistral-7B-v0.3"
    refs = hub_fake.client.list_repo_refs(repo)
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1.0.0", "refs/tags/v1.0.0", first)]
