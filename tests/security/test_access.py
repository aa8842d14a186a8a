"""Reproductions of the holes an attack pass found (restricted data reaching
outsiders, global approval roles), each through the public API: GraphQL, the
OpenLineage export and ``/metrics``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from adapters.protocol import RegistrationRequest
from gateway.auth.principal import Principal
from gateway.domain import CodeRef, DatasetRef, Deployment, ModelVersion
from gateway.runtime import Gateway
from tests.security.conftest import PRINCIPALS, error_codes, gql_as, serve
from tests.support import make_settings

WHO = {
    **PRINCIPALS,
    "sam": Principal("sam", teams=frozenset({"secret"})),
    # Leads of other teams: their TEAM_LEAD must not count for platform's models.
    "ads-lead": Principal("ada", frozenset({"TEAM_LEAD"}), frozenset({"ads"})),
}
SHARED = "s3://data/shared"
# What only the hidden versions' records name: none of it may reach an outsider.
SECRETS = ("hidden-model", "classified", "secret-only", "git.internal/hidden", "hidden-endpoint")

POLICIES = """
policies: []
promotions:
  - to: STAGING
    approvals: [TEAM_LEAD]
  - to: PRODUCTION
    approvals: [TEAM_LEAD, LEGAL]
"""


async def _principal(request: Request) -> Principal:
    return WHO[request.headers.get("x-test-principal", "nobody")]


def version(registry: str, model: str, **fields: Any) -> ModelVersion:
    fields.setdefault("artifact_uri", f"s3://m/{registry}/{model}")
    return ModelVersion(registry, model, "0", **fields)


async def register(gw: Gateway, registry: str, model: str, **fields: Any) -> str:
    v = version(registry, model, **fields)
    return (await gw.register_version(registry, RegistrationRequest(model, v, "setup"))).uri


HIDDEN_RECORD: dict[str, Any] = {
    "training_data": (
        DatasetRef(SHARED, role="training"),
        DatasetRef("s3://data/secret-only", role="validation"),
    ),
    "training_code": CodeRef("https://git.internal/hidden/train", "abc123"),
    "deployments": (Deployment("https://serving/hidden-endpoint", 100.0),),
}


@pytest.fixture
async def setup(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(POLICIES)
    settings = make_settings(
        database_url,
        tmp_path,
        registries=[
            {"id": "platform", "kind": "native", "team": "platform"},
            {"id": "research", "kind": "native", "team": "research"},
            {"id": "secret", "kind": "native", "team": "secret", "restricted": True},
        ],
        governance={"policies": str(policy_file)},
    )
    gw = await Gateway.open(settings)
    await register(gw, "platform", "hidden-model", tags={"restricted": "true"}, **HIDDEN_RECORD)
    # Version 2: untagged, hidden by its model.
    await register(gw, "platform", "hidden-model", artifact_uri="s3://m/platform/hidden-model/2")
    await register(gw, "secret", "classified", training_data=(DatasetRef("s3://data/secret-only"),))
    await register(gw, "research", "open", training_data=(DatasetRef(SHARED, role="training"),))
    await register(gw, "platform", "fraud")
    try:
        async with serve(gw, principal_for_request=_principal) as client:
            yield gw, client
    finally:
        await gw.aclose()


def same_answer(hidden: dict[str, Any], absent: dict[str, Any], hidden_uri: str, absent_uri: str) -> None:
    """Two answers that differ only by the URI asked about."""
    assert hidden == _respell(absent, absent_uri, hidden_uri)


def _respell(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _respell(v, old, new) for k, v in value.items() if k != "requestId"}
    if isinstance(value, list):
        return [_respell(v, old, new) for v in value]
    return value


def _without_request_ids(body: dict[str, Any]) -> dict[str, Any]:
    return _respell(body, "\0", "\0")  # drops extensions.requestId


# --- live reads ---------------------------------------------------------------------


async def test_live_read_of_an_untagged_version_of_a_hidden_model_is_null(setup: Any) -> None:
    gw, c = setup
    # And a third version the index has not seen yet, straight into the registry.
    v3 = version("platform", "hidden-model", artifact_uri="s3://m/platform/hidden-model/3")
    await gw.adapter("platform").register_version(RegistrationRequest("hidden-model", v3, "setup"))
    query = """query($u: String!) { live: modelVersion(uri: $u, live: true) { uri }
        indexed: modelVersion(uri: $u) { uri } }"""
    for uri in ("mg://platform/hidden-model/2", "mg://platform/hidden-model/3"):
        body = await gql_as(c, "researcher", query, {"u": uri})
        assert body["data"] == {"live": None, "indexed": None}, body
        owner = await gql_as(c, "alice", query, {"u": uri})
        assert owner["data"]["live"] == {"uri": uri}


# --- lineage ------------------------------------------------------------------------------

LINEAGE = """query($u: String!) { lineage(uri: $u, depth: 3) {
    nodes { uri kind label registry } edges { source target relation } } }"""


@pytest.mark.parametrize(
    ("hidden", "absent"),
    [
        ("mg://platform/hidden-model/1", "mg://platform/no-such-model/1"),
        ("mg://secret/classified/1", "mg://secret/no-such-model/1"),
        ("mg://platform/hidden-model", "mg://platform/no-such-model"),
        ("s3://data/secret-only", "s3://data/no-such-data"),  # only hidden versions name it
    ],
)
async def test_lineage_of_a_hidden_node_reads_as_absent(setup: Any, hidden: str, absent: str) -> None:
    _, c = setup
    hidden_body = _without_request_ids(await gql_as(c, "researcher", LINEAGE, {"u": hidden}))
    absent_body = _without_request_ids(await gql_as(c, "researcher", LINEAGE, {"u": absent}))
    assert error_codes(hidden_body) == ["NOT_FOUND"]
    same_answer(hidden_body, absent_body, hidden, absent)
    owner = await gql_as(c, "admin", LINEAGE, {"u": hidden})
    assert not owner.get("errors") and owner["data"]["lineage"]["nodes"]


async def test_lineage_of_a_shared_dataset_conceals_what_only_a_hidden_version_names(setup: Any) -> None:
    _, c = setup
    response = await c.post(
        "/graphql",
        json={"query": LINEAGE, "variables": {"u": SHARED}},
        headers={"x-test-principal": "researcher"},
    )
    body = response.json()
    assert not body.get("errors"), body
    for secret in SECRETS:
        assert secret not in response.text, secret
    nodes = {n["uri"]: n for n in body["data"]["lineage"]["nodes"]}
    assert "mg://research/open/1" in nodes and SHARED in nodes  # what the caller may see stays
    redacted = [n for n in nodes.values() if n["uri"].startswith("redacted:")]
    # The hidden version and the endpoint serving it (reached only through it).
    assert len(redacted) == 2, redacted
    assert "model_version" in {n["kind"] for n in redacted}
    assert all(n["label"] is None and n["registry"] is None for n in redacted)
    # The owning team sees every node in clear.
    owner = (await gql_as(c, "alice", LINEAGE, {"u": SHARED}))["data"]["lineage"]["nodes"]
    assert not any(n["uri"].startswith("redacted:") for n in owner)
    assert "https://serving/hidden-endpoint" in {n["uri"] for n in owner}


async def test_lineage_through_a_hidden_parent_conceals_its_record(setup: Any) -> None:
    gw, c = setup
    derived = await register(gw, "research", "derived", parent="mg://platform/hidden-model/1")
    query = LINEAGE.replace("depth: 3", "depth: 3, direction: UPSTREAM")
    response = await c.post(
        "/graphql",
        json={"query": query, "variables": {"u": derived}},
        headers={"x-test-principal": "researcher"},
    )
    body = response.json()
    for secret in SECRETS:
        assert secret not in response.text, secret
    nodes = body["data"]["lineage"]["nodes"]
    # derived in clear; the parent, its two datasets and its code as placeholders.
    assert [n["uri"] for n in nodes if not n["uri"].startswith("redacted:")] == [derived]
    assert len(nodes) == 5, nodes
    owner = (await gql_as(c, "alice", query, {"u": derived}))["data"]["lineage"]["nodes"]
    assert {SHARED, "s3://data/secret-only", "mg://platform/hidden-model/1"} <= {n["uri"] for n in owner}


async def test_openlineage_export_of_a_hidden_version_reads_as_absent(setup: Any) -> None:
    _, c = setup
    answers = []
    for uri in ("mg://platform/hidden-model/1", "mg://platform/no-such-model/1"):
        r = await c.get(
            "/lineage/openlineage", params={"uri": uri}, headers={"x-test-principal": "researcher"}
        )
        assert r.status_code == 404, r.text
        answers.append((uri, _without_request_ids(r.json())))
    (hidden_uri, hidden), (absent_uri, absent) = answers
    same_answer(hidden, absent, hidden_uri, absent_uri)


IMPACT = """query($u: String!) { impact(uri: $u) { uri }
    impactAnalysis(uri: $u) { root nodesVisited truncated versions { uri path } } }"""


@pytest.mark.parametrize(
    ("hidden", "absent", "admin_visits"),
    [
        ("mg://platform/hidden-model/1", "mg://platform/no-such-model/1", 1),  # nothing downstream
        ("mg://platform/hidden-model", "mg://platform/no-such-model", 3),  # the model and 2 versions
        ("s3://data/secret-only", "s3://data/no-such-data", 3),  # only hidden versions use it
    ],
)
async def test_impact_of_a_hidden_node_reads_as_absent(
    setup: Any, hidden: str, absent: str, admin_visits: int
) -> None:
    _, c = setup
    hidden_body = await gql_as(c, "researcher", IMPACT, {"u": hidden})
    absent_body = await gql_as(c, "researcher", IMPACT, {"u": absent})
    same_answer(hidden_body, absent_body, hidden, absent)
    admin = await gql_as(c, "admin", IMPACT, {"u": hidden})
    assert admin["data"]["impactAnalysis"]["nodesVisited"] == admin_visits


async def test_nodes_visited_counts_only_what_the_caller_may_see(setup: Any) -> None:
    _, c = setup
    outsider = (await gql_as(c, "researcher", IMPACT, {"u": SHARED}))["data"]["impactAnalysis"]
    owner = (await gql_as(c, "alice", IMPACT, {"u": SHARED}))["data"]["impactAnalysis"]
    assert [v["uri"] for v in outsider["versions"]] == ["mg://research/open/1"]
    assert outsider["nodesVisited"] == 2  # the dataset and the open version
    assert owner["nodesVisited"] == 3


# --- promotions -----------------------------------------------------------------------

PROMOTE = "mutation($u: String!) { requestPromotion(uri: $u, targetStage: STAGING) { id status } }"


@pytest.mark.parametrize(
    ("hidden", "absent"),
    [
        ("mg://platform/hidden-model/1", "mg://platform/no-such-model/1"),
        ("mg://platform/hidden-model/2", "mg://platform/no-such-model/2"),
        ("mg://secret/classified/1", "mg://secret/no-such-model/1"),
    ],
)
async def test_request_promotion_of_a_hidden_version_reads_as_absent(
    setup: Any, hidden: str, absent: str
) -> None:
    _, c = setup
    hidden_body = _without_request_ids(await gql_as(c, "researcher", PROMOTE, {"u": hidden}))
    absent_body = _without_request_ids(await gql_as(c, "researcher", PROMOTE, {"u": absent}))
    assert error_codes(hidden_body) == ["NOT_FOUND"]
    same_answer(hidden_body, absent_body, hidden, absent)
    # A visible version of another team is still FORBIDDEN: that says nothing new.
    other = await gql_as(c, "researcher", PROMOTE, {"u": "mg://platform/fraud/1"})
    assert error_codes(other) == ["FORBIDDEN"]


APPROVE = "mutation($id: ID!, $role: String) { approvePromotion(requestId: $id, role: $role) { status requiredApprovals } }"


async def test_team_lead_approves_only_for_their_own_team(setup: Any) -> None:
    gw, c = setup
    request = await gw.governance.promotions.request(WHO["alice"], "mg://platform/fraud/1", _stage("STAGING"))
    for who in ("ads-lead", "researcher"):  # TEAM_LEAD of ads, of research
        body = await gql_as(c, who, APPROVE, {"id": request.id, "role": "TEAM_LEAD"})
        assert error_codes(body) == ["FORBIDDEN"], body
        assert "team-scoped" in body["errors"][0]["message"]
        body = await gql_as(c, who, APPROVE, {"id": request.id})
        assert error_codes(body) == ["FORBIDDEN"], body
    # The lead of platform, the model's team, may.
    body = await gql_as(c, "bob", APPROVE, {"id": request.id})
    assert body["data"]["approvePromotion"] == {"status": "APPLIED", "requiredApprovals": []}


async def test_organisation_roles_approve_for_every_team(setup: Any) -> None:
    gw, c = setup
    request = await gw.governance.promotions.request(
        WHO["alice"], "mg://platform/fraud/1", _stage("PRODUCTION")
    )
    body = await gql_as(c, "researcher", APPROVE, {"id": request.id})  # as LEGAL, not TEAM_LEAD
    assert body["data"]["approvePromotion"]["requiredApprovals"] == ["TEAM_LEAD"]
    body = await gql_as(c, "ads-lead", APPROVE, {"id": request.id})
    assert error_codes(body) == ["FORBIDDEN"]


def _stage(name: str) -> Any:
    from gateway.domain import Stage

    return Stage(name)


# --- metrics ----------------------------------------------------------------------------


def _series(text: str, name: str) -> dict[str, float]:
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(rf'^{name}{{registry="([^"]+)"}} (\S+)$', text, re.MULTILINE)
    }


async def test_metrics_export_no_counts_of_restricted_models(setup: Any) -> None:
    _, c = setup
    text = (await c.get("/metrics")).text
    models = _series(text, "modelgate_index_models")
    versions = _series(text, "modelgate_index_versions")
    assert "secret" not in models and "secret" not in versions
    # platform holds fraud and the hidden model: only fraud is counted.
    assert models == {"platform": 1.0, "research": 1.0}
    assert versions == {"platform": 1.0, "research": 1.0}
    assert 'modelgate_registry_healthy{registry="secret"}' in text  # health is not a secret
