"""The version page lists a native version's files in the model store (path,
size, short digest) with a download link that brings the very bytes, in a real
headless Chromium against a real ``modelgate demo`` with API keys. A version
whose artifact is kept elsewhere shows no files panel."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.conftest import OPS_KEY, REPO, browser_page, running_demo, with_api_keys
from tests.ui.test_dashboard import expect, model_link, open_as, snap

DATA = os.urandom(1_234_567)
REGISTER = """mutation($uri: String!) {
  registerModelVersion(input: {registry: "platform", model: "fraud-detector", artifactUri: $uri,
    description: "Retrained on November's labelled transactions"}) { uri version }
}"""


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Its own demo (a new version changes the catalogue other tests count), with a
    version whose file was uploaded to the store: (base URL, that version)."""
    shipped = (REPO / "config" / "modelgate.toml").read_text(encoding="utf-8")
    with running_demo(tmp_path_factory.mktemp("ui-files"), with_api_keys(shipped)) as base:
        auth = {"authorization": f"Bearer {OPS_KEY}"}
        with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
            stored = client.put("/artifacts/platform/fraud-detector/model.ubj", content=DATA)
            assert stored.status_code == 201, stored.text
            body = client.post(
                "/graphql", json={"query": REGISTER, "variables": {"uri": stored.json()["uri"]}}
            )
            version = body.json()["data"]["registerModelVersion"]["version"]
        yield base, version


def test_the_version_page_lists_its_files_and_downloads_one(
    browser: Any, files_server: tuple[str, str]
) -> None:
    base, version = files_server
    digest = "sha256:" + hashlib.sha256(DATA).hexdigest()
    with browser_page(browser, base, "version-files") as page:
        open_as(page, OPS_KEY, model_link("mg://platform/fraud-detector", version))
        panel = page.locator("section.panel", has=page.locator("h2", has_text="Files (1)"))
        row = panel.locator('table.files tr[data-path="model.ubj"]')
        expect(row).to_contain_text("model.ubj")
        expect(row.locator("td.size")).to_have_text("1.2 MiB")
        expect(row.locator("code.digest")).to_have_text(digest[:19])
        expect(row.locator("code.digest")).to_have_attribute("title", digest)
        heading = page.get_by_role("heading", name=f"Version {version}", exact=True)
        heading.evaluate("el => el.closest('section').scrollIntoView({block: 'start'})")
        snap(page, "dashboard-files")  # docs/dashboard-files.png is a copy of it

        with page.expect_download() as downloaded:
            row.get_by_role("link", name="Download model.ubj").click()
        download = downloaded.value
        assert download.suggested_filename == "model.ubj"
        got = Path(download.path()).read_bytes()
        assert "sha256:" + hashlib.sha256(got).hexdigest() == digest

        # The PRODUCTION version's artifact lives in s3://acme-models, not in the store.
        page.goto(model_link("mg://platform/fraud-detector", "5"))
        expect(page.locator("table.versions tr.selected")).to_have_attribute("data-version", "5")
        expect(page.locator("h2", has_text="Version 5")).to_be_visible()
        expect(page.locator("table.files")).to_have_count(0)


def test_the_download_link_goes_through_the_visibility_gate(files_server: tuple[str, str]) -> None:
    """What the link fetches without credentials is refused, as the page's API is."""
    base, version = files_server
    response = httpx.get(f"{base}/artifacts/platform/fraud-detector/{version}/model.ubj", timeout=30)
    assert response.status_code == 401
