"""The Article 12 log: a model's audit events (all its versions, no other model's)
as JSON Lines, exported with the server's verification of the whole chain, and
checkable on its own as an extract of that chain."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update

from gateway.cli.governance import audit_export, verify_file
from gateway.governance import audit
from gateway.runtime import Gateway
from gateway.store.tables import audit_events as ae
from tests.governance.conftest import complete, register
from tests.governance.test_graphql import graphql_client
from tests.support import data_of, gql

LOG = "/audit/export.jsonl"
MODEL = "mg://platform/fraud"


async def catalogue(gw: Gateway) -> None:
    """fraud v1 and v2, and models whose URIs start like fraud's: fraud2 and fraud-x."""
    for model in ("fraud", "fraud2", "fraud", "fraud-x"):
        await register(gw, model, **complete())


def lines_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_a_models_log_holds_its_versions_events_and_the_chains_verification(
    gov: Gateway, tmp_path: Path
) -> None:
    await catalogue(gov)
    async with graphql_client(gov, "audrey") as client:
        response = await client.get(LOG, params={"subject": MODEL, "verify": "true"})
    assert response.status_code == 200, response.text
    assert response.headers["x-modelgate-audit-verified"] == "ok"
    *events, last = lines_of(response.text)
    subjects = {e["subject"] for e in events}
    assert subjects == {"mg://platform/fraud/1", "mg://platform/fraud/2"}  # not fraud2, not fraud-x
    whole = await audit.verify(gov.database)
    trailer = last["verification"]
    assert trailer["ok"] is True and trailer["problem"] is None
    assert trailer["chainEvents"] == whole.events and trailer["headHash"] == whole.head_hash
    assert response.headers["x-modelgate-audit-head"] == f"{whole.events}:{whole.head_hash}"
    assert trailer["exported"] == len(events) and trailer["filter"] == {"subject": MODEL}
    assert all(e["hash"] and "prevHash" in e for e in events)

    # The file checks on its own, as an extract of the chain its trailer names.
    saved = tmp_path / "article-12.jsonl"
    saved.write_text(response.text)
    checked = verify_file(str(saved), gov.settings, expect_head=whole.head_hash)
    assert checked.ok and checked.events == len(events) and checked.extract_of == whole.events
    assert "audit extract intact" in str(checked)


async def test_an_edited_or_shortened_extract_fails_verification(gov: Gateway) -> None:
    await catalogue(gov)
    async with graphql_client(gov, "audrey") as client:
        text = (await client.get(LOG, params={"subject": MODEL, "verify": "true"})).text
    lines = text.splitlines(keepends=True)
    assert audit.verify_export(lines).ok
    edited = [lines[0].replace('"alice"', '"mallory"'), *lines[1:]]
    broken = audit.verify_export(edited)
    assert not broken.ok and "edited" in (broken.problem or "")
    shortened = audit.verify_export([*lines[:-2], lines[-1]])
    assert not shortened.ok and "lines were removed" in (shortened.problem or "")
    appended = audit.verify_export([*lines, lines[0]])
    assert not appended.ok


async def test_a_broken_chain_is_exported_and_says_so(gov: Gateway) -> None:
    await catalogue(gov)
    async with gov.database.write() as conn:
        await conn.execute(update(ae).where(ae.c.seq == 1).values(principal="someone-else"))
    async with graphql_client(gov, "audrey") as client:
        response = await client.get(LOG, params={"subject": MODEL, "verify": "true"})
    assert response.status_code == 200
    assert response.headers["x-modelgate-audit-verified"] == "broken"
    *events, last = lines_of(response.text)
    assert events and last["verification"]["ok"] is False and last["verification"]["badEvent"] == 1
    assert not audit.verify_export(response.text.splitlines()).ok


async def test_verify_is_for_json_lines_only(gov: Gateway) -> None:
    async with graphql_client(gov, "audrey") as client:
        for path, verify in (("/audit/export.csv", "true"), (LOG, "yes")):
            response = await client.get(path, params={"verify": verify})
            assert response.status_code == 400
            (error,) = response.json()["errors"]
            assert (
                error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "verify"
            )
        plain = await client.get(LOG, params={"subject": MODEL})
        assert "verification" not in plain.text and "x-modelgate-audit-verified" not in plain.headers


async def test_the_cli_exports_the_verified_log(gov: Gateway, tmp_path: Path) -> None:
    await catalogue(gov)
    out = tmp_path / "log.jsonl"
    code = await audit_export(gov.settings, "jsonl", audit.AuditFilter(subject=MODEL), str(out), verify=True)
    assert code == 0
    *events, last = lines_of(out.read_text())
    assert {e["subject"] for e in events} == {"mg://platform/fraud/1", "mg://platform/fraud/2"}
    assert last["verification"]["ok"] is True
    assert audit.verify_export(out.read_text().splitlines()).ok


async def test_graphql_pages_the_same_events_with_the_chains_verification(gov: Gateway) -> None:
    await catalogue(gov)
    query = (
        '{ auditEvents(subject: "mg://platform/fraud", first: 500) { totalCount edges { node '
        "{ subject sequence hash prevHash } } } auditVerification { ok events headHash } }"
    )
    async with graphql_client(gov, "audrey") as client:
        data = data_of(await gql(client, query))
        exported = lines_of((await client.get(LOG, params={"subject": MODEL, "verify": "true"})).text)
    nodes = [e["node"] for e in data["auditEvents"]["edges"]]
    assert {n["subject"] for n in nodes} == {"mg://platform/fraud/1", "mg://platform/fraud/2"}
    assert sorted(n["hash"] for n in nodes) == sorted(e["hash"] for e in exported[:-1])
    assert data["auditVerification"]["headHash"] == exported[-1]["verification"]["headHash"]
