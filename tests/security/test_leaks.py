"""Paths beside the catalogue that could name restricted models: mutations on a
version (``addReview`` answers as ``requestPromotion`` does), evidence packs
(their lineage passes the GraphQL lineage gate), and registry errors
(``registries { lastError }``, ``REGISTRY_UNAVAILABLE`` errors, ``/readyz``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import load_factories
from gateway.catalogue.state import CALL_FAILED, SYNC_PARTIAL
from gateway.config import RegistrySettings
from gateway.errors import RegistryUnavailable
from gateway.runtime import Gateway
from tests.fakes.memory_registry import MemoryFactory, PerModelRegistry
from tests.security.conftest import error_codes, serve
from tests.security.test_visibility import _principal, open_restricted_world, register
from tests.support import make_settings

POLICIES = """
policies: []
promotions:
  - to: STAGING
    approvals: [TEAM_LEAD, LEGAL]
"""
OPEN = "mg://platform/open-model/1"
HIDDEN = ("mg://platform/hidden-model/1", "mg://secret/classified/1")
SECRETS = ("hidden-model", "classified", "hidden-child")


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    gw = await open_restricted_world(database_url, tmp_path, POLICIES)
    # A restricted child of a version everyone sees.
    await register(gw, "platform", "hidden-child", parent=OPEN, tags={"restricted": "true"})
    try:
        async with serve(gw, principal_for_request=_principal) as client:
            yield gw, client
    finally:
        await gw.aclose()


async def ask(client: httpx.AsyncClient, who: str, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"x-test-principal": who}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def answer(body: dict[str, Any], uri: str) -> list[tuple[str, str, Any]]:
    """The errors of an answer as a client compares them, with ``uri`` spelled out."""
    return [
        (e["extensions"]["code"], e["message"].replace(uri, "<uri>"), e["extensions"].get("field"))
        for e in body.get("errors") or []
    ]


# --- mutations on a version ------------------------------------------------------------------

REVIEW = 'mutation($u: String!) { addReview(uri: $u, comment: "ok", outcome: APPROVED) { outcome } }'
PROMOTE = "mutation($u: String!) { requestPromotion(uri: $u, targetStage: STAGING) { id } }"


# carol and researcher hold LEGAL, an organisation-wide approval role; auditor and
# compliance hold audit roles: none of them sees the restricted versions.
@pytest.mark.parametrize("who", ["carol", "researcher", "auditor", "compliance", "nobody"])
async def test_add_review_answers_a_hidden_version_as_an_absent_one(
    served: tuple[Gateway, httpx.AsyncClient], who: str
) -> None:
    gw, client = served
    for hidden in HIDDEN:
        absent = hidden.replace("/1", "/404")
        reviewed = await ask(client, who, REVIEW, u=hidden)
        assert error_codes(reviewed) == ["NOT_FOUND"], reviewed
        assert answer(reviewed, hidden) == answer(await ask(client, who, REVIEW, u=absent), absent)
        # Exactly what requestPromotion answers.
        assert answer(reviewed, hidden) == answer(await ask(client, who, PROMOTE, u=hidden), hidden)
        assert (await gw.governance.reviews_of([hidden]))[hidden] == []
    # The same principals review what they can see, as before.
    if who != "nobody":
        assert (await ask(client, who, REVIEW, u=OPEN))["data"]["addReview"] == {"outcome": "APPROVED"}


async def test_the_owning_team_still_reviews_its_restricted_version(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    _, client = served
    body = await ask(client, "alice", REVIEW, u=HIDDEN[0])  # TEAM_LEAD of platform
    assert body["data"]["addReview"] == {"outcome": "APPROVED"}


# --- evidence packs ----------------------------------------------------------------------------


async def pack(client: httpx.AsyncClient, who: str, uri: str) -> str:
    response = await client.get(
        "/reports/evidence", params={"uri": uri, "format": "html"}, headers={"x-test-principal": who}
    )
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize("who", ["auditor", "compliance"])
async def test_an_evidence_pack_redacts_lineage_as_graphql_does(
    served: tuple[Gateway, httpx.AsyncClient], who: str
) -> None:
    _, client = served
    html = await pack(client, who, OPEN)
    assert "open-model" in html and "redacted:" in html  # the child is there, as a placeholder
    for secret in SECRETS:
        assert secret not in html
    lineage = await ask(client, who, "query($u: String!) { lineage(uri: $u) { nodes { uri } } }", u=OPEN)
    placeholders = {n["uri"] for n in lineage["data"]["lineage"]["nodes"] if n["uri"].startswith("redacted:")}
    assert placeholders and all(p in html for p in placeholders)  # the same graph GraphQL gives
    # An admin's pack names the child.
    assert "hidden-child" in await pack(client, "admin", OPEN)


async def test_a_pack_of_a_version_hidden_from_the_auditor_shows_no_lineage(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    _, client = served
    child = "mg://platform/hidden-child/1"
    html = await pack(client, "auditor", child)  # compliance evidence: auditors read it
    assert child in html and "<svg" not in html and "Shown only to the model" in html
    assert "<svg" in await pack(client, "admin", child)


# --- registry errors ----------------------------------------------------------------------------


class QuotingRegistry(PerModelRegistry):
    """A registry that fails as an HTTP one does behind a proxy: its error quotes
    the request path, and so the name of the model asked about."""

    failure: str | None = None

    async def _call(self, name: str) -> None:
        await super()._call(name)
        if self.failure:
            raise RegistryUnavailable(self.registry_id, self.failure)


@pytest.fixture
async def lab(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, QuotingRegistry, httpx.AsyncClient]]:
    """Registry ``lab`` of team platform (alice's), holding a model restricted to it."""
    factory = MemoryFactory(lambda r: QuotingRegistry(r.id))
    settings = make_settings(database_url, tmp_path)
    lab = RegistrySettings(id="lab", kind="memory", team="platform", key="registries[2]")
    settings = dataclasses.replace(settings, registries=(*settings.registries, lab))
    gw = await Gateway.open(settings, factories={**load_factories(), "memory": factory})
    registry: QuotingRegistry = factory.made["lab"]
    registry.put("open-m")
    registry.put("secret-m", tags={"restricted": "true"})
    await gw.sync.sync_all(full=True)
    try:
        async with serve(gw, principal_for_request=_principal) as client:
            yield gw, registry, client
    finally:
        await gw.aclose()


LAB = '{ registries { id state lastError } models(query: "m") { totalCount } }'


def lab_of(body: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in body["data"]["registries"] if r["id"] == "lab")
    return found


@pytest.mark.parametrize("outsider", ["nobody", "researcher", "auditor"])
async def test_registry_errors_name_no_model_the_reader_may_not_see(
    lab: tuple[Gateway, QuotingRegistry, httpx.AsyncClient], outsider: str
) -> None:
    gw, registry, client = lab
    # A full pass that cannot read the restricted model names it in lastError.
    registry.put("secret-m")  # a second version it cannot list
    registry.refused_models = {"secret-m"}
    await gw.sync.sync_registry("lab", full=True)
    told = await ask(client, "alice", LAB)
    assert lab_of(told)["state"] == "DEGRADED" and "secret-m" in lab_of(told)["lastError"]
    body = await ask(client, outsider, LAB)
    assert lab_of(body) == {"id": "lab", "state": "DEGRADED", "lastError": SYNC_PARTIAL}
    assert "secret-m" not in json.dumps(body)

    # A failed call whose error quotes the path of the restricted model.
    registry.failure = "GET /api/models/secret-m/versions/2: HTTP 503 from the proxy"
    live = (
        'query($u: String!) { modelVersion(uri: $u, live: true) { uri } models(query: "m") { totalCount } }'
    )
    own = await ask(client, "alice", live, u="mg://lab/secret-m/1")
    assert "secret-m/versions/2" in json.dumps(own["errors"])  # the team reads what the registry said
    for uri in ("mg://lab/open-m/1", "mg://lab/secret-m/1"):  # a live read and a search
        body = await ask(client, outsider, live, u=uri)
        assert error_codes(body) == ["REGISTRY_UNAVAILABLE"] and "secret-m" not in json.dumps(body)
    body = await ask(client, outsider, LAB)
    assert lab_of(body)["state"] == "UNAVAILABLE" and "secret-m" not in json.dumps(body)


async def test_readyz_says_states_never_what_a_registry_said(
    lab: tuple[Gateway, QuotingRegistry, httpx.AsyncClient],
) -> None:
    gw, registry, client = lab
    registry.refused_models = {"secret-m"}
    registry.put("secret-m")
    await gw.sync.sync_registry("lab", full=True)
    ready = (await client.get("/readyz")).json()["registries"]["lab"]
    assert (ready["state"], ready["reason"], ready["lastError"]) == ("DEGRADED", SYNC_PARTIAL, SYNC_PARTIAL)
    registry.failure = "GET /api/models/secret-m/versions/1: HTTP 503"
    await ask(client, "admin", '{ modelVersion(uri: "mg://lab/secret-m/1", live: true) { uri } }')
    response = await client.get("/readyz")
    ready = response.json()["registries"]["lab"]
    assert (ready["state"], ready["reason"]) == ("UNAVAILABLE", CALL_FAILED)
    assert ready["breaker"]["consecutiveFailures"] >= 1
    assert "secret-m" not in response.text
