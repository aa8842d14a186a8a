"""The permission matrix (README "Security") over every query,
every mutation and the HTTP routes that write or export: who gets FORBIDDEN.

A new query or mutation fails ``test_the_matrix_covers_the_whole_schema`` until
it gets a row here."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.protocol import RegistrationRequest
from gateway.api.schema import schema
from gateway.catalogue.query import SearchQuery
from gateway.domain import ModelVersion, Stage, utcnow
from gateway.runtime import Gateway
from gateway.store.tables import rollouts
from tests.security.conftest import PRINCIPALS, error_codes, gql_as, principal_from_header, serve
from tests.support import make_settings

POLICIES = """
policies: []
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD, LEGAL, SECURITY]
  - to: STAGING
    approvals: [TEAM_LEAD]
"""

EVERYONE = frozenset(PRINCIPALS)
AUDITORS = frozenset({"admin", "auditor", "compliance"})
PLATFORM_TEAM = frozenset({"admin", "alice", "bob"})
# Of a PRODUCTION request alice opened: holders of TEAM_LEAD, LEGAL or SECURITY, but not alice.
APPROVERS = frozenset({"bob", "carol", "dave", "researcher"})
# A request may be retried by whoever opened it and by its team.
RETRIERS = frozenset({"admin", "alice", "bob"})

REVIEWERS = AUDITORS | {"alice", "bob", "carol", "dave", "researcher"}

_counter = itertools.count()


async def register(gw: Gateway, model: str = "fraud") -> ModelVersion:
    version = ModelVersion("platform", model, "0", artifact_uri=f"s3://models/{model}/model.bin")
    return await gw.register_version("platform", RegistrationRequest(model, version, "alice"))


async def open_request(gw: Gateway, target: Stage = Stage.PRODUCTION) -> str:
    v = await register(gw, f"m{next(_counter)}")
    request = await gw.governance.promotions.request(PRINCIPALS["alice"], v.uri, target)
    return request.id


Run = Callable[[httpx.AsyncClient, Gateway, str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str]
    run: Run


def query(text: str, **variables: Any) -> Run:
    async def run(client: httpx.AsyncClient, gw: Gateway, who: str) -> dict[str, Any]:
        return await gql_as(client, who, text, variables)

    return run


def mutation_on_request(text: str, target: Stage = Stage.PRODUCTION) -> Run:
    async def run(client: httpx.AsyncClient, gw: Gateway, who: str) -> dict[str, Any]:
        return await gql_as(client, who, text, {"id": await open_request(gw, target)})

    return run


async def _request_promotion(client: httpx.AsyncClient, gw: Gateway, who: str) -> dict[str, Any]:
    v = await register(gw, f"r{next(_counter)}")
    text = "mutation($u: String!) { requestPromotion(uri: $u, targetStage: STAGING) { id } }"
    return await gql_as(client, who, text, {"u": v.uri})


async def _abort_rollout(client: httpx.AsyncClient, gw: Gateway, who: str) -> dict[str, Any]:
    """A rollout alice asked for, still waiting for approval, aborted by ``who``."""
    v = await register(gw, f"ro{next(_counter)}")
    rollout_id = uuid.uuid4().hex
    now = utcnow()
    async with gw.database.write() as conn:
        await conn.execute(
            rollouts.insert().values(
                id=rollout_id,
                version_uri=v.uri,
                registry_id="platform",
                endpoint_uri=f"kserve/fraud-{rollout_id}",  # one rollout in progress per endpoint
                status="PENDING_APPROVAL",
                steps=[50, 100],
                step_seconds=60,
                max_error_rate=0.01,
                step_index=-1,
                current_percent=0.0,
                requested_by="alice",
                created_at=now,
                updated_at=now,
            )
        )
    text = 'mutation($id: ID!) { abortRollout(id: $id, reason: "stop") { status } }'
    return await gql_as(client, who, text, {"id": rollout_id})


REGISTER = """mutation($i: RegisterVersionInput!) { registerModelVersion(input: $i) { uri } }"""
VERSION = "mg://platform/fraud/1"

MATRIX: dict[str, Row] = {
    "node": Row(EVERYONE, query('{ node(id: "TW9kZWw6bWc6Ly9wbGF0Zm9ybS9mcmF1ZA==") { id } }')),
    "registries": Row(EVERYONE, query("{ registries { id modelCount } }")),
    "models": Row(EVERYONE, query("{ models { totalCount } }")),
    "versions": Row(EVERYONE, query("{ versions { totalCount } }")),
    "model": Row(EVERYONE, query('{ model(uri: "mg://platform/fraud") { name } }')),
    "modelVersion": Row(EVERYONE, query(f'{{ modelVersion(uri: "{VERSION}") {{ version }} }}')),
    "lineage": Row(EVERYONE, query(f'{{ lineage(uri: "{VERSION}") {{ nodes {{ uri }} }} }}')),
    "impact": Row(EVERYONE, query(f'{{ impact(uri: "{VERSION}") {{ uri }} }}')),
    "impactAnalysis": Row(EVERYONE, query(f'{{ impactAnalysis(uri: "{VERSION}") {{ root }} }}')),
    "promotionRequests": Row(EVERYONE, query("{ promotionRequests { id } }")),
    "endpoints": Row(EVERYONE, query("{ endpoints { uri } }")),
    "stageHistory": Row(EVERYONE, query(f'{{ stageHistory(uri: "{VERSION}") {{ to }} }}')),
    "recordDeployment": Row(
        PLATFORM_TEAM,
        query(
            "mutation($i: DeploymentInput!) { recordDeployment(input: $i) { uri } }",
            i={"uri": VERSION, "endpoint": "kserve/fraud", "trafficPercent": 10},
        ),
    ),
    # Nothing to roll back is a BAD_USER_INPUT for the team; the others are FORBIDDEN first.
    "rollback": Row(
        PLATFORM_TEAM,
        query(
            'mutation { rollback(modelUri: "mg://platform/fraud", asOf: "2026-01-01T00:00:00Z", '
            'reason: "x") { id } }'
        ),
    ),
    "complianceReport": Row(AUDITORS, query("{ complianceReport { totalVersions } }")),
    "auditEvents": Row(AUDITORS, query("{ auditEvents { totalCount } }")),
    "auditVerification": Row(AUDITORS, query("{ auditVerification { ok } }")),
    "registerModelVersion": Row(
        PLATFORM_TEAM,
        query(REGISTER, i={"registry": "platform", "model": "fraud", "artifactUri": "s3://b/m"}),
    ),
    "requestPromotion": Row(PLATFORM_TEAM, _request_promotion),
    "approvePromotion": Row(
        APPROVERS, mutation_on_request("mutation($id: ID!) { approvePromotion(requestId: $id) { id } }")
    ),
    "rejectPromotion": Row(
        APPROVERS,
        mutation_on_request('mutation($id: ID!) { rejectPromotion(requestId: $id, comment: "no") { id } }'),
    ),
    # Only the requester (alice) or an admin takes a request back.
    "withdrawPromotion": Row(
        frozenset({"admin", "alice"}),
        mutation_on_request('mutation($id: ID!) { withdrawPromotion(requestId: $id, reason: "no") { id } }'),
    ),
    # Retrying a request that has not failed is a CONFLICT for those allowed to retry.
    "rollouts": Row(EVERYONE, query("{ rollouts { id } }")),
    # Everyone may ask; canStart answers whether they may start one.
    "rolloutOptions": Row(EVERYONE, query(f'{{ rolloutOptions(uri: "{VERSION}") {{ canStart }} }}')),
    # A native registry has no traffic to shift: BAD_USER_INPUT for the team, FORBIDDEN first.
    "startRollout": Row(
        PLATFORM_TEAM,
        query(
            "mutation($i: RolloutInput!) { startRollout(input: $i) { id } }",
            i={"uri": VERSION, "endpoint": "kserve/fraud"},
        ),
    ),
    # Its requester and the team that owns the version.
    "abortRollout": Row(RETRIERS, _abort_rollout),
    "complianceInventory": Row(AUDITORS, query("{ complianceInventory { totalModels } }")),
    "setRiskTier": Row(
        frozenset({"admin", "compliance"}),
        query('mutation { setRiskTier(modelUri: "mg://platform/fraud", tier: null, reason: "x") { tier } }'),
    ),
    # Auditors and compliance, its team's leads, and LEGAL and SECURITY (approval roles of every team).
    "addReview": Row(
        REVIEWERS,
        query(f'mutation {{ addReview(uri: "{VERSION}", comment: "ok", outcome: APPROVED) {{ outcome }} }}'),
    ),
    "retryPromotion": Row(
        RETRIERS, mutation_on_request("mutation($id: ID!) { retryPromotion(requestId: $id) { id } }")
    ),
}


async def _http(method: str, path: str, client: httpx.AsyncClient, who: str) -> int:
    response = await client.request(method, path, headers={"x-test-principal": who}, content=b"weights")
    return response.status_code


HTTP_MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/reports/compliance.json"): AUDITORS,
    ("GET", "/reports/compliance.csv"): AUDITORS,
    ("GET", "/audit/export.jsonl"): AUDITORS,
    ("GET", "/audit/export.csv"): AUDITORS,
    ("PUT", "/artifacts/platform/fraud/model.bin"): PLATFORM_TEAM,
    ("PUT", "/artifacts/research/fraud/model.bin"): frozenset({"admin", "researcher"}),
}


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    settings = make_settings(
        f"sqlite:///{tmp_path}/modelgate.db", tmp_path, governance={"policies": str(policies)}
    )
    gw = await Gateway.open(settings)
    await gw.sync.sync_all(full=True)  # past SYNCING, as a served gateway is
    await register(gw)
    try:
        async with serve(gw, principal_for_request=principal_from_header) as client:
            yield gw, client
    finally:
        await gw.aclose()


def test_the_matrix_covers_the_whole_schema() -> None:
    graphql = schema._schema
    fields = {*graphql.query_type.fields, *graphql.mutation_type.fields}
    assert fields - set(MATRIX) == set(), "give every new query and mutation a row in MATRIX"


async def test_graphql_permission_matrix(setup: tuple[Gateway, httpx.AsyncClient]) -> None:
    gw, client = setup
    wrong = []
    for field, row in MATRIX.items():
        for who in PRINCIPALS:
            body = await row.run(client, gw, who)
            forbidden = "FORBIDDEN" in error_codes(body)
            if forbidden == (who in row.allowed):
                wrong.append(
                    f"{field} as {who}: {'FORBIDDEN' if forbidden else 'allowed'} {body.get('errors')}"
                )
            if not forbidden and field in ("models", "registries", "auditEvents", "registerModelVersion"):
                assert not body.get("errors"), (field, who, body)  # allowed means it works
    assert wrong == []


async def test_http_permission_matrix(setup: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = setup
    wrong = []
    for (method, path), allowed in HTTP_MATRIX.items():
        for who in PRINCIPALS:
            status = await _http(method, path, client, who)
            if (status == 403) == (who in allowed):
                wrong.append(f"{method} {path} as {who}: {status}")
    assert wrong == []


async def test_requester_may_not_approve_even_holding_the_role(
    setup: tuple[Gateway, httpx.AsyncClient],
) -> None:
    gw, client = setup
    request_id = await open_request(gw, Stage.STAGING)  # needs TEAM_LEAD, which alice holds
    body = await gql_as(
        client,
        "alice",
        "mutation($id: ID!) { approvePromotion(requestId: $id) { status } }",
        {"id": request_id},
    )
    assert error_codes(body) == ["FORBIDDEN"] and "separation of duties" in body["errors"][0]["message"]
    approved = await gql_as(
        client,
        "bob",
        "mutation($id: ID!) { approvePromotion(requestId: $id) { status } }",
        {"id": request_id},
    )
    assert approved["data"]["approvePromotion"]["status"] == "APPLIED"


async def test_a_refused_registration_leaves_nothing(setup: tuple[Gateway, httpx.AsyncClient]) -> None:
    gw, client = setup
    before = (await gw.index.search_versions(SearchQuery(None, _filter(), 100, None))).total
    body = await gql_as(
        client, "carol", REGISTER, {"i": {"registry": "platform", "model": "sneaky", "artifactUri": "s3://x"}}
    )
    assert error_codes(body) == ["FORBIDDEN"]
    assert (await gw.index.search_versions(SearchQuery(None, _filter(), 100, None))).total == before


def _filter():  # type: ignore[no-untyped-def]
    from gateway.catalogue.index import SearchFilter

    return SearchFilter()
