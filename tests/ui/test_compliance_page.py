"""The compliance page in a real headless Chromium against the demo: the inventory
by risk tier, overdue reviews, the compliance-over-time chart drawn from as-of
reports, the Annex IV gap count, an evidence pack downloaded as a PDF, the
inventory's AI BOM and a high-risk model's Article 12 log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.ui.conftest import LEAD_KEY, OPS_KEY
from tests.ui.test_dashboard import expect, open_as, snap, use_token

SET_TIER = """mutation($m: String!, $t: String) {
  setRiskTier(modelUri: $m, tier: $t, reason: "browser test: material model") { tier source }
}"""
INVENTORY = (
    "{ complianceInventory { items { modelUri name productionVersion riskTier { tier } annexIVGaps } } }"
)


def test_compliance_page(page: Any, graphql: Any) -> None:
    items = graphql(INVENTORY)["complianceInventory"]["items"]
    target = next(i for i in items if i["name"] == "demand-forecast" and i["productionVersion"])
    rule_tier = target["riskTier"]["tier"]
    assert graphql(SET_TIER, {"m": target["modelUri"], "t": "high"})["setRiskTier"] == {
        "tier": "high",
        "source": "override",
    }
    try:
        open_as(page, OPS_KEY, "/#/compliance")
        expect(page.get_by_role("heading", name="Compliance", exact=True)).to_be_visible()
        tiers = page.get_by_test_id("tiers")
        expect(tiers.locator('tr[data-tier="high"] td').nth(1)).to_have_text("1")
        expect(tiers.locator('tr[data-tier="minimal"]')).to_be_visible()
        row = page.get_by_test_id("inventory").locator(f'tr[data-model="{target["modelUri"]}"]')
        expect(row).to_contain_text("high (override)")
        expect(row).to_contain_text("platform")
        # The demo records no annex_iv.* documents: a high-risk model shows its gaps, marked.
        gaps = row.locator("td.annex-gaps")
        expect(gaps).to_have_text(str(target["annexIVGaps"]))
        expect(gaps).to_have_class("annex-gaps high")
        assert target["annexIVGaps"] >= 3
        # Every model of the demo is listed, one row each.
        expect(page.get_by_test_id("inventory").locator("tbody tr")).to_have_count(len(items))
        # The demo's production versions entered production just now: nothing is overdue.
        expect(page.get_by_test_id("overdue")).to_have_text("No review is overdue.")
        # The chart: one point per as-of report, the last one today's share.
        expect(page.get_by_test_id("chart").locator("circle")).to_have_count(8)
        last = page.get_by_test_id("chart").locator("circle").last.locator("title")
        expect(last).to_contain_text("versions compliant")
        snap(page, "compliance")

        with page.expect_download() as downloaded:
            row.locator('a[data-evidence="pdf"]').click()
        pdf = Path(downloaded.value.path()).read_bytes()
        assert downloaded.value.suggested_filename == "evidence-demand-forecast.pdf"
        assert pdf.startswith(b"%PDF-") and len(pdf) > 5000

        with page.expect_download() as downloaded:
            page.get_by_role("link", name="CycloneDX").click()
        bom = json.loads(Path(downloaded.value.path()).read_text())
        assert downloaded.value.suggested_filename == "inventory.cdx.json"
        assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
        listed = {c["bom-ref"] for c in bom["components"] if "modelCard" in c}
        assert {i["productionVersion"] for i in items if i["productionVersion"]} <= listed

        # A high-risk model's Article 12 log: its events only, ending with the verification.
        with page.expect_download() as downloaded:
            row.locator(f'a[data-article12="{target["modelUri"]}"]').click()
        assert downloaded.value.suggested_filename == "article-12-log-demand-forecast.jsonl"
        *events, last = [json.loads(line) for line in Path(downloaded.value.path()).read_text().splitlines()]
        model = target["modelUri"]
        assert events and all(e["subject"] == model or e["subject"].startswith(model + "/") for e in events)
        assert {"risk_tier.set", "compliance.changed"} <= {e["action"] for e in events}
        assert any(e["subject"].startswith(model + "/") for e in events)  # its versions too
        chain = graphql("{ auditVerification { ok events headHash } }")["auditVerification"]
        assert last["verification"]["ok"] is True and last["verification"]["exported"] == len(events)
        assert last["verification"]["chainEvents"] <= chain["events"]
        # Only high-risk models offer it.
        expect(page.locator("a[data-article12]")).to_have_count(1)

        # Without an audit role the page says why instead of showing data.
        use_token(page, LEAD_KEY)
        expect(page.locator("#banner")).to_contain_text("lena needs one of the roles")
    finally:
        graphql(SET_TIER, {"m": target["modelUri"], "t": None})
    assert rule_tier is not None


def test_without_pdf_support_the_page_says_what_pdfs_need(page: Any) -> None:
    """An installation without the `reports` extra (or Pango) offers no PDF link that
    would answer an error: the page says what PDFs need, and HTML packs still work."""
    reason = "PDF needs WeasyPrint and Pango (pip install 'modelgate[reports]'): No module named 'weasyprint'"
    body = json.dumps({"evidencePdf": {"available": False, "reason": reason}})
    page.route(
        "**/ui/capabilities.json", lambda route: route.fulfill(content_type="application/json", body=body)
    )
    open_as(page, OPS_KEY, "/#/compliance")
    inventory = page.get_by_test_id("inventory")
    expect(inventory.locator('[data-evidence="html"]').first).to_be_visible()
    expect(inventory.locator('a[data-evidence="pdf"]')).to_have_count(0)
    missing = inventory.locator('[data-evidence="pdf-unavailable"]').first
    expect(missing).to_have_text("PDF needs pip install 'modelgate[reports]'")
    expect(missing).to_have_attribute("title", reason)
