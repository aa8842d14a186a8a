"""GraphiQL at /graphql works offline: every file it loads comes from the
gateway (the ``page`` fixture fails the test on any request that leaves it),
it shows the schema's docs and runs a query with the dashboard's token."""

from __future__ import annotations

from typing import Any

import httpx

from tests.ui.conftest import VIEWER_KEY
from tests.ui.test_dashboard import expect, open_as, snap


def test_graphiql_loads_from_the_gateway_and_runs_a_query(page: Any) -> None:
    open_as(page, VIEWER_KEY)  # the token GraphiQL then sends
    page.goto("/graphql")
    editor = page.locator(".graphiql-container")
    expect(editor).to_be_visible()
    expect(page.locator("#graphiql")).not_to_have_text("Loading…")
    expect(page.locator(".graphiql-query-editor")).to_contain_text("registries")
    page.locator(".graphiql-execute-button").click()
    expect(page.locator(".graphiql-response")).to_contain_text('"totalCount": 8')
    snap(page, "graphiql")


def test_the_vendored_files_are_served(demo_server: str) -> None:
    html = httpx.get(f"{demo_server}/graphql", headers={"accept": "text/html"}).text
    assert "unpkg.com" not in html and "cdn" not in html.lower()
    for path in ("ui/vendor/graphiql.min.js", "ui/vendor/react.production.min.js", "ui/graphiql.js"):
        assert f'src="{path}"' in html, path
        response = httpx.get(f"{demo_server}/{path}")
        assert response.status_code == 200 and "javascript" in response.headers["content-type"], path
