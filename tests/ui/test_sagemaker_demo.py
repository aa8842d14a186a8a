"""The dashboard over the demo as the README starts it, where its SageMaker
Model Registry (moto, filled with boto3) sits beside the native and Git ones:
its kind in the catalogue, the endpoint's canary on the Serving page, the
lineage from a native version into SageMaker, and the two PRODUCTION versions."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.ui.test_dashboard import expect, model_link, snap


def wait_for_first_syncs(base: str) -> None:
    """Ready means the store answers; the SageMaker registry's first sync follows."""
    deadline = time.monotonic() + 60
    while True:
        body = httpx.post(f"{base}/graphql", json={"query": "{ registries { state } }"}, timeout=10).json()
        if all(r["state"] == "HEALTHY" for r in body["data"]["registries"]):
            return
        assert time.monotonic() < deadline, body
        time.sleep(0.3)


def test_the_demo_shows_sagemaker_serving_lineage_and_the_conflict(
    plain_page: Any, plain_demo_server: str
) -> None:
    page = plain_page
    wait_for_first_syncs(plain_demo_server)
    page.goto("/#/")
    chip = page.locator('.registry-chip[data-registry="fraud-sagemaker"]')
    expect(chip.first.locator(".kind-badge")).to_have_text("SageMaker")
    # The two Approved packages show in the list, not only on the model page.
    card = page.locator('.result[data-uri="mg://fraud-sagemaker/fraud-detector-sm"]')
    expect(card.locator(".conflict")).to_have_text("several in production")
    # SageMaker keeps no update time for a package group: the card says when its latest version came.
    expect(card.locator(".meta")).to_contain_text("latest version")
    # A Git tag version is already spelled with its "v".
    gto = page.locator('.result[data-uri="mg://models-git/churn-gbm"] .stages')
    expect(gto).to_contain_text("v1.0.0")
    assert "vv1" not in gto.inner_text()
    snap(page, "demo-catalogue-three-kinds")

    # The compliance inventory spells a Git tag version as the catalogue does.
    page.goto("/#/compliance")
    production = page.locator('tr[data-model="mg://models-git/churn-gbm"] td').nth(4)
    expect(production).to_contain_text("v1.0.0")
    assert "vv1" not in production.inner_text()

    page.goto("/#/serving")
    row = page.locator("tr", has_text="fraud-detector-live")
    expect(row).to_have_count(1)
    shares = row.locator("ul.traffic li")
    expect(shares).to_have_count(2)
    expect(shares.nth(0)).to_contain_text("90%")
    expect(shares.nth(0)).to_contain_text("fraud-detector-sm v1")
    expect(shares.nth(1)).to_contain_text("10%")
    expect(shares.nth(1)).to_contain_text("fraud-detector-sm v2")
    snap(page, "demo-serving-sagemaker")

    page.goto("/#/impact?uri=mg://platform/fraud-detector/5")
    expect(page.locator(".impact-list")).to_contain_text("fraud-sagemaker/fraud-detector-sm/1")
    expect(page.locator(".impact-list li").first).to_contain_text(
        "same artifact as platform/fraud-detector/5"
    )
    assert "null" not in page.locator(".impact-result").inner_text()  # no stray placeholder text
    snap(page, "demo-impact-into-sagemaker")

    page.goto(model_link("mg://fraud-sagemaker/fraud-detector-sm", "2"))
    expect(page.locator("h1")).to_have_text("fraud-detector-sm")
    expect(page.locator(".kind-badge").first).to_have_text("SageMaker")
    # Both packages are Approved: both versions read as PRODUCTION.
    for version in ("1", "2"):
        expect(page.locator(f'tr[data-version="{version}"] .stage-production')).to_have_text("PRODUCTION")
    # moto is a local emulator: no AWS console to link to.
    expect(page.locator(".page-head .source-link")).to_have_count(0)
    snap(page, "demo-sagemaker-model")
