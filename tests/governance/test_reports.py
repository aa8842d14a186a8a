"""Compliance reports: contents by team, registry and policy, the violations
list with paging, filters, reports pinned "as of" a time from the audit log,
and the CSV/JSON downloads."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta

import pytest

from gateway.catalogue.index import SearchFilter
from gateway.domain import ModelCard, Stage, utcnow
from gateway.errors import BadInput
from gateway.runtime import Gateway
from tests.governance.conftest import complete, force_stage, register
from tests.governance.test_graphql import graphql_client


async def catalogue(gw: Gateway) -> None:
    """platform: fraud v1 (production, compliant, low auc: warning), fraud v2
    (production, no card: error); research: nlp v1 (staging, no training data: error).
    fraud has two production versions, so both carry the built-in warning."""
    v1 = await register(gw, "fraud", **complete(metrics={"auc": 0.7}))
    v2 = await register(gw, "fraud", **complete(model_card=ModelCard()))
    n1 = await register(gw, "nlp", registry="research", **complete(training_data=()))
    for v, stage in ((v1, Stage.PRODUCTION), (v2, Stage.PRODUCTION), (n1, Stage.STAGING)):
        await force_stage(gw, v, stage)  # two PRODUCTION versions: only by a hand edit
    await gw.sync.refresh_model("platform", "fraud")
    await gw.sync.refresh_model("research", "nlp")


def groups(items: list) -> dict[str, tuple[int, int]]:
    return {g.key: (g.versions, g.compliant) for g in items}


async def test_report_contents(gov: Gateway) -> None:
    await catalogue(gov)
    report = await gov.governance.report(SearchFilter())
    assert (report.total_versions, report.compliant_versions) == (3, 1)
    assert groups(report.by_team) == {"platform": (2, 1), "research": (1, 0)}
    assert groups(report.by_registry) == {"platform": (2, 1), "research": (1, 0)}
    assert groups(report.by_policy) == {
        "card-complete": (2, 1),  # production versions only
        "training-data": (3, 2),
        "min-auc": (2, 1),  # the platform team only
    }
    page = await report.violations(2, None)
    assert page.total == 5 and page.has_next
    rest = await report.violations(3, page.cursors[-1])
    found = [(v.version_uri, v.policy, v.severity) for v in page.items + rest.items]
    assert found == [
        ("mg://platform/fraud/1", "min-auc", "warning"),
        ("mg://platform/fraud/1", "modelgate.multiple-production", "warning"),
        ("mg://platform/fraud/2", "card-complete", "error"),
        ("mg://platform/fraud/2", "modelgate.multiple-production", "warning"),
        ("mg://research/nlp/1", "training-data", "error"),
    ]
    assert not rest.has_next
    only_research = await gov.governance.report(SearchFilter(teams=("research",)))
    assert only_research.total_versions == 1 and groups(only_research.by_policy)["card-complete"] == (0, 0)
    failing = await gov.governance.report(SearchFilter(compliant=False))
    assert failing.total_versions == 2


async def test_a_report_as_of_a_past_time_comes_from_the_audit_log(gov: Gateway) -> None:
    await catalogue(gov)
    before = await gov.governance.report(SearchFilter())
    violations_before = [(v.version_uri, v.policy) async for v in before.all_violations()]
    assert len(violations_before) == 5
    pinned_at = utcnow()
    await asyncio.sleep(0.01)
    # Afterwards: fraud v2 gets fixed (a new compliant version replaces it) and a model goes away.
    await register(gov, "fraud", **complete())
    await gov.index.remove_models("research", ["nlp"])
    now = await gov.governance.report(SearchFilter())
    assert (now.total_versions, now.compliant_versions) == (3, 2)

    then = await gov.governance.report(SearchFilter(), as_of=pinned_at)
    assert then.as_of == pinned_at
    assert (then.total_versions, then.compliant_versions) == (
        before.total_versions,
        before.compliant_versions,
    )
    assert then.by_team == before.by_team and then.by_registry == before.by_registry
    assert then.by_policy == before.by_policy
    assert [(v.version_uri, v.policy) async for v in then.all_violations()] == violations_before
    ancient = await gov.governance.report(SearchFilter(), as_of=pinned_at - timedelta(days=1))
    assert ancient.total_versions == 0 and ancient.by_policy == []
    with pytest.raises(BadInput, match="tag"):
        await gov.governance.report(SearchFilter(tags=(("a", "b"),)), as_of=pinned_at)


async def test_downloads(gov: Gateway) -> None:
    await catalogue(gov)
    async with graphql_client(gov, "audrey") as client:
        rows = list(csv.DictReader(io.StringIO((await client.get("/reports/compliance.csv")).text)))
        assert [(r["version"], r["policy"], r["severity"]) for r in rows][2:] == [
            ("mg://platform/fraud/2", "card-complete", "error"),
            ("mg://platform/fraud/2", "modelgate.multiple-production", "warning"),
            ("mg://research/nlp/1", "training-data", "error"),
        ]
        summary = (await client.get("/reports/compliance.csv?view=summary&team=platform")).text.splitlines()
        assert summary[:3] == ["group,key,versions,compliant", "total,all,2,1", "team,platform,2,1"]
        doc = (await client.get("/reports/compliance.json?stage=PRODUCTION")).json()
        assert doc["totalVersions"] == 2 and len(doc["violations"]) == 4
        assert {"key": "card-complete", "versions": 2, "compliant": 1} in doc["byPolicy"]
        jsonl = (await client.get("/audit/export.jsonl?action=version.*")).text.splitlines()
        assert [json.loads(line)["action"] for line in jsonl] == ["version.registered"] * 3
        audit_csv = (await client.get("/audit/export.csv")).text
        assert audit_csv.startswith("seq,at,action,principal,subject,details,prevHash,hash\n")
        bad = await client.get("/reports/compliance.csv?stage=LIVE")
        assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        client.headers["x-test-principal"] = "alice"
        denied = await client.get("/audit/export.jsonl")
        assert denied.status_code == 403 and denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("suffix", ["html", 'csv"; filename="evil.exe', "jsonl.exe", "CSV", "csv/x"])
async def test_only_known_audit_export_formats_are_served(gov: Gateway, suffix: str) -> None:
    """An unknown format is an unknown route: the standard NOT_FOUND shape, and nothing
    from the path reflected into a Content-Disposition."""
    async with graphql_client(gov, "audrey") as client:
        response = await client.get(f"/audit/export.{suffix}")
        assert response.status_code == 404, response.text
        assert "content-disposition" not in response.headers
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND" and error["extensions"]["requestId"]
