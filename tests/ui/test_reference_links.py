"""Dashboard links by stage or alias: a version page addressed as ``?version=@staging``
or ``#/model/mg://<registry>/<model>@archived`` shows the version that holds the ref
now; a ref nobody holds says NOT_FOUND in the banner. Real Chromium, real gateway."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.ui.conftest import VIEWER_KEY
from tests.ui.test_dashboard import expect, model_link, open_as, snap

# v1 ARCHIVED, v2 PRODUCTION, v3 STAGING; no other dashboard test moves its stages (the
# tests share one gateway, so a model another test promotes could hold @staging twice).
MODEL = "mg://platform/text-embedder"


def test_a_version_link_by_stage_opens_the_version_holding_it(page: Any) -> None:
    open_as(page, VIEWER_KEY, model_link(MODEL, "@staging"))
    expect(page.locator("h1")).to_have_text("text-embedder")
    selected = page.locator("table.versions tr.selected")
    expect(selected).to_have_attribute("data-version", "3")
    expect(selected.locator(".badge")).to_have_text("STAGING")
    expect(page.locator("svg.lineage .node.current")).to_have_attribute("data-uri", f"{MODEL}/3")
    snap(page, "reference-link-staging")

    # The reference may also sit in the URI itself.
    page.goto(f"/#/model/{quote(MODEL + '@archived', safe='')}")
    expect(page.locator("table.versions tr.selected")).to_have_attribute("data-version", "1")
    expect(page.locator("svg.lineage .node.current")).to_have_attribute("data-uri", f"{MODEL}/1")


def test_a_reference_nobody_holds_is_not_found(page: Any) -> None:
    open_as(page, VIEWER_KEY, model_link(MODEL, "@champion"))
    expect(page.locator('#banner [data-code="NOT_FOUND"]')).to_be_visible()
    expect(page.locator("#banner")).to_contain_text(f"no version of {MODEL} holds @champion")
