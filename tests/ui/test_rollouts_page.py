"""Canary rollouts in the dashboard, in a real headless Chromium against a real
``modelgate serve`` over a SageMaker registry on **moto** (endpoints, variant
weights and CloudWatch metrics are moto's own): start a rollout from a version's
page, approve it as another person, watch it succeed, watch one roll back, abort
one. Step watch times are short inputs (seconds); the gateway's own clock runs."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest

from tests.rollouts.support import REGISTRY, Canary, create_canary
from tests.servers.sagemaker import DUMMY_CREDENTIALS
from tests.ui.conftest import ARTIFACTS, browser_page, running_demo
from tests.ui.test_dashboard import expect, snap, use_token

REGION = "eu-west-3"  # this module's own: nothing else in the session makes endpoints here
RITA, LENA, VIC = "mg_ui_rita", "mg_ui_lena", "mg_ui_vic"
KEYS = {
    RITA: ("rita", [], [REGISTRY]),  # the team's engineer: starts rollouts, approves nothing
    LENA: ("lena", ["TEAM_LEAD"], [REGISTRY]),  # approves the PRODUCTION promotion
    VIC: ("vic", [], []),  # another team: reads, starts and aborts nothing
}
POLICIES = "policies: []\npromotions:\n  - to: PRODUCTION\n    approvals: [TEAM_LEAD]\n"
# Healthy: 1 error in 200 calls a second (0.5 %); broken: 40 in 200 (20 %).
HEALTHY, BROKEN = (200, 1), (200, 40)


def aws(service: str, url: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


def serve_traffic(cw: Any, endpoint: str, calls: int, errors: int, seconds: int = 120) -> None:
    """The candidate's invocations and 5XX errors, one datapoint a second from now
    on, as SageMaker publishes them: any step watched in that time sees this rate."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "candidate"}]
    for offset in range(0, seconds, 10):
        data = []
        for s in range(offset, offset + 10):
            at = start + timedelta(seconds=s)
            data.append(
                {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": at, "Value": calls}
            )
            data.append(
                {
                    "MetricName": "Invocation5XXErrors",
                    "Dimensions": dimensions,
                    "Timestamp": at,
                    "Value": errors,
                }
            )
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)


def config_text(workdir: Path, moto_url: str) -> str:
    policies = workdir / "policies.yaml"
    policies.write_text(POLICIES, encoding="utf-8")
    keys = "".join(
        f'\n[[auth.api_keys]]\nname = "{name}"\nsha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n'
        f"roles = {json.dumps(roles)}\nteams = {json.dumps(teams)}\n"
        for key, (name, roles, teams) in KEYS.items()
    )
    return f"""
[server]
host = "127.0.0.1"
port = 8080

[storage]
url = "sqlite:///{workdir}/modelgate.db"
artifacts_dir = "{workdir}/artifacts"

[cache]
url = "memory://"
ttl_seconds = 1

[auth]
mode = "apikey"
{keys}
[governance]
policies = "{policies}"

[rollouts]
poll_seconds = 0.5

[[registries]]
id = "{REGISTRY}"
kind = "sagemaker"
team = "{REGISTRY}"
region = "{REGION}"
endpoint_url = "{moto_url}"
sync_interval_seconds = 2
"""


@dataclass
class Setup:
    base: str
    moto_url: str
    healthy: Canary
    broken: Canary
    aborted: Canary


@pytest.fixture(scope="module")
def setup(moto_sagemaker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    sm = aws("sagemaker", moto_sagemaker_url)
    canaries = [create_canary(sm) for _ in range(3)]
    workdir = tmp_path_factory.mktemp("ui-rollouts")
    env = {
        **DUMMY_CREDENTIALS,
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with running_demo(workdir, config_text(workdir, moto_sagemaker_url), command="serve", env=env) as base:
        yield Setup(base, moto_sagemaker_url, *canaries)


@pytest.fixture
def tab(browser: Any, setup: Setup, request: pytest.FixtureRequest) -> Iterator[Any]:
    with browser_page(browser, setup.base, request.node.name) as page:
        yield page


def graphql(setup: Setup, query: str, variables: dict[str, Any], key: str) -> dict[str, Any]:
    response = httpx.post(
        f"{setup.base}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return dict(body["data"])


def version_page(uri: str) -> str:
    model, version = uri.rsplit("/", 1)
    return f"/#/model/{quote(model, safe='')}?version={version}"


def open_as(page: Any, key: str, path: str) -> None:
    page.goto(path)
    expect(page.locator('#banner [data-code="UNAUTHENTICATED"]')).to_be_visible()
    use_token(page, key)


def start_from_page(page: Any, canary: Canary, steps: str, seconds: int) -> Any:
    """Fill the version page's form as a person would; the new rollout's card."""
    form = page.get_by_role("form", name="Start rollout")
    form.get_by_label("Endpoint").select_option(label=canary.endpoint)
    form.get_by_label("Steps (%)").fill(steps)
    form.get_by_label("Watch per step (s)").fill(str(seconds))
    form.get_by_label("Reason").fill("new ranking features")
    form.get_by_role("button", name="Start rollout").click()
    expect(page.locator(".start-rollout .outcome")).to_contain_text("waits for approval by TEAM_LEAD")
    card = page.locator(".rollout").first
    expect(card).to_have_attribute("data-status", "PENDING_APPROVAL")
    return card


def ready(setup: Setup, canary: Canary) -> None:
    """Wait until a sync has read the canary's version into the catalogue."""
    query = "query V($uri: String!) { modelVersion(uri: $uri) { uri } }"
    deadline = time.monotonic() + 30
    while True:
        # Until the first sync is done the answer is null with REGISTRY_UNAVAILABLE (SYNCING).
        body = httpx.post(
            f"{setup.base}/graphql",
            json={"query": query, "variables": {"uri": canary.candidate_uri}},
            headers={"authorization": f"Bearer {RITA}"},
            timeout=10,
        ).json()
        if (body.get("data") or {}).get("modelVersion"):
            return
        assert time.monotonic() < deadline, f"{canary.candidate_uri} never reached the catalogue"
        time.sleep(0.2)


def approve(setup: Setup, rollout_id: str) -> None:
    """Lena approves the rollout's promotion request through the API."""
    found = graphql(setup, "query { rollouts { id promotion { id } } }", {}, LENA)["rollouts"]
    request = next(r["promotion"]["id"] for r in found if r["id"] == rollout_id)
    graphql(setup, "mutation A($id: ID!) { approvePromotion(requestId: $id) { id } }", {"id": request}, LENA)


def test_start_approve_as_another_person_and_watch_it_succeed(tab: Any, setup: Setup) -> None:
    canary = setup.healthy
    ready(setup, canary)
    serve_traffic(aws("cloudwatch", setup.moto_url), canary.endpoint, *HEALTHY)
    open_as(tab, RITA, version_page(canary.candidate_uri))
    form = tab.get_by_role("form", name="Start rollout")
    # The schema's defaults, shown where they apply.
    expect(form).to_contain_text("default 1, 5, 10, 25, 50, 100")
    expect(form).to_contain_text("default 3600")
    expect(form).to_contain_text("default 0.01")
    # The endpoint already serving the version (its candidate variant) is the one offered.
    expect(form.get_by_label("Endpoint").locator("option:checked")).to_have_text(canary.endpoint)
    card = start_from_page(tab, canary, "50, 100", 1)
    expect(card.locator(".promotion")).to_contain_text("pending, waiting for TEAM_LEAD")
    expect(card.locator(".step-waiting")).to_have_count(1)
    expect(card.locator(".abort")).to_be_visible()  # she started it: she may stop it
    assert tab.locator(".rollouts-panel").get_attribute("data-polling") == "true"

    # Lena follows the link to the promotion request and approves it there.
    link = card.locator(".promotion a")
    href = link.get_attribute("href")
    assert href and href.startswith("#/governance?status=PENDING&request=")
    approver = tab.context.new_page()
    open_as(approver, LENA, f"/{href}")
    request = approver.locator(".request.highlight")
    expect(request).to_have_count(1)
    expect(request).to_contain_text(canary.candidate_uri.replace("mg://", ""))
    request.get_by_role("button", name="Approve").click()
    expect(approver.locator(".notice-line")).to_contain_text("PENDING")  # held until the rollout ends
    approver.close()

    # Rita's page refreshes itself through both steps to the end.
    expect(card).to_have_attribute("data-status", "SUCCEEDED", timeout=60_000)
    expect(card.locator(".rollout-status")).to_have_text("SUCCEEDED")
    rows = card.locator(".rollout-steps tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.locator(".state")).to_have_text(["passed", "passed"])
    expect(rows.locator(".error-rate")).to_have_text(["0.5 %", "0.5 %"])
    expect(rows.nth(0)).to_contain_text("≤ 1 %")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text(re.compile(r"\d\d:\d\d:\d\d \u2013 \d\d:\d\d:\d\d"))
    expect(card.locator(".abort")).to_have_count(0)  # over: nothing to abort
    expect(tab.locator(".rollouts-panel")).to_have_attribute("data-polling", "false")
    tab.reload()
    expect(tab.locator(".versions tr.selected .badge")).to_have_text("PRODUCTION")


def test_a_failing_step_rolls_back_with_its_reason(tab: Any, setup: Setup) -> None:
    canary = setup.broken
    ready(setup, canary)
    open_as(tab, RITA, version_page(canary.candidate_uri))
    card = start_from_page(tab, canary, "25, 100", 2)
    serve_traffic(aws("cloudwatch", setup.moto_url), canary.endpoint, *BROKEN)
    approve(setup, card.get_attribute("data-rollout-id"))

    expect(card).to_have_attribute("data-status", "ROLLED_BACK", timeout=60_000)
    expect(card.locator(".rollout-reason")).to_have_text(
        "Reason: error rate 0.2000 above 0.0100 at step 1 (25 %)"
    )
    rows = card.locator(".rollout-steps tbody tr")
    expect(rows.locator(".state")).to_have_text(["failed", "not reached"])
    expect(rows.nth(0).locator(".error-rate")).to_have_text("20 %")
    expect(card).to_contain_text("0 % of traffic now")  # what the endpoint had before


def test_only_the_team_sees_the_form_and_abort_and_api_errors_show_their_code(tab: Any, setup: Setup) -> None:
    canary = setup.aborted
    ready(setup, canary)
    open_as(tab, RITA, version_page(canary.candidate_uri))
    card = start_from_page(tab, canary, "10, 100", 3600)
    # A second rollout onto the same endpoint: the API's CONFLICT, with its code, on the page.
    form = tab.get_by_role("form", name="Start rollout")
    form.get_by_role("button", name="Start rollout").click()
    expect(tab.locator(".start-rollout .outcome")).to_contain_text(
        re.compile(r"^CONFLICT: endpoint .* already has a rollout in progress")
    )
    # A bad plan: the API's BAD_USER_INPUT.
    form.get_by_label("Steps (%)").fill("50, 20")
    form.get_by_role("button", name="Start rollout").click()
    expect(tab.locator(".start-rollout .outcome")).to_contain_text("BAD_USER_INPUT: steps must increase")

    # Someone of another team sees the rollout, but neither the form nor Abort.
    viewer = tab.context.browser.new_context(base_url=setup.base)
    other = viewer.new_page()
    open_as(other, VIC, version_page(canary.candidate_uri))
    expect(other.locator(".rollout")).to_have_count(1)
    expect(other.locator(".start-rollout")).to_contain_text("You may not roll this version out")
    expect(other.get_by_role("form", name="Start rollout")).to_have_count(0)
    expect(other.locator(".abort")).to_have_count(0)
    viewer.close()

    approve(setup, card.get_attribute("data-rollout-id"))
    expect(card).to_have_attribute("data-status", "RUNNING", timeout=30_000)
    expect(card).to_contain_text("10 % of traffic now")
    expect(card.locator(".rollout-steps .state")).to_have_text(["watching", "not reached"])
    card.get_by_role("button", name="Abort").click()
    expect(card.locator(".outcome")).to_have_text("Say why in the reason: an abort needs one.")
    card.get_by_label("Abort reason").fill("the feature store is being migrated")
    card.get_by_role("button", name="Abort").click()
    expect(card).to_have_attribute("data-status", "ABORTED", timeout=30_000)
    expect(card.locator(".rollout-reason")).to_have_text(
        "Reason: aborted by rita: the feature store is being migrated"
    )
    expect(card.locator(".rollout-steps .state")).to_have_text(["stopped", "not reached"])
    expect(card.locator(".rollout-steps tbody tr").first).not_to_contain_text("now")
    expect(card.locator(".promotion")).to_contain_text("rejected")  # withdrawn


def test_the_serving_page_lists_rollouts_says_when_it_cannot_and_recovers(tab: Any, setup: Setup) -> None:
    # The rollout list is first held (loading), then fails (an outage), then answers.
    state = {"now": "hold"}
    held: list[Any] = []
    outage = json.dumps({"errors": [{"message": "down for a moment", "extensions": {"code": "UNAVAILABLE"}}]})

    def fail(r: Any) -> None:
        r.fulfill(status=503, content_type="application/json", body=outage)

    def route(r: Any) -> None:
        if "query Rollouts" not in (r.request.post_data or "") or state["now"] == "pass":
            r.continue_()
        elif state["now"] == "hold":
            held.append(r)
        else:
            fail(r)

    tab.route("**/graphql", route)
    open_as(tab, RITA, "/#/serving")
    panel = tab.locator(".rollouts-panel")
    expect(panel.locator(".loading")).to_have_text("Loading rollouts…")
    expect(panel.locator(".rollout")).to_have_count(0)
    state["now"] = "fail"
    for r in held:
        fail(r)
    expect(panel.locator(".rollouts-error")).to_have_text(
        "Rollouts could not be loaded: UNAVAILABLE: down for a moment"
    )
    expect(panel.locator(".loading")).to_have_count(0)
    state["now"] = "pass"  # the next poll finds it back
    expect(panel.locator(".rollouts-error")).to_have_text("")
    # The rollouts the tests above left: newest first.
    expect(panel.locator(".rollout")).to_have_count(3)
    statuses = panel.locator(".rollout .rollout-status")
    expect(statuses).to_have_text(["ABORTED", "ROLLED_BACK", "SUCCEEDED"])
    expect(panel).to_have_attribute("data-polling", "false")

    # One endpoint's rollouts.
    row = tab.locator(f'tr[data-endpoint*="{setup.broken.endpoint}"]')
    row.locator(".endpoint-rollouts").click()
    expect(panel.locator("h2")).to_have_text(f"Rollouts onto {setup.broken.endpoint}")
    expect(panel.locator(".rollout")).to_have_count(1)
    tab.go_back()
    expect(panel.locator(".rollout")).to_have_count(3)
    tab.set_viewport_size({"width": 1280, "height": 1400})
    panel.scroll_into_view_if_needed()
    snap(tab, "rollouts")
    panel.screenshot(path=str(ARTIFACTS / "rollouts-panel.png"))  # docs/dashboard-rollouts.png is a copy
