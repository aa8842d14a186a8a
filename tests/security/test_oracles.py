"""No write is an existence oracle: for a principal who may not see a model or
version (a restricted registry, or a ``restricted=true`` tag), every mutation and
state-changing or downloading REST route answers exactly as for an absent one
(code, message with the URI or id spelled out, field, HTTP status), names no
owning team, and writes nothing, whatever organisation-wide role they hold.

The mutations are enumerated from the schema: a new one must be given a case
here (or an exemption saying why it takes nothing that names a catalogue
entry), so it cannot dodge the check."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLInputObjectType, GraphQLNonNull, GraphQLObjectType

from gateway.api.schema import schema
from gateway.domain import Stage, utcnow
from gateway.governance import audit
from gateway.runtime import Gateway
from gateway.store.tables import rollouts
from tests.security.conftest import serve
from tests.security.test_visibility import WHO, _principal, open_restricted_world

POLICIES = """
policies: []
tiers:
  - name: high
promotions:
  - to: STAGING
    approvals: [TEAM_LEAD, LEGAL]
"""
OPEN_VERSION = "mg://platform/open-model/1"
# A restricted model of an open registry, and a model of a restricted registry.
HIDDEN_MODELS = ("mg://platform/hidden-model", "mg://secret/classified")
ABSENT_MODELS = ("mg://platform/absent-model", "mg://secret/absent-model")
HIDDEN_VERSIONS = tuple(f"{m}/1" for m in HIDDEN_MODELS)
ABSENT_VERSIONS = ("mg://platform/hidden-model/404", "mg://secret/classified/404")
# carol and researcher hold LEGAL, dave SECURITY (organisation-wide approval roles);
# auditor and compliance hold audit roles (compliance may set risk tiers); none of
# them is in the team of a hidden model.
OUTSIDERS = ("nobody", "carol", "dave", "researcher", "auditor", "compliance")
# Holders of an approval role a hidden version's request needs take part in it:
# they find it (README: approvers of a restricted model's promotion must).
DECIDERS = frozenset({"carol", "researcher"})


@dataclass(frozen=True)
class World:
    gw: Gateway
    client: httpx.AsyncClient
    requests: tuple[str, ...]  # promotion requests of the hidden versions
    rollouts: tuple[str, ...]  # rollouts of the hidden versions


async def _rollout(gw: Gateway, version_uri: str, by: str) -> str:
    rollout_id = uuid.uuid4().hex
    now = utcnow()
    async with gw.database.write() as conn:
        await conn.execute(
            rollouts.insert().values(
                id=rollout_id,
                version_uri=version_uri,
                registry_id=version_uri.split("/")[2],
                endpoint_uri=f"endpoint-{rollout_id}",
                status="RUNNING",
                steps=[50.0, 100.0],
                step_seconds=60,
                max_error_rate=0.01,
                step_index=0,
                current_percent=50.0,
                requested_by=by,
                created_at=now,
                updated_at=now,
            )
        )
    return rollout_id


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    gw = await open_restricted_world(database_url, tmp_path, POLICIES)
    promotions = gw.governance.promotions
    owners = (WHO["alice"], WHO["sam"])
    requests = tuple(
        [
            (await promotions.request(owner, uri, Stage.STAGING, "setup")).id
            for owner, uri in zip(owners, HIDDEN_VERSIONS, strict=True)
        ]
    )
    ids = tuple(
        [await _rollout(gw, uri, owner.name) for owner, uri in zip(owners, HIDDEN_VERSIONS, strict=True)]
    )
    try:
        async with serve(gw, principal_for_request=_principal) as client:
            yield World(gw, client, requests, ids)
    finally:
        await gw.aclose()


# --- how each path is asked ---------------------------------------------------------------------

Answer = tuple[int, list[tuple[str, str, Any]]]


def _errors(body: dict[str, Any], target: str) -> list[tuple[str, str, Any]]:
    """The errors as a client compares them, with ``target`` spelled out (no request id)."""
    return [
        (e["extensions"]["code"], e["message"].replace(target, "<target>"), e["extensions"].get("field"))
        for e in body.get("errors") or []
    ]


def graphql(query: str, **variables: Any) -> Callable[[World, str, str], Awaitable[Answer]]:
    """A mutation; ``$t`` in ``variables`` (at any depth) becomes the target."""

    def fill(value: Any, target: str) -> Any:
        if value == "$t":
            return target
        if isinstance(value, dict):
            return {k: fill(v, target) for k, v in value.items()}
        return value

    async def ask(world: World, who: str, target: str) -> Answer:
        response = await world.client.post(
            "/graphql",
            json={"query": query, "variables": fill(variables, target)},
            headers={"x-test-principal": who},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return response.status_code, _errors(body, target)

    return ask


def rest(method: str, path: str, **json: Any) -> Callable[[World, str, str], Awaitable[Answer]]:
    """A REST route; ``{t}`` in ``path`` and ``$t`` in the JSON body become the target."""

    async def ask(world: World, who: str, target: str) -> Answer:
        body = {k: target if v == "$t" else v for k, v in json.items()}
        response = await world.client.request(
            method,
            path.replace("{t}", target),
            headers={"x-test-principal": who, "content-type": "application/json"},
            **({"json": body} if body else {"content": b"bytes"} if method == "PUT" else {}),
        )
        if response.status_code < 400:
            return response.status_code, []
        return response.status_code, _errors(response.json(), target)

    return ask


@dataclass(frozen=True)
class Case:
    ask: Callable[[World, str, str], Awaitable[Answer]]
    kind: str  # what the target is: version, model, model-name, request, rollout
    outsiders: tuple[str, ...] = OUTSIDERS
    # The registry's team may be named: registries and their teams are public.
    names_registry_team: bool = False


def targets(world: World, kind: str) -> list[tuple[str, str]]:
    """(hidden, absent) pairs of ``kind``."""
    fresh = [uuid.uuid4().hex, uuid.uuid4().hex]
    return {
        "version": list(zip(HIDDEN_VERSIONS, ABSENT_VERSIONS, strict=True)),
        "model": list(zip(HIDDEN_MODELS, ABSENT_MODELS, strict=True)),
        "model-name": [("hidden-model", "absent-model")],
        "request": list(zip(world.requests, fresh, strict=True)),
        "rollout": list(zip(world.rollouts, fresh, strict=True)),
    }[kind]


DEPLOY = "mutation($i: DeploymentInput!) { recordDeployment(input: $i) { uri } }"
ROLL = "mutation($i: RolloutInput!) { startRollout(input: $i) { id } }"
REGISTER = "mutation($i: RegisterVersionInput!) { registerModelVersion(input: $i) { uri } }"
OUTSIDE_DECIDERS = tuple(w for w in OUTSIDERS if w not in DECIDERS)

MUTATIONS: dict[str, Case] = {
    "requestPromotion": Case(
        graphql("mutation($t: String!) { requestPromotion(uri: $t, targetStage: STAGING) { id } }", t="$t"),
        "version",
    ),
    "addReview": Case(
        graphql(
            'mutation($t: String!) { addReview(uri: $t, comment: "ok", outcome: APPROVED) { outcome } }',
            t="$t",
        ),
        "version",
    ),
    "recordDeployment": Case(graphql(DEPLOY, i={"uri": "$t", "endpoint": "ep"}), "version"),
    "startRollout": Case(graphql(ROLL, i={"uri": "$t", "endpoint": "ep"}), "version"),
    "setRiskTier": Case(
        graphql(
            'mutation($t: String!) { setRiskTier(modelUri: $t, tier: "high", reason: "r") { tier } }', t="$t"
        ),
        "model",
    ),
    "rollback": Case(
        graphql(
            "mutation($t: String!) { rollback(modelUri: $t, asOf: "
            '"2026-01-01T00:00:00Z", reason: "r") { id } }',
            t="$t",
        ),
        "model",
    ),
    "approvePromotion": Case(
        graphql("mutation($t: ID!) { approvePromotion(requestId: $t) { id } }", t="$t"),
        "request",
        OUTSIDE_DECIDERS,
    ),
    "rejectPromotion": Case(
        graphql('mutation($t: ID!) { rejectPromotion(requestId: $t, comment: "no") { id } }', t="$t"),
        "request",
        OUTSIDE_DECIDERS,
    ),
    "withdrawPromotion": Case(
        graphql('mutation($t: ID!) { withdrawPromotion(requestId: $t, reason: "no") { id } }', t="$t"),
        "request",
        OUTSIDE_DECIDERS,
    ),
    "retryPromotion": Case(
        graphql("mutation($t: ID!) { retryPromotion(requestId: $t) { id } }", t="$t"),
        "request",
        OUTSIDE_DECIDERS,
    ),
    "abortRollout": Case(
        graphql('mutation($t: ID!) { abortRollout(id: $t, reason: "stop") { id } }', t="$t"), "rollout"
    ),
    "registerModelVersion": Case(
        graphql(REGISTER, i={"registry": "platform", "model": "$t", "artifactUri": "s3://m/x"}),
        "model-name",
        names_registry_team=True,
    ),
}
# Mutations that take nothing naming a catalogue entry, with why (none today).
EXEMPT: dict[str, str] = {}

ROUTES: dict[str, Case] = {
    "POST /deployments": Case(rest("POST", "/deployments", uri="$t", endpoint="ep"), "version"),
    "GET /lineage/openlineage": Case(rest("GET", "/lineage/openlineage?uri={t}"), "version"),
    # Audit roles read every version's pack (README: compliance reports have no holes).
    "GET /reports/evidence": Case(
        rest("GET", "/reports/evidence?uri={t}"), "version", ("nobody", "carol", "dave", "researcher")
    ),
    "PUT /artifacts": Case(
        rest("PUT", "/artifacts/platform/{t}/model.bin"), "model-name", names_registry_team=True
    ),
}

# Arguments (or input fields) that name a catalogue entry or a request/rollout on one.
NAMING = {"uri", "modelUri", "versionUri", "model", "requestId", "id"}


def _names_an_entry(field: Any) -> bool:
    for arg_name, arg in field.args.items():
        kind = arg.type.of_type if isinstance(arg.type, GraphQLNonNull) else arg.type
        if arg_name in NAMING:
            return True
        if isinstance(kind, GraphQLInputObjectType) and NAMING & set(kind.fields):
            return True
    return False


def test_every_mutation_is_checked_for_the_oracle() -> None:
    """A new mutation fails here until it has a case (or a reasoned exemption)."""
    mutation = schema._schema.mutation_type
    assert isinstance(mutation, GraphQLObjectType)
    fields = mutation.fields
    assert set(fields) == set(MUTATIONS) | set(EXEMPT), (
        "classify the new mutation in MUTATIONS (or EXEMPT, saying why)"
    )
    naming = {name for name, field in fields.items() if _names_an_entry(field)}
    assert not naming & set(EXEMPT), "a mutation naming a catalogue entry cannot be exempt"


async def _audit_count(gw: Gateway) -> int:
    return len([e async for e in audit.iter_events(gw.database)])


async def _check(world: World, case: Case) -> None:
    before = await _audit_count(world.gw)
    for who in case.outsiders:
        for hidden, absent in targets(world, case.kind):
            told = await case.ask(world, who, hidden)
            assert told == await case.ask(world, who, absent), (who, hidden)
            assert told[1], (who, hidden, "a hidden target must not be written")
            if not case.names_registry_team:
                assert all(" team " not in message for _, message, _ in told[1]), told
    assert await _audit_count(world.gw) == before  # no outsider wrote anything


@pytest.mark.parametrize("name", sorted(MUTATIONS))
async def test_a_mutation_answers_a_hidden_target_as_an_absent_one(world: World, name: str) -> None:
    await _check(world, MUTATIONS[name])


@pytest.mark.parametrize("name", sorted(ROUTES))
async def test_a_route_answers_a_hidden_target_as_an_absent_one(world: World, name: str) -> None:
    await _check(world, ROUTES[name])


async def test_those_who_may_see_still_write_and_decide(world: World) -> None:
    """The gates hide nothing from those who may see: compliance sets an open
    model's tier, the owning team aborts its rollout and rolls its model back, and
    a LEGAL approver finds and approves a restricted model's request."""
    assert await MUTATIONS["setRiskTier"].ask(world, "compliance", "mg://platform/open-model") == (200, [])
    assert await MUTATIONS["abortRollout"].ask(world, "alice", world.rollouts[0]) == (200, [])
    assert await MUTATIONS["approvePromotion"].ask(world, "carol", world.requests[0]) == (200, [])
    rollback = MUTATIONS["rollback"].ask
    assert await rollback(world, "alice", HIDDEN_MODELS[0]) != await rollback(
        world, "alice", ABSENT_MODELS[0]
    )
