"""Anchors outside the database for the audit chain: a truncated end is caught by
``--expect-head`` (the head published in metrics and exports), a chain rewritten
by someone without the HMAC key is caught by the key."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import delete, select, update

from adapters.protocol import RegistrationRequest
from gateway.cli import main
from gateway.config import ConfigError
from gateway.domain import ModelVersion
from gateway.governance import audit
from gateway.runtime import Gateway
from gateway.server import create_app
from gateway.store.database import Database
from gateway.store.tables import audit_chain_head, audit_events
from tests.support import make_settings

KEY = "correct horse battery staple"


async def _register(gw: Gateway, model: str) -> None:
    v = ModelVersion("platform", model, "0", artifact_uri=f"s3://m/{model}")
    await gw.register_version("platform", RegistrationRequest(model, v, "alice"))


@pytest.fixture
async def keyed(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    key_file = tmp_path / "audit.key"
    key_file.write_text(KEY + "\n")
    gw = await Gateway.open(
        make_settings(database_url, tmp_path, governance={"audit_hmac_key_file": str(key_file)})
    )
    try:
        for model in ("a", "b", "c", "d"):
            await _register(gw, model)
        yield gw
    finally:
        await gw.aclose()


async def _cut_end(db: Database, keep: int) -> None:
    """What someone with write access to the database does to hide the newest events."""
    async with db.write() as conn:
        await conn.execute(delete(audit_events).where(audit_events.c.seq > keep))
        last = (await conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == keep))).scalar()
        await conn.execute(update(audit_chain_head).values(seq=keep, hash=last))


async def _rewrite_without_key(db: Database) -> None:
    """Edit event 1 and re-hash the whole chain with plain SHA-256 (no key)."""
    async with db.write() as conn:
        rows = (await conn.execute(select(audit_events).order_by(audit_events.c.seq))).all()
        prev = None
        for row in rows:
            principal = "mallory" if row.seq == 1 else row.principal
            digest = audit.event_hash(row.seq, row.at, row.action, principal, row.subject, row.details, prev)
            await conn.execute(
                update(audit_events)
                .where(audit_events.c.seq == row.seq)
                .values(principal=principal, prev_hash=prev, hash=digest)
            )
            prev = digest
        await conn.execute(update(audit_chain_head).values(seq=len(rows), hash=prev))


async def test_a_keyed_chain_verifies_and_every_event_is_signed(keyed: Gateway) -> None:
    result = await audit.verify(keyed.database)
    assert result.ok and result.events >= 4 and result.keyed == result.events
    # Without the key the same chain cannot be checked: nobody can forge it either.
    unkeyed = Database(keyed.settings.storage.url)
    try:
        plain = await audit.verify(unkeyed)
    finally:
        await unkeyed.aclose()
    assert not plain.ok and plain.bad_seq == 1 and "audit key" in (plain.problem or "")


async def test_expect_head_catches_a_cut_off_end(keyed: Gateway) -> None:
    published = (await audit.chain_head(keyed.database))[1]
    assert published is not None
    await _cut_end(keyed.database, keep=2)
    assert (await audit.verify(keyed.database)).ok  # the chain alone looks intact
    result = await audit.verify(keyed.database, expect_head=published)
    assert not result.ok and "cut off the end" in (result.problem or "")
    # A head that is still in the chain (an older one) is fine.
    second = (await audit.chain_head(keyed.database))[1]
    assert (await audit.verify(keyed.database, expect_head=second)).ok


async def test_the_key_catches_a_chain_rewritten_without_it(keyed: Gateway) -> None:
    await _rewrite_without_key(keyed.database)
    unkeyed = Database(keyed.settings.storage.url)
    try:
        assert (await audit.verify(unkeyed)).ok  # consistent to anyone without the key
    finally:
        await unkeyed.aclose()
    result = await audit.verify(keyed.database)
    assert not result.ok and "not signed with the audit key" in (result.problem or "")


async def test_plain_events_are_accepted_only_before_the_first_signed_one(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    gw = await Gateway.open(settings)  # no key yet: plain SHA-256 events
    try:
        await _register(gw, "old")
    finally:
        await gw.aclose()
    key_file = tmp_path / "audit.key"
    key_file.write_text(KEY)
    gw = await Gateway.open(
        make_settings(database_url, tmp_path, governance={"audit_hmac_key_file": str(key_file)})
    )
    try:
        assert not (await audit.verify(gw.database)).ok  # nothing signed yet: cannot be trusted
        await _register(gw, "new")
        result = await audit.verify(gw.database)
        assert result.ok and 0 < (result.keyed or 0) < result.events
    finally:
        await gw.aclose()


def test_a_missing_key_stops_the_gateway(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/m.db", tmp_path, governance={"audit_hmac_key_env": "MG_NO_SUCH_VAR"}
    )
    with pytest.raises(ConfigError, match="MG_NO_SUCH_VAR"):
        settings.governance.audit_key(environ={})
    with pytest.raises(ConfigError, match="at least 16"):
        make_settings(
            f"sqlite:///{tmp_path}/m.db", tmp_path, governance={"audit_hmac_key_env": "K"}
        ).governance.audit_key(environ={"K": "short"})


async def test_the_head_is_published_in_metrics_and_exports(keyed: Gateway) -> None:
    import httpx

    seq, head = await audit.chain_head(keyed.database)
    app = create_app(keyed.settings, gateway=keyed, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        metrics = (await client.get("/metrics")).text
        export = await client.get("/audit/export.jsonl")
    assert re.search(rf"^modelgate_audit_chain_events {seq}\.0$", metrics, re.MULTILINE)
    assert f'modelgate_audit_chain_head_info{{hash="{head}"}} 1.0' in metrics
    assert export.headers["x-modelgate-audit-head"] == f"{seq}:{head}"
    assert export.text.splitlines()[-1].endswith(f'"hash":"{head}"}}')


CONFIG = """
[storage]
url = "sqlite:///{db}"
artifacts_dir = "{dir}/artifacts"
[governance]
audit_hmac_key_file = "{key}"
[[registries]]
id = "platform"
kind = "native"
team = "platform"
"""


def test_cli_verify_expect_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "mg.db"
    key = tmp_path / "audit.key"
    key.write_text(KEY)
    config = tmp_path / "modelgate.toml"
    config.write_text(CONFIG.format(db=db, dir=tmp_path, key=key))

    async def fill() -> str | None:
        gw = await Gateway.open(
            make_settings(f"sqlite:///{db}", tmp_path, governance={"audit_hmac_key_file": str(key)})
        )
        try:
            for model in ("a", "b", "c"):
                await _register(gw, model)
            head = (await audit.chain_head(gw.database))[1]
            await _cut_end(gw.database, keep=1)
            return head
        finally:
            await gw.aclose()

    head = asyncio.run(fill())
    assert head is not None
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert "signed with the audit key" in capsys.readouterr().out
    assert main(["audit", "verify", "--config", str(config), "--expect-head", head]) == 1
    assert f"expected head {head} is not in the chain" in capsys.readouterr().err
