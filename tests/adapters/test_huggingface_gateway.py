"""A Hugging Face Hub registry federated through the gateway: config, sync, GraphQL
finds its versions with the stage their tags give, an approved promotion moves the
Hub's tag (as the Hub's own client then sees it), and lineage crosses registries:
native fine-tunes whose parent is an ``hf://`` reference, or whose tags carry the
card's ``base_model``, are in the ``impact`` of the Hub base model, configured or
external."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from adapters.huggingface.mapping import domain_name
from gateway.auth.principal import Principal
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.adapters.contract import unique_name
from tests.servers.huggingface import ORG, HubServer
from tests.support import data_of, gql, make_settings, request_and_approve, served_gateway

REGISTRY = "hub"
POLICIES = """
policies: []
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD]
"""
ALICE = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))
BOB = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))
REGISTER = "mutation($input: RegisterVersionInput!) { registerModelVersion(input: $input) { uri } }"
IMPACT = "query($u: String!) { impact(uri: $u) { uri } }"


async def test_gateway_federates_the_hub_and_links_fine_tunes(hub_fake: HubServer, tmp_path: Path) -> None:
    stem = unique_name("base")
    repo = f"{ORG}/{stem}"
    card = {"license": "apache-2.0", "pipeline_tag": "text-generation", "datasets": ["acme-ml/pile"]}
    first = await asyncio.to_thread(hub_fake.publish, repo, card)
    await asyncio.to_thread(hub_fake.tag, repo, "v1.0.0", first)
    await asyncio.to_thread(hub_fake.tag, repo, "prod", first)
    second = await asyncio.to_thread(hub_fake.publish, repo, card, message="v2")
    await asyncio.to_thread(hub_fake.tag, repo, "v2.0.0", second)
    token_file = tmp_path / "hf-token"
    token_file.write_text(hub_fake.token)
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    hub = {
        "id": REGISTRY,
        "kind": "huggingface",
        "team": "ml",
        "endpoint": hub_fake.endpoint,
        "repositories": [repo],  # one repository of the shared fake's organisation
        "token_file": str(token_file),
    }
    native = {"id": "platform", "kind": "native", "team": "ml"}
    settings = make_settings(
        f"sqlite:///{tmp_path}/mg.db",
        tmp_path,
        registries=[native, hub],
        governance={"policies": str(policies)},
    )
    model = f"mg://{REGISTRY}/{domain_name(repo)}"
    async with served_gateway(settings, {"alice": ALICE, "bob": BOB}) as (gateway, client):
        tuned: dict[str, str] = {}
        for key, extra in {
            "by_parent": {"parent": f"hf://{repo}@v1.0.0"},
            "by_card": {"tags": [{"key": "base_model", "value": repo}]},
            "external": {"tags": [{"key": "base_model", "value": "meta-llama/Llama-3.1-8B"}]},
        }.items():
            variables = {
                "input": {
                    "registry": "platform",
                    "model": f"{stem}-{key}",
                    "artifactUri": f"s3://acme-models/{stem}-{key}/1",
                    **extra,
                }
            }
            tuned[key] = data_of(await gql(client, REGISTER, variables))["registerModelVersion"]["uri"]
        for registry in (REGISTRY, "platform"):
            result = await gateway.sync.sync_registry(registry, full=True)
            assert result.error is None, result.error

        found = data_of(
            await gql(
                client,
                "query($u: String!) { model(uri: $u) { sourceUrl versions { edges { node { version stage nativeStage sourceUrl } } } } }",
                {"u": model},
            )
        )["model"]
        assert found["sourceUrl"] == f"{hub_fake.endpoint}/{repo}"  # the Hub's own page
        versions = found["versions"]["edges"]
        assert {(e["node"]["version"], e["node"]["stage"], e["node"]["nativeStage"]) for e in versions} == {
            ("v1.0.0", "PRODUCTION", "prod"),
            ("v2.0.0", "DRAFT", None),
            ("main", "DRAFT", None),
        }
        assert {e["node"]["sourceUrl"] for e in versions} == {
            f"{hub_fake.endpoint}/{repo}/tree/{tag}" for tag in ("v1.0.0", "v2.0.0", "main")
        }

        # impact of the Hub base model (any spelling) lists every internal fine-tune.
        of_model = data_of(await gql(client, IMPACT, {"u": model}))["impact"]
        assert {v["uri"] for v in of_model} == {tuned["by_parent"], tuned["by_card"]}
        of_version = data_of(await gql(client, IMPACT, {"u": f"https://huggingface.co/{repo}/tree/v1.0.0"}))
        assert {v["uri"] for v in of_version["impact"]} == {tuned["by_parent"]}
        external = data_of(await gql(client, IMPACT, {"u": "https://huggingface.co/meta-llama/Llama-3.1-8B"}))
        assert {v["uri"] for v in external["impact"]} == {tuned["external"]}
        dataset = data_of(await gql(client, IMPACT, {"u": "hf://datasets/acme-ml/pile"}))["impact"]
        assert {v["uri"] for v in dataset} >= {f"{model}/v1.0.0", f"{model}/v2.0.0"}

        # A promotion, approved, moves the Hub's prod tag.
        target = f"{model}/v2.0.0"
        approved = await request_and_approve(client, target, "PRODUCTION", approver="bob", reason="better")
        assert approved == {"status": "APPLIED", "version": {"stage": "PRODUCTION", "nativeStage": "prod"}}
        refs = await asyncio.to_thread(hub_fake.client.list_repo_refs, repo)
        assert {t.name: t.target_commit for t in refs.tags}["prod"] == second


@pytest.mark.parametrize(
    "spelling", ["hf://meta-llama/Llama-3.1-8B@main", "https://hf.co/meta-llama/Llama-3.1-8B"]
)
def test_an_external_hub_model_has_one_node(spelling: str) -> None:
    from gateway.config import RegistrySettings
    from gateway.lineage.uris import ReferenceResolver

    resolver = ReferenceResolver(
        [RegistrySettings(id="hub", kind="huggingface", options={"organization": ORG})]
    )
    assert resolver.resolve(spelling) is None
    assert resolver.external(spelling) == "hf://meta-llama/Llama-3.1-8B"
    assert resolver.qualify("meta-llama/Llama-3.1-8B") == "hf://meta-llama/Llama-3.1-8B"


def test_an_mlflow_version_whose_tags_name_a_hub_base_derives_from_it() -> None:
    """The ``base_model`` tag (as a team copies it from the card into MLflow tags)
    is DERIVED_FROM the Hub model that owns it; bare, it is qualified as ``hf://``."""
    from gateway.config import RegistrySettings
    from gateway.domain import ModelVersion, Relation
    from gateway.lineage.harvest import harvest_edges
    from gateway.lineage.uris import ReferenceResolver

    resolver = ReferenceResolver(
        [
            RegistrySettings(id="hub", kind="huggingface", options={"organization": ORG}),
            RegistrySettings(id="fraud-mlflow", kind="mlflow", options={"url": "http://mlflow:5000"}),
        ]
    )
    tuned = ModelVersion(
        registry_id="fraud-mlflow",
        model_name="support-bot",
        version="3",
        tags={"base_model": f"{ORG}/base,meta-llama/Llama-3.1-8B"},
    )
    parents = {e.target.uri for e in harvest_edges(tuned, resolver) if e.relation is Relation.DERIVED_FROM}
    assert parents == {f"mg://hub/{ORG}%2Fbase", "hf://meta-llama/Llama-3.1-8B"}
    unrelated = ModelVersion(
        registry_id="fraud-mlflow", model_name="m", version="1", tags={"base_model": "xgboost"}
    )
    # Not a Hub name (no namespace): kept as given, an external node like any unresolved parent.
    assert [e.target.uri for e in harvest_edges(unrelated, resolver)] == ["xgboost"]


async def test_a_refused_hub_token_makes_the_registry_unavailable(
    hub_fake: HubServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "hf-token"
    token_file.write_text("hf_revoked-token-value\n")
    hub = {
        "id": REGISTRY,
        "kind": "huggingface",
        "endpoint": hub_fake.endpoint,
        "organization": ORG,
        "token_file": str(token_file),
    }
    settings = make_settings(f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=[hub])
    gateway = await Gateway.open(settings)
    try:
        result = await gateway.sync.sync_registry(REGISTRY, full=True)
        assert result.error is not None and "cannot authenticate" in result.error
        app = create_app(gateway.settings, gateway=gateway, background_sync=False)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
        ):
            body = await gql(client, "{ registries { id kind state lastError } }")
        (registry,) = body["data"]["registries"]
        assert (registry["kind"], registry["state"]) == ("HUGGINGFACE", "UNAVAILABLE")
        assert "cannot authenticate" in registry["lastError"]
        assert "hf_revoked-token-value" not in str(body)
    finally:
        await gateway.aclose()
