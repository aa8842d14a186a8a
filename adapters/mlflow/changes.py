"""Incremental sync for MLflow: which registered models changed since a cursor.

MLflow bumps a registered model's ``last_updated_timestamp`` for new or deleted
versions, stage transitions and description edits, but **not** for aliases or
tags (model or version) — checked against 3.17, and pinned by a test. Ordering
by that timestamp alone would miss every alias move, i.e. most promotions. So:

- each pass lists every registered model (1,000 per request; the listing
  carries tags and aliases) and compares a fingerprint per model with the
  previous pass: new, changed and deleted models fall out of the comparison;
- version edits (description, stage) bump only the version's timestamp, so
  ``model-versions/search`` is read newest first, only back to the cursor's
  stamp minus an overlap window (MLflow stamps before it commits, so a late
  commit can carry an older stamp). Versions already seen in that window are
  carried in the cursor and not reported twice.

Version-tag edits bump nothing at all: they arrive through webhooks
(``model_version_tag.set``) or the full listing requested every
``full_resync_seconds``.

Fingerprints stay in memory, keyed by a generation named in the cursor. The
first pass (cursor None) opens a snapshot that the ``list_models`` listing which
follows fills in. A cursor from another process, an evicted generation or an
incomplete listing answers ``changed=None``: list everything.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.base import ChangeSet
from adapters.mlflow.mapping import model_fingerprint
from adapters.toolkit.http import JsonHttpClient
from adapters.toolkit.paging import decode_token, encode_token, listing, listing_token

OVERLAP_MS = 2_000  # re-read window below the newest version stamp seen
SNAPSHOTS_KEPT = 4  # a failed pass retries with an older cursor; keep a few generations
MAX_SEEN = 500  # a bigger overlap window is re-reported rather than carried in the cursor
VersionRow = tuple[str, str, int]  # (model name, version, last_updated_timestamp)


@dataclass
class Snapshot:
    """Fingerprints of every registered model as one pass saw them."""

    fingerprints: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    listing_began: bool = False


@dataclass(frozen=True)
class VersionMark:
    stamp: int  # newest version last_updated_timestamp seen
    seen: list[list[Any]]  # [name, version, stamp] of the versions in the overlap window


class ChangeTracker:
    def __init__(
        self,
        http: JsonHttpClient,
        all_models: Callable[[], AsyncIterator[dict[str, Any]]],
        full_resync_seconds: float,
    ):
        self._http = http
        self._all_models = all_models
        self._full_resync_seconds = full_resync_seconds
        self._epoch = uuid.uuid4().hex[:12]  # cursors from another process mean "list everything"
        self._generation = itertools.count(1)
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._open: Snapshot | None = None

    def observe_listing(self, raws: list[dict[str, Any]], *, first_page: bool, last_page: bool) -> None:
        """Called by ``list_models`` with each page it returns: after a first pass,
        that listing is what the index holds, so it is what later passes compare with."""
        snapshot = self._open
        if snapshot is None:
            return
        snapshot.listing_began |= first_page
        if snapshot.listing_began:
            snapshot.fingerprints.update((r["name"], model_fingerprint(r)) for r in raws)
            if last_page:
                snapshot.complete, self._open = True, None

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        if cursor is None:
            mark = self._mark(await self._recent_versions(None), 0)
            self._open = Snapshot()
            return ChangeSet(cursor=self._cursor(self._keep(self._open), mark, time.time()), changed=None)
        try:
            state = decode_token(cursor)
            previous = self._snapshots.get(int(state["gen"]))
            since_ms, full_at = int(state["vts"]), float(state["full"])
            seen = {(str(n), str(v), int(t)) for n, v, t in state["seen"]}
        except (ValueError, KeyError, TypeError):
            return ChangeSet(cursor=None, changed=None)
        if (
            state.get("epoch") != self._epoch
            or previous is None
            or not previous.complete
            or time.time() - full_at > self._full_resync_seconds
        ):
            return ChangeSet(cursor=None, changed=None)
        current = Snapshot(complete=True)
        async for raw in self._all_models():
            current.fingerprints[raw["name"]] = model_fingerprint(raw)
        rows = await self._recent_versions(since_ms - OVERLAP_MS)
        edited = {name for name, version, stamp in rows if (name, version, stamp) not in seen}
        changed = {n for n, f in current.fingerprints.items() if previous.fingerprints.get(n) != f}
        return ChangeSet(
            cursor=self._cursor(self._keep(current), self._mark(rows, since_ms), full_at),
            changed=sorted(changed | (edited & set(current.fingerprints))),
            deleted=sorted(set(previous.fingerprints) - set(current.fingerprints)),
        )

    def _keep(self, snapshot: Snapshot) -> int:
        generation = next(self._generation)
        self._snapshots[generation] = snapshot
        while len(self._snapshots) > SNAPSHOTS_KEPT:
            self._snapshots.popitem(last=False)
        return generation

    def _cursor(self, generation: int, mark: VersionMark, full_at: float) -> str:
        return encode_token(
            {"epoch": self._epoch, "gen": generation, "vts": mark.stamp, "seen": mark.seen, "full": full_at}
        )

    async def _recent_versions(self, floor_ms: int | None) -> list[VersionRow]:
        """Versions newest first, down to ``floor_ms`` (None: the first page only,
        enough to find the newest stamp)."""
        rows: list[VersionRow] = []
        token: str | None = None
        while True:
            query: dict[str, Any] = {
                "max_results": 200,
                "order_by": ["last_updated_timestamp DESC", "name ASC", "version_number DESC"],
            }
            if token:
                query["page_token"] = token
            body = await self._http.get("model-versions/search", query)
            for raw in listing(self._http.registry_id, body, "model_versions", what="a version search"):
                stamp = int(raw.get("last_updated_timestamp") or 0)
                if floor_ms is not None and stamp < floor_ms:
                    return rows
                rows.append((raw["name"], str(raw["version"]), stamp))
            token = listing_token(self._http.registry_id, body, "next_page_token", what="a version search")
            if not token or floor_ms is None:
                return rows

    @staticmethod
    def _mark(rows: list[VersionRow], since_ms: int) -> VersionMark:
        """The newest stamp, plus the versions within the overlap window below it, so the
        next pass re-reads that window without reporting what it has already seen."""
        newest = max([since_ms, *(r[2] for r in rows)])
        seen = [list(r) for r in rows if r[2] >= newest - OVERLAP_MS]
        return VersionMark(newest, seen if len(seen) <= MAX_SEEN else [])
