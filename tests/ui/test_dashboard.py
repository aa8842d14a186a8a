"""The dashboard end to end, in a real headless Chromium against a real gateway
serving the demo catalogue: search, open a model, follow its lineage, decide
promotions as different principals, read and download the compliance report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.ui.conftest import ARTIFACTS, LEAD_KEY, OPS_KEY, VIEWER_KEY

REQUEST_PROMOTION = """
mutation Request($uri: String!, $to: Stage!) {
  requestPromotion(uri: $uri, targetStage: $to, reason: "ready for the shadow test") {
    id status requiredApprovals
  }
}"""


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def snap(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def use_token(page: Any, token: str) -> None:
    """Enter a bearer token as a person would; the page reloads its data with it."""
    form = page.locator("#token-form")
    if form.is_hidden():
        page.locator("#token-toggle").click()
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#token-state")).to_have_text("token set")


def open_as(page: Any, key: str, path: str = "/") -> None:
    """Open a page and sign in with an API key (the server asks for one first)."""
    page.goto(path)
    expect(page.locator('#banner [data-code="UNAUTHENTICATED"]')).to_be_visible()
    use_token(page, key)


def model_link(uri: str, version: str) -> str:
    return f"/#/model/{quote(uri, safe='')}?version={version}"


def test_search_with_facets_and_registry_freshness(page: Any) -> None:
    open_as(page, VIEWER_KEY)
    results = page.locator(".result")
    expect(results).to_have_count(8)
    for registry in ("platform", "research"):
        expect(page.locator(f'.freshness [data-registry="{registry}"]')).to_contain_text(
            re.compile(r"synced (just now|\d+ min ago)")
        )
    snap(page, "catalogue")  # docs/dashboard.png is a copy of this one

    page.get_by_role("searchbox", name="Search models").fill("fraud")
    expect(results).to_have_count(1)
    expect(results.locator(".name")).to_have_text("fraud-detector")
    expect(results.locator(".stages .badge")).to_have_text(["PRODUCTION", "STAGING"])
    expect(results.locator(".stages")).to_contain_text("v5")
    expect(page.locator(".summary")).to_have_text("1 model matching “fraud”")
    expect(page.locator('[data-facet="team"][data-value="platform"] .count')).to_have_text("1")
    expect(page.locator('[data-facet="registry"][data-value="research"]')).to_have_count(0)

    page.get_by_role("searchbox", name="Search models").fill("")
    expect(results).to_have_count(8)
    research = page.locator('[data-facet="team"][data-value="research"]')
    expect(research.locator(".count")).to_have_text("4")
    research.click()
    expect(results).to_have_count(4)
    expect(results.locator(".meta .registry-chip")).to_contain_text(["research"] * 4)
    expect(research).to_have_attribute("aria-pressed", "true")
    assert "team=research" in page.url

    # The search lives in the URL: a reload (or a shared link) shows the same results.
    page.locator('[data-facet="stage"][data-value="DRAFT"]').click()
    expect(results).to_have_count(2)
    page.reload()
    expect(results).to_have_count(2)
    expect(page.locator(".facet.active")).to_have_count(2)


def test_model_page_shows_versions_card_and_clickable_lineage(page: Any) -> None:
    open_as(page, VIEWER_KEY)
    page.get_by_role("searchbox", name="Search models").fill("support")
    page.get_by_role("link", name="llm-summarizer-support", exact=True).click()

    expect(page.locator("h1")).to_have_text("llm-summarizer-support")
    expect(page.locator("table.versions tbody tr")).to_have_count(3)
    selected = page.locator("table.versions tr.selected")  # the production version by default
    expect(selected).to_have_attribute("data-version", "2")
    expect(selected.locator(".badge")).to_have_text("PRODUCTION")
    expect(selected.locator(".metrics")).to_have_text("human_pref 0.6 · rouge_l 0.451")
    expect(page.locator(".model-card")).to_contain_text("Draft summaries shown to agents")
    expect(page.locator(".model-card")).to_contain_text("Tone can be terse")

    graph = page.locator("svg.lineage")
    expect(graph.locator(".node.current")).to_have_attribute(
        "data-uri", "mg://research/llm-summarizer-support/2"
    )
    datasets = graph.locator('.node[data-kind="dataset"]')
    for name in ("llm-summarizer-support-train", "llm-summarizer-base-train"):  # its own, its parent's
        expect(datasets.filter(has_text=name)).to_have_count(1)
    expect(
        graph.locator(
            '.node[data-kind="deployment"][data-uri="https://serving.acme.example/llm-summarizer-support"]'
        )
    ).to_have_count(1)
    expect(graph.locator(".edge.rel-derived_from")).to_have_count(1)
    parent = graph.locator('.node[data-uri="mg://research/llm-summarizer-base/2"]')
    expect(parent).to_contain_text("llm-summarizer-base v2")
    # Laid out in the direction things flow: datasets, then the parent, then the fine-tune.
    x = {
        kind: graph.locator(selector).first.bounding_box()["x"]
        for kind, selector in [
            ("dataset", '.node[data-kind="dataset"]'),
            ("parent", '.node[data-uri="mg://research/llm-summarizer-base/2"]'),
            ("version", ".node.current"),
            ("deployment", '.node[data-kind="deployment"]'),
        ]
    }
    assert x["dataset"] < x["parent"] < x["version"] < x["deployment"], x

    datasets.filter(has_text="llm-summarizer-support-train").click()
    details = page.locator(".node-details")
    expect(details).to_contain_text("s3://acme-data/support/conversations/2026-08")
    expect(details).to_contain_text("llm-summarizer-support v2 trained on llm-summarizer-support-train")
    snap(page, "model-lineage")

    parent.click()
    expect(page.locator("h1")).to_have_text("llm-summarizer-base")
    expect(page.locator("table.versions tr.selected")).to_have_attribute("data-version", "2")
    page.get_by_role("link", name="v1", exact=True).click()
    expect(page.locator("table.versions tr.selected .badge")).to_have_text("ARCHIVED")
    expect(page.locator("svg.lineage .node.current")).to_have_attribute(
        "data-uri", "mg://research/llm-summarizer-base/1"
    )


def test_approve_a_promotion_as_a_principal_holding_the_role(page: Any, graphql: Any) -> None:
    # Requested by olga (an admin), who may then not approve it herself.
    uri = "mg://research/recsys-ranker/4"
    request = graphql(REQUEST_PROMOTION, {"uri": uri, "to": "STAGING"}, key=OPS_KEY)["requestPromotion"]
    assert request["status"] == "PENDING" and request["requiredApprovals"] == ["TEAM_LEAD"], request

    open_as(page, OPS_KEY, "/#/governance")
    card = page.locator(f'[data-request-id="{request["id"]}"]')
    expect(card).to_contain_text("requested by olga")
    expect(card.locator(".role.missing")).to_have_text("TEAM_LEAD needed")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator('#banner [data-code="FORBIDDEN"]')).to_contain_text("separation of duties")

    use_token(page, VIEWER_KEY)
    card.get_by_role("button", name="Approve").click()
    expect(page.locator('#banner [data-code="FORBIDDEN"]')).to_contain_text("vic holds none of the roles")
    expect(card.locator(".outcome")).to_contain_text("FORBIDDEN: vic holds none of the roles")
    snap(page, "governance-forbidden")

    use_token(page, LEAD_KEY)
    card.get_by_label("Comment").fill("offline metrics look good")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".notice-line")).to_have_text(f"{uri} → STAGING: APPLIED")
    expect(card).to_have_count(0)
    expect(page.locator("#banner")).to_be_hidden()

    page.goto(model_link("mg://research/recsys-ranker", "4"))
    expect(page.locator('table.versions tr[data-version="4"] .badge')).to_have_text("STAGING")
    expect(page.locator(".approvals")).to_contain_text("TEAM_LEAD by lena")


def test_reject_a_promotion_with_a_comment(page: Any, graphql: Any) -> None:
    uri = "mg://platform/churn-predictor/4"
    request = graphql(REQUEST_PROMOTION, {"uri": uri, "to": "STAGING"}, key=OPS_KEY)["requestPromotion"]
    open_as(page, LEAD_KEY, "/#/governance")
    card = page.locator(f'[data-request-id="{request["id"]}"]')
    card.get_by_role("button", name="Reject").click()
    expect(card.locator(".outcome")).to_have_text("Say why in the comment: a rejection needs one.")

    card.get_by_label("Comment").fill("AUC below the retention target")
    card.get_by_role("button", name="Reject").click()
    expect(page.locator(".notice-line")).to_have_text(f"{uri} → STAGING: REJECTED")
    expect(card).to_have_count(0)

    page.get_by_label("Status").select_option("REJECTED")
    expect(card).to_contain_text("Rejected by lena: AUC below the retention target")
    expect(card.get_by_role("button")).to_have_count(0)


def test_compliance_overview_and_csv_download(page: Any) -> None:
    open_as(page, OPS_KEY, "/#/governance")
    by_team = page.locator("table.compliance", has=page.locator("caption", has_text="By team"))
    expect(by_team.locator("tbody tr")).to_have_count(2)
    expect(by_team.locator('tr[data-key="research"]')).to_contain_text("/ 13")
    by_policy = page.locator("table.compliance", has=page.locator("caption", has_text="By policy"))
    expect(by_policy.locator('tr[data-key="production-model-card"]')).to_contain_text("8 / 8")
    expect(by_policy.locator('tr[data-key="bias-assessment"] .bar')).to_have_class(re.compile("partial"))
    snap(page, "governance")

    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Download CSV").click()
    download = downloaded.value
    assert download.suggested_filename == "compliance-violations.csv"
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("version,registry,team,model"), lines[:2]
    assert any("bias-assessment" in line for line in lines[1:])

    # The report needs an audit role: a team lead is told so where it would be.
    use_token(page, LEAD_KEY)
    expect(page.get_by_text("The compliance report is not available to you")).to_contain_text(
        "lena needs one of the roles admin, auditor, compliance"
    )
    expect(page.locator("#banner")).to_be_hidden()


def test_the_server_asks_for_credentials_and_the_token_goes_along(page: Any) -> None:
    page.goto("/")
    expect(page.locator('#banner [data-code="UNAUTHENTICATED"]')).to_contain_text("authentication required")
    expect(page.locator("#token-form")).to_be_visible()  # opened for the person to sign in
    expect(page.locator(".empty")).to_have_text("This page could not be loaded.")
    snap(page, "sign-in")

    use_token(page, "mg_not_a_key")
    expect(page.locator('#banner [data-code="UNAUTHENTICATED"]')).to_contain_text("invalid API key")

    use_token(page, VIEWER_KEY)
    expect(page.locator(".result")).to_have_count(8)
    expect(page.locator("#banner")).to_be_hidden()
    # The token lasts for the browser tab's session, across reloads...
    page.reload()
    expect(page.locator(".result")).to_have_count(8)
    # ...until forgotten.
    page.locator("#token-toggle").click()
    page.get_by_role("button", name="Forget token").click()
    expect(page.locator("#token-state")).to_have_text("no token")
    expect(page.locator('#banner [data-code="UNAUTHENTICATED"]')).to_be_visible()


def test_registry_warnings_are_shown_next_to_the_data(page: Any) -> None:
    def registry_down(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body.setdefault("errors", []).append(
            {
                "message": "registry research is unavailable: connection refused",
                "extensions": {"code": "REGISTRY_UNAVAILABLE", "registry": "research"},
            }
        )
        route.fulfill(response=response, json=body)

    page.route("**/graphql", registry_down)
    open_as(page, VIEWER_KEY)
    warning = page.locator('#banner .notice.warning[data-code="REGISTRY_UNAVAILABLE"]')
    expect(warning).to_contain_text("(registry research)")
    expect(page.locator(".result")).to_have_count(8)  # the index still answers
    expect(page.locator('.freshness [data-registry="research"]')).to_have_class(re.compile("stale"))
    expect(page.locator('.freshness [data-registry="platform"]')).to_have_class(re.compile("healthy"))
    stale_cards = page.locator(".result").filter(
        has=page.locator('.registry-chip.stale[data-registry="research"]')
    )
    expect(stale_cards).to_have_count(4)
    # Said on the page, not only in a tooltip.
    problem = page.locator('.registry-problem[data-registry="research"]')
    expect(problem).to_contain_text("connection refused")
    expect(page.locator('.registry-problem[data-registry="platform"]')).to_have_count(0)


def test_the_page_says_it_is_loading_until_the_answer_arrives(page: Any) -> None:
    held: list[Any] = []
    page.route("**/graphql", lambda route: held.append(route))
    page.goto("/")
    expect(page.locator(".loading")).to_have_text("Loading…")
    expect(page.locator(".result")).to_have_count(0)
    page.unroute("**/graphql")  # lets the held requests go on
    expect(page.locator('#banner [data-code="UNAUTHENTICATED"]')).to_be_visible()
    use_token(page, VIEWER_KEY)
    expect(page.locator(".result")).to_have_count(8)
    expect(page.locator(".loading")).to_have_count(0)


def test_registry_kinds_are_shown(page: Any) -> None:
    open_as(page, VIEWER_KEY)
    for registry in ("platform", "research"):
        chip = page.locator(f'.freshness [data-registry="{registry}"]')
        expect(chip.locator(".kind-badge")).to_have_text("native")


def test_request_approve_as_another_persona_and_read_it_in_the_audit_log(page: Any) -> None:
    """The whole promotion flow in the dashboard, as the people who do it."""
    uri = "mg://research/llm-summarizer-support/1"  # ARCHIVED, brought back to STAGING
    open_as(page, OPS_KEY, model_link("mg://research/llm-summarizer-support", "1"))
    form = page.get_by_role("form", name="Request a promotion")
    form.get_by_label("Target stage").select_option("STAGING")
    form.get_by_label("Reason").fill("beats v2 offline")
    form.get_by_role("button", name="Request promotion").click()
    expect(form.locator(".outcome")).to_have_text("Requested STAGING: pending, waiting for TEAM_LEAD")
    mine = page.locator('.request-summary-item[data-status="PENDING"]')
    expect(mine).to_contain_text("requested by olga")
    expect(mine).to_contain_text("“beats v2 offline”")
    request_id = mine.get_attribute("data-request-id")
    snap(page, "request-promotion")

    use_token(page, LEAD_KEY)
    page.goto("/#/governance")
    card = page.locator(f'[data-request-id="{request_id}"]')
    card.get_by_label("Comment").fill("ranking gain confirmed")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".notice-line")).to_have_text(f"{uri} → STAGING: APPLIED")

    page.goto(model_link("mg://research/llm-summarizer-support", "1"))
    expect(page.locator('table.versions tr[data-version="1"] .badge')).to_have_text("STAGING")
    applied = page.locator(f'.request-summary-item[data-request-id="{request_id}"]')
    expect(applied).to_have_attribute("data-status", "APPLIED")
    expect(applied.locator(".approvals")).to_contain_text("TEAM_LEAD by lena")
    expect(applied.locator(".approvals")).to_contain_text("ranking gain confirmed")

    # The auditor's view: every step, with who did it, on an intact chain.
    use_token(page, OPS_KEY)
    page.goto(f"/#/audit?subject={quote(uri, safe='')}")
    expect(page.locator(".verification")).to_contain_text("Hash chain intact")
    for action, who in (
        ("promotion.requested", "olga"),
        ("promotion.approved", "lena"),
        ("promotion.applied", "lena"),
    ):
        expect(page.locator(f'table.audit tr[data-action="{action}"]', has_text=who).first).to_be_visible()
    snap(page, "audit")

    # A team lead holds no audit role: told so on the page.
    use_token(page, LEAD_KEY)
    expect(page.get_by_text("The audit log is not available to you")).to_be_visible()


def test_impact_view_lists_what_is_built_on_a_dataset(page: Any) -> None:
    dataset = "s3://acme-data/support/conversations/2026-08"
    open_as(page, VIEWER_KEY, f"/#/impact?uri={quote(dataset, safe='')}")
    items = page.locator(".impact-list li")
    expect(items.first).to_be_visible()
    expect(
        page.locator('.impact-list li[data-uri="mg://research/llm-summarizer-support/2"]')
    ).to_contain_text("trained on")
    expect(page.locator(".summary")).to_contain_text(f"downstream of {dataset}")
    snap(page, "impact")

    page.get_by_label("Node to analyse").fill("s3://nobody/uses/this")
    page.get_by_role("button", name="Find what depends on it").click()
    expect(page.locator(".impact-result")).to_contain_text("Nothing is built on it.")


def test_lineage_graph_labels_its_edges_and_says_who_owns_each_node(page: Any) -> None:
    open_as(page, VIEWER_KEY, model_link("mg://research/llm-summarizer-support", "2"))
    graph = page.locator("svg.lineage")
    expect(graph.locator(".edge-group.rel-derived_from .edge-label")).to_have_text("fine-tuned from")
    expect(graph.locator(".edge-group.rel-trained_on .edge-label").first).to_have_text("trained on")
    legend = page.locator(".lineage-legend")
    expect(legend.locator(".legend-node.kind-dataset")).to_have_text("dataset")
    expect(legend.locator(".legend-edge.rel-deployed_to")).to_have_text("deployed to")
    version = graph.locator('.node[data-uri="mg://research/llm-summarizer-base/2"]')
    expect(version).to_have_attribute("data-registry", "research")
    expect(version.locator("text.kind")).to_have_text("MODEL VERSION · RESEARCH")
    # Hovering shows the full label and URI, however the box clipped them.
    expect(version.locator("title")).to_contain_text("mg://research/llm-summarizer-base/2")
    labels = graph.locator(".node text.label").all_text_contents()
    assert len(labels) == len(set(labels)), labels
