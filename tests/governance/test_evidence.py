"""Evidence packs read the way a person reads them: the PDF's text (``pdftotext``)
holds the approvals, reviews and audit hashes, its pages render (``pdftoppm``), and
rendering fetches nothing. Plus the GraphQL and HTTP surfaces of the compliance
workbench: addReview, setRiskTier, complianceInventory and the downloads."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from gateway.auth.principal import Principal
from gateway.evidence.gather import gather
from gateway.evidence.render import render, render_pdf
from gateway.governance import audit
from gateway.runtime import Gateway
from tests.conftest import service_missing
from tests.governance import test_graphql
from tests.governance.conftest import ALICE, AUDITOR, BOB, CAROL, DAVE, open_gateway, register, write_policies
from tests.governance.test_graphql import graphql_client
from tests.governance.test_tiers_and_reviews import CORA, RITA, TIERED, VALIDATED, complete, to_production
from tests.support import data_of, gql

DOCS = Path(__file__).resolve().parents[2] / "docs"


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        service_missing(f"{tool} (apt-get install poppler-utils)", FileNotFoundError(tool))
    assert path is not None
    return path


@pytest.fixture
async def tiered(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = await open_gateway(database_url, tmp_path, write_policies(tmp_path, TIERED))
    try:
        yield gw
    finally:
        await gw.aclose()


async def reviewed_production(gw: Gateway) -> str:
    v = await register(gw, "credit-scoring", **complete(training_data=VALIDATED))
    await to_production(gw, v.uri, [BOB, CAROL, DAVE, RITA])
    await gw.governance.add_review(AUDITOR, v.uri, "Revalidated on the Q3 holdout", "APPROVED")
    return v.uri


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_pdf_holds_approvals_reviews_and_hashes(tiered: Gateway, tmp_path: Path) -> None:
    uri = await reviewed_production(tiered)
    pack = await gather(tiered, uri, tiered.access(AUDITOR))
    pdf = tmp_path / "evidence.pdf"
    pdf.write_bytes(render(pack, "pdf"))
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = (
        await asyncio.to_thread(
            subprocess.run,
            [poppler("pdftotext"), "-layout", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        )
    ).stdout
    for principal, role in (
        ("bob", "TEAM_LEAD"),
        ("carol", "LEGAL"),
        ("dave", "SECURITY"),
        ("rita", "RISK_OFFICER"),
    ):
        assert principal in text and role in text
    assert "Revalidated on the Q3 holdout" in text and "APPROVED" in text
    assert "high-risk-validation" in text and "PASS" in text
    assert "s3://data/holdout/" in text  # the validation data
    # Every audit event about the version, by hash (wrapped lines joined), and the chain head.
    flat = "".join(text.split())
    events = [e async for e in audit.iter_events(tiered.database, audit.AuditFilter(subject=uri))]
    assert {"promotion.applied", "review.added"} <= {e.action for e in events}
    for e in events:
        assert e.hash in flat, e.action
    head = (await audit.chain_head(tiered.database))[1]
    assert head is not None and head == pack.chain_head and head in flat
    assert f"modelgate audit verify --expect-head {head}" in " ".join(text.split()).replace("- ", "-")

    rendered = await asyncio.to_thread(render_pages, pdf, tmp_path)
    assert len(rendered) >= 2 and all(size > 5000 for size in rendered)


def render_pages(pdf: Path, into: Path) -> list[int]:
    """Render every page with pdftoppm; keep the first and the last (the closing
    note) in docs/ for the README; returns each page image's size."""
    subprocess.run([poppler("pdftoppm"), "-png", "-r", "80", str(pdf), str(into / "page")], check=True)
    rendered = sorted(into.glob("page-*.png"))
    if rendered:
        DOCS.mkdir(exist_ok=True)
        shutil.copy(rendered[0], DOCS / "evidence-pack-p1.png")
        shutil.copy(rendered[-1], DOCS / "evidence-pack-last.png")
    return [p.stat().st_size for p in rendered]


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        _Counting.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_rendering_fetches_nothing(local_server: str) -> None:
    _Counting.hits.clear()
    html = (
        f'<html><head><link rel="stylesheet" href="{local_server}/style.css">'
        f"<style>@import url({local_server}/more.css); body {{ background: url({local_server}/bg.png) }}</style>"
        f'</head><body><img src="{local_server}/logo.png"><p>text</p></body></html>'
    )
    assert render_pdf(html).startswith(b"%PDF-")
    assert _Counting.hits == []


ADD_REVIEW = """mutation($uri: String!) { addReview(uri: $uri, comment: "Backtest holds", outcome: APPROVED) {
  principal comment outcome at } }"""


async def test_graphql_and_downloads(tiered: Gateway) -> None:
    uri = await reviewed_production(tiered)
    model_uri = uri.rsplit("/", 1)[0]
    people = {p.name: p for p in (ALICE, AUDITOR, CORA, Principal("vic"))}
    test_graphql.PRINCIPALS.update(people)
    try:
        async with graphql_client(tiered, "audrey") as client:
            added = data_of(await gql(client, ADD_REVIEW, {"uri": uri}))["addReview"]
            assert added["principal"] == "audrey" and added["outcome"] == "APPROVED"
            q = """query($uri: String!) { modelVersion(uri: $uri) { reviews { principal outcome comment }
              nextReviewDue reviewOverdue model { riskTier { tier source } } }
              promotionRequests(uri: $uri) { reviews { principal outcome } } }"""
            body = data_of(await gql(client, q, {"uri": uri}))
            assert [r["comment"] for r in body["modelVersion"]["reviews"]] == [
                "Revalidated on the Q3 holdout",
                "Backtest holds",
            ]
            assert body["modelVersion"]["nextReviewDue"] and body["modelVersion"]["reviewOverdue"] is False
            assert body["modelVersion"]["model"]["riskTier"] == {"tier": "high", "source": "rule"}
            assert [len(r["reviews"]) for r in body["promotionRequests"]] == [2]

            set_tier = """mutation($m: String!) { setRiskTier(modelUri: $m, tier: "limited", reason: "scope cut") {
              tier source reason setBy } }"""
            denied = await gql(client, set_tier, {"m": model_uri})
            assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            client.headers["x-test-principal"] = "cora"
            tier = data_of(await gql(client, set_tier, {"m": model_uri}))["setRiskTier"]
            assert tier == {"tier": "limited", "source": "override", "reason": "scope cut", "setBy": "cora"}

            inv_q = """{ complianceInventory(filter: {tiers: ["limited"]}) { totalModels byTier { tier models }
              items { modelUri ownerTeam riskTier { tier source } productionVersion complianceState
                lastApproval { principal role } nextReviewDue reviewOverdue evidenceUrl } } }"""
            inv = data_of(await gql(client, inv_q))["complianceInventory"]
            (item,) = inv["items"]
            assert item["modelUri"] == model_uri and item["productionVersion"] == uri
            assert item["riskTier"] == {"tier": "limited", "source": "override"}
            assert item["lastApproval"] == {"principal": "rita", "role": "RISK_OFFICER"}
            assert item["complianceState"] == "COMPLIANT" and item["evidenceUrl"].startswith(
                "/reports/evidence?uri="
            )

            client.headers["x-test-principal"] = "alice"
            refused = await gql(client, inv_q)
            assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            assert (await client.get("/reports/inventory?format=csv")).status_code == 403

            client.headers["x-test-principal"] = "audrey"
            got = await client.get("/reports/inventory", params={"format": "csv"})
            assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(got.text)))
            assert [(r["model"], r["tier"], r["lastApprovalBy"]) for r in rows] == [
                (model_uri, "limited", "rita")
            ]
            js = (await client.get("/reports/inventory", params={"format": "json", "tier": "high"})).json()
            assert js["models"] == [] and js["asOf"] is None
            bad = await client.get("/reports/inventory", params={"format": "xml"})
            assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["field"] == "format"

            html = await client.get(item["evidenceUrl"])
            assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
            assert "Backtest holds" in html.text and "<script" not in html.text
            assert html.headers["x-modelgate-audit-head"].split(":")[1] in html.text
            pdf = await client.get("/reports/evidence", params={"uri": uri, "format": "pdf"})
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
            missing = await client.get("/reports/evidence", params={"uri": uri + "9"})
            assert missing.status_code == 404
    finally:
        for name in people:
            test_graphql.PRINCIPALS.pop(name, None)
        test_graphql.PRINCIPALS.update({p.name: p for p in (ALICE, AUDITOR)})
