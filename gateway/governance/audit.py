"""The audit log: append-only, hash-chained, verifiable.

Each event carries a sequence number (1, 2, 3 ... without gaps), the previous
event's hash, and its own hash: SHA-256 over a canonical JSON of the event
(sequence, time, action, principal, subject, details and previous hash, keys
sorted, no spaces). Editing, deleting or reordering any event breaks the chain
at that event; cutting events off the end is caught by the chain head, a
one-row table holding the newest sequence number and hash.

Someone who can write the database can still cut the newest events off (and
the head with them) or rewrite the whole chain. Two anchors outside the
database catch that:

- an HMAC key (``[governance] audit_hmac_key_env`` or ``audit_hmac_key_file``):
  events are then hashed with HMAC-SHA256 under the key instead of SHA-256, so
  nobody without the key can forge one. Verification with the key accepts
  plain events only before the first keyed one, and needs the newest event to
  be keyed: a chain rewritten without the key fails.
- the head published elsewhere (the ``modelgate_audit_chain_head_info`` metric,
  the ``x-modelgate-audit-head`` header of every export, ``audit verify``'s
  output): ``modelgate audit verify --expect-head HASH`` fails unless the event
  with that hash is still in the chain, so cutting off the end is caught.

Events are appended inside the caller's transaction, so an event commits with
the change it records or not at all. Appenders serialise on the chain head:
PostgreSQL locks its row (``FOR UPDATE``) until commit, SQLite writes are
serialised already (``BEGIN IMMEDIATE``). Append last in a transaction, so the
head is held for as short a time as possible and always after every other lock.

Actions: ``version.registered``, ``version.removed``, ``stage.synced`` (a sync
saw a stage change modelgate did not make), ``promotion.requested``,
``promotion.approved``, ``promotion.rejected``, ``promotion.withdrawn`` (its
requester took it back), ``promotion.applied`` (the
write-through), ``stage.demoted`` (a version a PRODUCTION write-through moved
out of PRODUCTION, in the same transaction), ``promotion.failed``,
``promotion.blocked``, ``policy.changed``
and ``compliance.changed`` (a version's evaluated state changed; these are what
"as of" compliance reports are rebuilt from), and the canary rollouts'
``rollout.requested``, ``rollout.started``, ``rollout.step``,
``rollout.abort_requested``, ``rollout.succeeded``, ``rollout.rolled_back``,
``rollout.aborted``, ``rollout.failed`` and ``rollout.alerted``; the model store's
``artifact.migrated`` (a version's file copied into the store, its URI rewritten) and
``artifact.tiered`` (an archived version's file moved to a colder storage class).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.cursors import decode_cursor
from gateway.domain import utcnow
from gateway.governance.csvfile import csv_line
from gateway.store.database import Database, ReadConnection
from gateway.store.sql import escape_like, insert_ignore
from gateway.store.tables import audit_chain_head as head_table
from gateway.store.tables import audit_events as ae
from gateway.tokens import encode_token
from gateway.wording import plural

SYSTEM = "system"
# Events that record a version's stage change (``to`` in their details).
STAGE_ACTIONS = ("promotion.applied", "stage.demoted", "stage.synced")
HEAD_ID = 1
EXPORT_BATCH = 2000
# Where a write connection carries the audit HMAC key (``Database.audit_key``), so
# every appender signs without the key travelling through each signature.
AUDIT_KEY = "modelgate.audit_key"


def jsonable(value: Any) -> Any:
    """Details exactly as they will read back from the database, so the hash
    computed now matches the one recomputed at verification."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or infinity
    if isinstance(value, datetime):
        return _time(value)
    return str(value)


def _time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class NewEvent:
    action: str
    principal: str
    subject: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    action: str
    principal: str
    subject: str | None
    details: Mapping[str, Any]
    prev_hash: str | None
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": _time(self.at),
            "action": self.action,
            "principal": self.principal,
            "subject": self.subject,
            "details": self.details,
            "prevHash": self.prev_hash,
            "hash": self.hash,
        }


def event_hash(
    seq: int,
    at: datetime,
    action: str,
    principal: str,
    subject: str | None,
    details: Mapping[str, Any],
    prev_hash: str | None,
    key: bytes | None = None,
) -> str:
    """SHA-256 of the event's canonical JSON, or HMAC-SHA256 under ``key``."""
    canonical = json.dumps(
        {
            "seq": seq,
            "at": _time(at),
            "action": action,
            "principal": principal,
            "subject": subject,
            "details": details,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    if key is not None:
        return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def lock_chain(conn: AsyncConnection) -> tuple[int, str | None]:
    """Hold the chain head until the transaction ends; returns (newest seq, its hash).
    Taking it first also serialises a whole transaction with every other appender."""
    await insert_ignore(conn, head_table, {"id": HEAD_ID, "seq": 0, "hash": None})
    query = select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == HEAD_ID)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).one()
    return int(row.seq), row.hash


async def append_many(conn: AsyncConnection, events: Sequence[NewEvent]) -> list[AuditEvent]:
    """Append events, in order, inside the caller's transaction."""
    if not events:
        return []
    seq, prev = await lock_chain(conn)
    key = conn.info.get(AUDIT_KEY)
    now = utcnow()
    written: list[AuditEvent] = []
    for e in events:
        seq += 1
        details = jsonable(dict(e.details))
        digest = event_hash(seq, now, e.action, e.principal, e.subject, details, prev, key)
        written.append(AuditEvent(seq, now, e.action, e.principal, e.subject, details, prev, digest))
        prev = digest
    await conn.execute(
        ae.insert(),
        [
            {
                "seq": w.seq,
                "at": w.at,
                "action": w.action,
                "principal": w.principal,
                "subject": w.subject,
                "details": w.details,
                "prev_hash": w.prev_hash,
                "hash": w.hash,
            }
            for w in written
        ],
    )
    await conn.execute(update(head_table).where(head_table.c.id == HEAD_ID).values(seq=seq, hash=prev))
    return written


async def append(
    conn: AsyncConnection,
    action: str,
    principal: str,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction."""
    return (await append_many(conn, [NewEvent(action, principal, subject, details or {})]))[0]


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        seq=int(row.seq),
        at=row.at,
        action=row.action,
        principal=row.principal,
        subject=row.subject,
        details=row.details if row.details is not None else {},
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


# --- verification -------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    head_hash: str | None
    bad_seq: int | None = None
    problem: str | None = None
    keyed: int | None = None  # events signed with the audit key (None: verified without one)
    extract_of: int | None = None  # a verified export's: the events of the chain the server verified

    def __str__(self) -> str:
        if self.ok and self.extract_of is not None:
            head = self.head_hash or "(empty)"
            return (
                f"audit extract intact: {plural(self.events, 'event')}, each matching its hash, "
                f"from a chain of {plural(self.extract_of, 'event')} the server verified, head {head} "
                f"(`modelgate audit verify --expect-head {head}` checks the chain still holds it)"
            )
        if self.ok:
            signed = "" if self.keyed is None else f", {self.keyed} signed with the audit key"
            events = plural(self.events, "event")
            return f"audit log intact: {events}{signed}, head {self.head_hash or '(empty)'}"
        return f"audit log BROKEN at event #{self.bad_seq}: {self.problem}"


class ChainVerifier:
    """Walks a chain in sequence order, one event at a time (so a long log streams)."""

    def __init__(self, key: bytes | None = None, expect_head: str | None = None) -> None:
        self.expected_seq = 1
        self.prev_hash: str | None = None
        self.count = 0
        self.key = key
        self.keyed = 0
        self.last_keyed = False
        self.expect_head = expect_head.strip().lower() if expect_head else None
        self.expected_found = False

    def check(self, e: AuditEvent) -> Verification | None:
        """None if ``e`` fits the chain so far, else the failure it shows."""
        if e.seq != self.expected_seq:
            problem = (
                f"expected event #{self.expected_seq} but found #{e.seq}: event(s) deleted"
                if e.seq > self.expected_seq
                else f"event #{e.seq} appears out of order or twice"
            )
            return self._fail(self.expected_seq, problem)
        fields = (e.seq, e.at, e.action, e.principal, e.subject, e.details, e.prev_hash)
        keyed = self.key is not None and hmac.compare_digest(event_hash(*fields, key=self.key), e.hash)
        if not keyed and event_hash(*fields) != e.hash:
            hint = "" if self.key is not None else " (or it is signed with an audit key: configure it)"
            return self._fail(
                e.seq, f"{e.action} at {_time(e.at)} was edited (its hash does not match){hint}"
            )
        if self.key is not None and not keyed and self.keyed:
            return self._fail(
                e.seq,
                f"{e.action} at {_time(e.at)} is not signed with the audit key, though earlier events "
                "are: the chain was rewritten from here by someone without the key",
            )
        if e.prev_hash != self.prev_hash:
            return self._fail(
                e.seq,
                f"{e.action} at {_time(e.at)} does not follow event #{e.seq - 1} "
                "(events reordered, or the one before it deleted or replaced)",
            )
        self.prev_hash = e.hash
        self.count += 1
        self.expected_seq += 1
        self.keyed += keyed
        self.last_keyed = keyed
        self.expected_found = self.expected_found or e.hash == self.expect_head
        return None

    def finish(self, head: tuple[int, str | None] | None) -> Verification:
        """The verdict once every event passed; ``head`` is the stored chain head
        (newest sequence and hash), or None to skip the end check (an export)."""
        if head is not None and (head[0] != self.count or head[1] != self.prev_hash):
            return self._fail(
                self.count + 1,
                f"the chain head records {head[0]} events ending in {head[1]}, "
                f"the log holds {self.count}: events were removed from the end",
            )
        if self.key is not None and self.count and not self.last_keyed:
            return self._fail(
                self.count,
                f"the newest event #{self.count} is not signed with the audit key: the chain was "
                "rewritten without the key (or nothing was appended since the key was configured)",
            )
        if self.expect_head is not None and not self.expected_found:
            return self._fail(
                self.count + 1,
                f"the expected head {self.expect_head} is not in the chain ({self.count} events, head "
                f"{self.prev_hash or '(empty)'}): events were cut off the end, or the chain was rewritten",
            )
        return Verification(True, self.count, self.prev_hash, keyed=self._keyed())

    def _keyed(self) -> int | None:
        return self.keyed if self.key is not None else None

    def _fail(self, seq: int, problem: str) -> Verification:
        return Verification(False, self.count, self.prev_hash, seq, problem, keyed=self._keyed())


def verify_events(
    events: Iterable[AuditEvent],
    head: tuple[int, str | None] | None,
    *,
    key: bytes | None = None,
    expect_head: str | None = None,
) -> Verification:
    """Check a chain (oldest first); report the first event that does not fit."""
    verifier = ChainVerifier(key, expect_head)
    for e in events:
        if (failure := verifier.check(e)) is not None:
            return failure
    return verifier.finish(head)


async def chain_head(database: Database) -> tuple[int, str | None]:
    """The newest event's sequence number and hash ((0, None) for an empty log)."""
    async with database.read() as conn:
        row = (
            await conn.execute(select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == HEAD_ID))
        ).first()
    return (int(row.seq), row.hash) if row else (0, None)


async def verify(database: Database, *, expect_head: str | None = None) -> Verification:
    """Check the whole stored chain, streaming it, with the database's audit key."""
    verifier = ChainVerifier(database.audit_key, expect_head)
    async with database.read() as conn:
        row = (
            await conn.execute(select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == HEAD_ID))
        ).first()
        head = (int(row.seq), row.hash) if row else (0, None)
        # Up to the head read above: events appended meanwhile are not part of this check.
        async for e in _stream(conn, select(ae).where(ae.c.seq <= head[0]).order_by(ae.c.seq)):
            if (failure := verifier.check(e)) is not None:
                return failure
    return verifier.finish(head)


async def _stream(conn: ReadConnection, query: Any) -> AsyncIterator[AuditEvent]:
    result = await conn.stream(query.execution_options(yield_per=EXPORT_BATCH))
    async for row in result:
        yield _event(row)


# --- queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    # A version, or a model and all its versions: ``mg://r/m`` matches ``mg://r/m`` and
    # ``mg://r/m/<v>``, never ``mg://r/m2/...``.
    subject: str | None = None
    principal: str | None = None
    action: str | None = None  # exact, or a prefix ending in "*" ("promotion.*")
    since: datetime | None = None
    until: datetime | None = None
    through_seq: int | None = None  # only events of the chain up to this one (a verified export's)

    def as_dict(self) -> dict[str, Any]:
        """The filter as a verified export's trailer names it (what was asked for)."""
        named = {
            "subject": self.subject,
            "principal": self.principal,
            "action": self.action,
            "since": _time(self.since) if self.since else None,
            "until": _time(self.until) if self.until else None,
        }
        return {k: v for k, v in named.items() if v is not None}

    def conditions(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.through_seq is not None:
            conds.append(ae.c.seq <= self.through_seq)
        if self.subject:
            conds.append(
                or_(
                    ae.c.subject == self.subject,
                    ae.c.subject.like(escape_like(self.subject) + "/%", escape="\\"),
                )
            )
        if self.principal:
            conds.append(ae.c.principal == self.principal)
        if self.action:
            if self.action.endswith("*"):
                conds.append(ae.c.action.like(escape_like(self.action[:-1]) + "%", escape="\\"))
            else:
                conds.append(ae.c.action == self.action)
        if self.since:
            conds.append(ae.c.at >= self.since)
        if self.until:
            conds.append(ae.c.at <= self.until)
        return conds


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    cursors: list[str]
    total: int
    has_next: bool


async def query_events(database: Database, f: AuditFilter, first: int, after: str | None) -> AuditPage:
    """Newest first, keyset-paged on the sequence number."""
    where = and_(true(), *f.conditions())
    query = select(ae).where(where)
    if after:
        query = query.where(ae.c.seq < decode_cursor(after, {"seq": int})["seq"])
    query = query.order_by(ae.c.seq.desc()).limit(first + 1)
    async with database.read() as conn:
        rows = (await conn.execute(query)).all()
        total = (await conn.execute(select(func.count()).select_from(ae).where(where))).scalar_one()
    events = [_event(r) for r in rows[:first]]
    return AuditPage(events, [encode_token({"seq": e.seq}) for e in events], total, len(rows) > first)


async def iter_events(database: Database, f: AuditFilter | None = None) -> AsyncIterator[AuditEvent]:
    """Every matching event, oldest first (for exports)."""
    where = and_(true(), *(f or AuditFilter()).conditions())
    async with database.read() as conn:
        async for e in _stream(conn, select(ae).where(where).order_by(ae.c.seq)):
            yield e


async def latest_event(
    conn: AsyncConnection, actions: Sequence[str], subject: str | None = None
) -> AuditEvent | None:
    query = select(ae).where(ae.c.action.in_(actions))
    if subject is not None:
        query = query.where(ae.c.subject == subject)
    row = (await conn.execute(query.order_by(ae.c.seq.desc()).limit(1))).first()
    return _event(row) if row else None


# --- export formats ---------------------------------------------------------------------

CSV_COLUMNS = ("seq", "at", "action", "principal", "subject", "details", "prevHash", "hash")


def to_jsonl(event: AuditEvent) -> str:
    return json.dumps(event.as_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_header() -> str:
    return csv_line(CSV_COLUMNS)


def to_csv(event: AuditEvent) -> str:
    d = event.as_dict()
    d["details"] = json.dumps(d["details"], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return csv_line(d[c] for c in CSV_COLUMNS)


def _from_dict(d: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
        seq=int(d["seq"]),
        at=datetime.fromisoformat(d["at"]),
        action=d["action"],
        principal=d["principal"],
        subject=d.get("subject"),
        details=d.get("details") or {},
        prev_hash=d.get("prevHash"),
        hash=d["hash"],
    )


def from_jsonl(lines: Iterable[str]) -> Iterable[AuditEvent]:
    """Read back a JSON Lines export, so an export can be verified on its own (a
    verified export's trailer is skipped: ``verify_export`` reads it)."""
    for line in lines:
        if not line.strip():
            continue
        d = json.loads(line)
        if TRAILER not in d:
            yield _from_dict(d)


# --- a verified export: a filtered log checkable against the whole chain -------------------
#
# ``GET /audit/export.jsonl?subject=mg://r/m&verify=true`` (the Article 12 log of a
# model): the server verifies the whole chain first, then writes the matching events
# of the chain it verified, each with its hash and previous hash, and last one line
# ``{"verification": {...}}``: the verdict, the chain's length and head hash, how many
# events were exported and the filter. Each exported event can be checked against its
# own hash (and against its neighbour where two follow each other in the chain); the
# head ties the extract to the whole chain, which ``audit verify --expect-head`` checks.

TRAILER = "verification"


def trailer_line(v: Verification, exported: int, f: AuditFilter) -> str:
    """The last line of a verified export."""
    body = {
        "ok": v.ok,
        "chainEvents": v.events,
        "headHash": v.head_hash,
        "badEvent": v.bad_seq,
        "problem": v.problem,
        "signedEvents": v.keyed,
        "exported": exported,
        "filter": f.as_dict(),
        "verifiedAt": _time(utcnow()),
    }
    return json.dumps({TRAILER: body}, ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class VerifiedExport:
    verification: Verification
    head: tuple[int, str | None]  # the chain's head the export stops at
    lines: AsyncIterator[str]  # the events' JSON Lines, then the trailer


async def verified_export(database: Database, f: AuditFilter) -> VerifiedExport:
    """Verify the whole chain, then the events ``f`` matches among those verified and
    the trailer (a broken chain is still exported, up to its head, and says so)."""
    verification = await verify(database)
    head = (verification.events, verification.head_hash) if verification.ok else await chain_head(database)
    scoped = dataclasses.replace(f, through_seq=head[0])

    async def lines() -> AsyncIterator[str]:
        exported = 0
        async for event in iter_events(database, scoped):
            exported += 1
            yield to_jsonl(event)
        yield trailer_line(verification, exported, f)

    return VerifiedExport(verification, head, lines())


class ExtractVerifier:
    """Checks the events of a filtered export: each against its own hash, in chain
    order, and linked to its neighbour where the two are consecutive in the chain."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key
        self.count = 0
        self.keyed = 0
        self.last: AuditEvent | None = None
        self.hashes: set[str] = set()

    def check(self, e: AuditEvent) -> Verification | None:
        last = self.last
        if last is not None and e.seq <= last.seq:
            return self._fail(e.seq, f"event #{e.seq} appears out of order or twice")
        fields = (e.seq, e.at, e.action, e.principal, e.subject, e.details, e.prev_hash)
        keyed = self.key is not None and hmac.compare_digest(event_hash(*fields, key=self.key), e.hash)
        if not keyed and event_hash(*fields) != e.hash:
            hint = "" if self.key is not None else " (or it is signed with an audit key: configure it)"
            return self._fail(
                e.seq, f"{e.action} at {_time(e.at)} was edited (its hash does not match){hint}"
            )
        if last is not None and e.seq == last.seq + 1 and e.prev_hash != last.hash:
            return self._fail(e.seq, f"{e.action} at {_time(e.at)} does not follow event #{last.seq}")
        self.count += 1
        self.keyed += keyed
        self.last = e
        self.hashes.add(e.hash)
        return None

    def finish(self, trailer: Mapping[str, Any], expect_head: str | None = None) -> Verification:
        """The verdict on the extract given the server's trailer."""
        chain, head = int(trailer.get("chainEvents") or 0), trailer.get("headHash")
        if not trailer.get("ok"):
            return self._fail(
                trailer.get("badEvent"), f"the server found the chain broken: {trailer.get('problem')}"
            )
        if int(trailer.get("exported", -1)) != self.count:
            return self._fail(
                None,
                f"the server exported {trailer.get('exported')} events, the file holds {self.count}: "
                "lines were removed or added",
            )
        last = self.last
        if last is not None and (last.seq > chain or (last.seq == chain and last.hash != head)):
            return self._fail(last.seq, f"event #{last.seq} is not in the verified chain ending in {head}")
        wanted = expect_head.strip().lower() if expect_head else None
        if wanted is not None and wanted != head and wanted not in self.hashes:
            return self._fail(None, f"the expected head {wanted} is neither this export's head nor in it")
        return Verification(True, self.count, head, keyed=self._keyed(), extract_of=chain)

    def _keyed(self) -> int | None:
        return self.keyed if self.key is not None else None

    def _fail(self, seq: int | None, problem: str) -> Verification:
        head = self.last.hash if self.last else None
        return Verification(False, self.count, head, seq, problem, keyed=self._keyed())


def verify_export(
    lines: Iterable[str], *, key: bytes | None = None, expect_head: str | None = None
) -> Verification:
    """Verify a JSON Lines export on its own: a whole log as a chain (``verify_events``;
    it has no chain head, so a cut-off end is only caught by ``expect_head``), or a
    verified export (its last line the server's verification) as an extract of it."""
    chain = ChainVerifier(key, expect_head)
    extract = ExtractVerifier(key)
    chain_failure = extract_failure = None
    trailer: Mapping[str, Any] | None = None
    for line in lines:
        if not line.strip():
            continue
        d = json.loads(line)
        if TRAILER in d:
            trailer = d[TRAILER]
            continue
        if trailer is not None:
            return Verification(False, extract.count, None, None, "events follow the verification line")
        e = _from_dict(d)
        chain_failure = chain_failure or chain.check(e)
        extract_failure = extract_failure or extract.check(e)
    if trailer is None:
        return chain_failure or chain.finish(None)
    return extract_failure or extract.finish(trailer, expect_head)
