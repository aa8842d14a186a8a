"""The dashboard over ``modelgate demo --with-mlflow`` (filling the session's real
MLflow server): an MLflow version's training curves, drawn from its run's metric
history, and the link into MLflow's own UI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.ui.conftest import browser_page, running_demo
from tests.ui.test_dashboard import expect, model_link, snap


@pytest.fixture(scope="module")
def mlflow_demo(tmp_path_factory: pytest.TempPathFactory, mlflow_url: str) -> Iterator[str]:
    extra = ("--with-mlflow", "--mlflow-url", mlflow_url)
    with running_demo(tmp_path_factory.mktemp("ui-mlflow-demo"), extra=extra) as base:
        deadline = time.monotonic() + 90
        while True:  # ready means the store answers; the MLflow registry's first sync follows
            body = httpx.post(
                f"{base}/graphql", json={"query": "{ registries { state } }"}, timeout=10
            ).json()
            if all(r["state"] == "HEALTHY" for r in body["data"]["registries"]):
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
        yield base


def test_an_mlflow_version_shows_its_training_curves_and_links_to_mlflow(
    browser: Any, mlflow_demo: str, mlflow_url: str
) -> None:
    with browser_page(browser, mlflow_demo, "mlflow-training-curves") as page:
        page.goto(model_link("mg://fraud-mlflow/fraud-detector-eu", "2"))
        expect(page.locator("h1")).to_have_text("fraud-detector-eu")
        curves = page.locator(".curve")
        expect(curves).to_have_count(2)
        auc = page.locator('.curve[data-metric="val_auc"]')
        expect(auc.locator("figcaption")).to_contain_text("val_auc 0.931")
        expect(auc.locator("figcaption")).to_contain_text("8 steps")
        assert auc.locator("polyline").get_attribute("points").count(",") == 8
        link = page.locator(".page-head a.source-link")
        expect(link).to_have_text("Open in MLflow")
        expect(link).to_have_attribute("href", f"{mlflow_url}/#/models/fraud-detector-eu")
        snap(page, "demo-mlflow-training-curves")

        # A native version keeps no history: no empty panel.
        page.goto(model_link("mg://platform/fraud-detector", "5"))
        expect(page.locator("h1")).to_have_text("fraud-detector")
        expect(page.locator(".panel h2", has_text="Lineage")).to_have_count(1)
        expect(page.locator(".curve")).to_have_count(0)
        expect(page.locator("section", has_text="Training curves")).to_be_hidden()
