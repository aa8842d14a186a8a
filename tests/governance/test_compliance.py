"""Compliance kept current as the catalogue changes, re-evaluation when the
policy file changes, and the GraphQL view (batched, with promotion approvals)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from adapters.protocol import PromotionContext
from gateway.catalogue.index import SearchFilter, SearchQuery
from gateway.domain import ModelCard, Stage
from gateway.governance import audit
from gateway.runtime import Gateway
from gateway.store.tables import catalogue_versions as cv
from tests.governance.conftest import (
    ALICE,
    BOB,
    complete,
    force_stage,
    open_gateway,
    register,
    write_policies,
)
from tests.governance.test_graphql import graphql_client
from tests.support import data_of, gql


async def stored(gw: Gateway, uri: str) -> tuple[bool | None, list[str]]:
    async with gw.database.read() as conn:
        flag = (await conn.execute(select(cv.c.compliant).where(cv.c.uri == uri))).scalar()
    found = (await gw.governance.stored_compliance([uri]))[uri]
    return flag, [v.policy for v in found.violations]


async def test_compliance_follows_the_catalogue(gov: Gateway) -> None:
    good = await register(gov, "fraud", **complete(metrics={"auc": 0.7}))
    assert await stored(gov, good.uri) == (True, ["min-auc"])  # a warning only
    # Moving to production outside modelgate: the sync re-evaluates in the same transaction.
    await gov.adapters["platform"].set_stage(good, Stage.PRODUCTION, PromotionContext("ops"))
    await gov.sync.refresh_model("platform", "fraud")
    assert await stored(gov, good.uri) == (True, ["min-auc"])
    bare = await register(gov, "fraud", **complete(model_card=ModelCard()))
    await force_stage(gov, bare, Stage.PRODUCTION)  # a second one: only by a hand edit
    await gov.sync.refresh_model("platform", "fraud")
    # Two production versions now: the built-in warning names them on both.
    assert await stored(gov, bare.uri) == (False, ["card-complete", "modelgate.multiple-production"])
    assert await stored(gov, good.uri) == (True, ["min-auc", "modelgate.multiple-production"])
    page = await gov.index.search_versions(SearchQuery(None, SearchFilter(compliant=False), 10, None))
    assert [v.uri for v in page.items] == [bare.uri]
    # Each state change is in the audit log, for reports "as of" a time.
    events = await audit.query_events(
        gov.database, audit.AuditFilter(subject=bare.uri, action="compliance.changed"), 10, None
    )
    assert [(e.details["stage"], e.details["compliant"]) for e in reversed(events.events)] == [
        ("DRAFT", True),
        ("PRODUCTION", False),
    ]
    await gov.index.remove_models("platform", ["fraud"])
    removed = await audit.query_events(gov.database, audit.AuditFilter(action="version.removed"), 10, None)
    assert {e.subject for e in removed.events} == {good.uri, bare.uri}
    assert await gov.governance.stored_compliance([good.uri]) == {}


async def test_a_changed_policy_file_is_audited_and_re_evaluated(database_url: str, tmp_path: Path) -> None:
    gw = await open_gateway(database_url, tmp_path)
    try:
        v = await register(gw, "fraud", **complete(description=""))
        assert await stored(gw, v.uri) == (True, [])
        first_digest = gw.governance.policies.digest
    finally:
        await gw.aclose()
    stricter = write_policies(
        tmp_path,
        "policies:\n  - id: described\n    rule: 'version.description != \"\"'\n    severity: error\n",
        "stricter.yaml",
    )
    gw = await open_gateway(database_url, tmp_path, stricter)
    try:
        assert await stored(gw, v.uri) == (False, ["described"])
        changes = await audit.query_events(gw.database, audit.AuditFilter(action="policy.changed"), 10, None)
        assert [e.details["digest"] for e in changes.events] == [gw.governance.policies.digest, first_digest]
        assert changes.events[0].details["previous"] == first_digest
        assert [p["id"] for p in changes.events[0].details["policies"]] == ["described"]
    finally:
        await gw.aclose()
    gw = await open_gateway(database_url, tmp_path, stricter)  # same file again: nothing new
    try:
        changes = await audit.query_events(gw.database, audit.AuditFilter(action="policy.changed"), 10, None)
        assert changes.total == 2
        assert (await gw.governance.verify_audit()).ok
    finally:
        await gw.aclose()


async def test_graphql_compliance_and_approvals(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete(metrics={"auc": 0.7}))
    request = await gov.governance.promotions.request(ALICE, v.uri, Stage.STAGING)
    await gov.governance.promotions.approve(BOB, request.id, "ship it")
    await register(gov, "fraud", **complete())
    async with graphql_client(gov, "alice") as client:
        body = await gql(
            client,
            """{ versions(first: 10) { edges { node { uri stage
                 compliance { compliant violations { policy severity message } }
                 approvals { principal role comment } } } } }""",
        )
    nodes = {e["node"]["uri"]: e["node"] for e in data_of(body)["versions"]["edges"]}
    promoted = nodes[v.uri]
    assert promoted["stage"] == "STAGING"
    assert promoted["compliance"] == {
        "compliant": True,
        "violations": [
            {
                "policy": "min-auc",
                "severity": "warning",
                "message": "Platform models keep an AUC of at least 0.8",
            }
        ],
    }
    assert promoted["approvals"] == [{"principal": "bob", "role": "TEAM_LEAD", "comment": "ship it"}]
    assert nodes["mg://platform/fraud/2"]["compliance"] == {"compliant": True, "violations": []}


async def test_more_than_one_production_version_is_reported_and_searchable(gov: Gateway) -> None:
    """The built-in warning, the ``multipleProduction`` filter and the ``conflicts``
    facet, on SQLite and PostgreSQL."""
    v1 = await register(gov, "fraud", **complete())
    v2 = await register(gov, "fraud", **complete())
    other = await register(gov, "churn", **complete())
    for v in (v1, v2, other):  # two production versions of fraud, by a hand edit
        await force_stage(gov, v, Stage.PRODUCTION)
    await gov.sync.refresh_model("platform", "fraud")
    await gov.sync.refresh_model("platform", "churn")

    assert await stored(gov, v1.uri) == (
        True,
        ["modelgate.multiple-production"],
    )  # a warning: still compliant
    assert await stored(gov, other.uri) == (True, [])
    models = await gov.index.search_models(
        SearchQuery(None, SearchFilter(multiple_production=True), 10, None)
    )
    assert [m.name for m in models.items] == ["fraud"]
    assert [(f.value, f.count) for f in models.facets["conflicts"]] == [("multipleProduction", 1)]
    others = await gov.index.search_models(
        SearchQuery(None, SearchFilter(multiple_production=False), 10, None)
    )
    assert [m.name for m in others.items] == ["churn"] and others.facets["conflicts"] == []
    versions = await gov.index.search_versions(
        SearchQuery(None, SearchFilter(multiple_production=True), 10, None)
    )
    assert sorted(v.uri for v in versions.items) == [v1.uri, v2.uri]
    everything = await gov.index.search_versions(
        SearchQuery(None, SearchFilter(), 10, None, facets=("conflicts",))
    )
    assert [(f.value, f.count) for f in everything.facets["conflicts"]] == [("multipleProduction", 2)]
