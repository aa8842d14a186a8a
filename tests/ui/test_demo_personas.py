"""The demo as a newcomer starts it (``modelgate demo``, auth off): the people
it offers, and a promotion to PRODUCTION requested by one of them and approved
by three others in the dashboard, then read back in the audit view."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from gateway.personas import PERSONAS
from tests.ui.test_dashboard import expect, model_link, snap

REQUESTER, LEAD, LEGAL, SECURITY, AUDITOR = (p.name for p in PERSONAS)


def act_as(page: Any, name: str) -> None:
    picker = page.get_by_label("Act as")
    # The people are fetched after the page loads: wait for this one's option.
    picker.locator("option", has_text=f"{name} ·").first.wait_for(state="attached")
    label = next(o for o in picker.locator("option").all_text_contents() if o.startswith(f"{name} ·"))
    picker.select_option(label=label)


def test_personas_are_offered_only_by_the_demo(plain_demo_server: str, demo_server: str) -> None:
    offered = httpx.get(f"{plain_demo_server}/ui/personas.json").json()["personas"]
    assert [(p["name"], p["roles"]) for p in offered] == [(p.name, list(p.roles)) for p in PERSONAS]
    # With real authentication configured, the well-known keys mean nothing.
    assert httpx.get(f"{demo_server}/ui/personas.json").status_code == 404
    lead_key = next(p.key for p in PERSONAS if p.name == LEAD)
    refused = httpx.post(
        f"{demo_server}/graphql", json={"query": "{ registries { id } }"}, headers={"x-api-key": lead_key}
    )
    assert refused.status_code == 401


def test_a_key_is_a_persona_and_no_key_is_the_local_operator(plain_demo_server: str) -> None:
    query = {"query": "{ promotionRequests(first: 1) { id } }"}
    assert httpx.post(f"{plain_demo_server}/graphql", json=query).status_code == 200
    wrong = httpx.post(f"{plain_demo_server}/graphql", json=query, headers={"x-api-key": "mg_demo_nobody"})
    assert wrong.status_code == 401
    auditor_key = next(p.key for p in PERSONAS if p.name == AUDITOR)
    audit = {"query": "{ auditEvents(first: 1) { totalCount } }"}
    as_auditor = httpx.post(
        f"{plain_demo_server}/graphql", json=audit, headers={"x-api-key": auditor_key}
    ).json()
    assert "errors" not in as_auditor and as_auditor["data"]["auditEvents"]["totalCount"] > 0
    lead_key = next(p.key for p in PERSONAS if p.name == LEAD)
    as_lead = httpx.post(f"{plain_demo_server}/graphql", json=audit, headers={"x-api-key": lead_key}).json()
    assert as_lead["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_request_as_one_person_approve_as_three_others_audit_as_a_fifth(plain_page: Any) -> None:
    page = plain_page
    model, version = "mg://research/recsys-ranker", "3"  # STAGING, ready for production
    uri = f"{model}/{version}"
    page.goto(model_link(model, version))
    act_as(page, REQUESTER)
    form = page.get_by_role("form", name="Request a promotion")
    form.get_by_label("Target stage").select_option("PRODUCTION")
    form.get_by_label("Reason").fill("ndcg +1.2 points over v2 in the A/B test")
    form.get_by_role("button", name="Request promotion").click()
    expect(form.locator(".outcome")).to_have_text(
        "Requested PRODUCTION: pending, waiting for TEAM_LEAD, LEGAL, SECURITY"
    )
    request_id = page.locator('.request-summary-item[data-status="PENDING"]').get_attribute("data-request-id")
    snap(page, "demo-request")

    page.goto("/#/governance")
    card = page.locator(f'[data-request-id="{request_id}"]')
    for person, role in ((LEAD, "TEAM_LEAD"), (LEGAL, "LEGAL"), (SECURITY, "SECURITY")):
        act_as(page, person)
        card.get_by_label("Comment").fill(f"{role.lower()} review done")
        card.get_by_role("button", name="Approve").click()
        if role != "SECURITY":
            expect(card.locator(f'.role.done:has-text("{role}")')).to_contain_text(person)
    expect(page.locator(".notice-line")).to_have_text(f"{uri} → PRODUCTION: APPLIED")
    snap(page, "demo-approved")

    page.goto(model_link(model, version))
    expect(page.locator(f'table.versions tr[data-version="{version}"] .badge')).to_have_text("PRODUCTION")

    act_as(page, AUDITOR)
    page.goto(f"/#/audit?subject={quote(uri, safe='')}")
    expect(page.locator(".verification")).to_contain_text("Hash chain intact")
    expect(
        page.locator('table.audit tr[data-action="promotion.requested"]', has_text=REQUESTER)
    ).to_have_count(1)
    approvals = page.locator('table.audit tr[data-action="promotion.approved"]')
    for person in (LEAD, LEGAL, SECURITY):
        expect(approvals.filter(has_text=person)).to_have_count(1)
    expect(page.locator('table.audit tr[data-action="promotion.applied"]')).to_have_count(1)
    snap(page, "demo-audit")


def test_a_model_page_points_into_its_source_registry(plain_page: Any) -> None:
    """The demo's Git registry links its repository; a native model links nowhere else."""
    page = plain_page
    page.goto(model_link("mg://models-git/churn-gbm", "v1.0.0"))
    expect(page.locator("h1")).to_have_text("churn-gbm")
    expect(page.locator(".kind-badge").first).to_have_text("Git (GTO)")
    source = page.locator(".page-head .source-link")
    expect(source).to_have_count(1)
    expect(source.locator("code")).to_contain_text("file:///")
    snap(page, "demo-source-link")

    page.goto(model_link("mg://research/recsys-ranker", "3"))
    expect(page.locator("h1")).to_have_text("recsys-ranker")
    expect(page.locator(".source-link")).to_have_count(0)
