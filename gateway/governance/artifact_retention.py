"""Archived versions' files to a colder storage class (``[artifacts]
archive_after_days`` and ``archive_storage_class``; ``modelgate artifacts retain``).

A stored file is a candidate when every native version that names it has been
ARCHIVED for at least ``archive_after_days`` (since its last move to ARCHIVED in
the stage history; a version without one counts from its record's last write).
One version still in use that names the same file keeps it where it is: files
are content-addressed, so two versions of a model with the same bytes share one
object. Nothing is ever deleted; moving rewrites the object in place under its
own digest-named key (``gateway.artifacts.tiering``), and each move is an
``artifact.tiered`` event in the audit log, one per version naming the file.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.artifacts.store import ArtifactStore, StoredFile, version_files
from gateway.artifacts.tiering import TieringFailed, move_to_class, storage_class_of
from gateway.domain import Stage
from gateway.governance import audit
from gateway.store.artifact_records import VersionArtifact, archived_since, native_artifacts
from gateway.store.database import Database

PRINCIPAL = "retention:artifacts"
ACTION = "artifact.tiered"


@dataclass
class TierCandidate:
    file: StoredFile
    uri: str  # the file's URI in the store
    versions: list[str] = field(default_factory=list)  # the ARCHIVED versions naming it
    archived_days: int = 0  # the most recently archived of them


@dataclass(frozen=True)
class TierPlan:
    storage_class: str
    candidates: list[TierCandidate]
    kept: dict[str, list[str]]  # a file's URI -> versions still in use that name it (or its folder)

    @property
    def bytes(self) -> int:
        return sum(c.file.size for c in self.candidates)


@dataclass(frozen=True)
class TierOutcome:
    candidate: TierCandidate
    status: str  # MOVED, ALREADY (it had the class), FAILED
    detail: str | None = None


async def plan(
    database: Database,
    store: ArtifactStore,
    registry_ids: list[str],
    *,
    after_days: int,
    storage_class: str,
    now: datetime,
) -> TierPlan:
    versions = await native_artifacts(database, registry_ids)
    archived = [v for v in versions if v.stage == Stage.ARCHIVED.value]
    since = await archived_since(database, [v.uri for v in archived])
    cutoff = now - timedelta(days=after_days)
    old_enough = {v.uri for v in archived if since.get(v.uri, v.updated_at) <= cutoff}
    # What versions still in use name: a key, or a prefix (a directory version's URI).
    # Only the store's own keys are read; no request to the store for these.
    in_use: dict[str, list[str]] = defaultdict(list)
    for v in versions:
        key = store.backend.key_of(v.artifact_uri) if v.artifact_uri else None
        if key is not None and v.uri not in old_enough:
            in_use[key].append(v.uri)
    prefixes = [k for k in in_use if k.endswith("/")]
    by_key: dict[str, tuple[StoredFile, list[VersionArtifact]]] = {}
    for v in versions:
        if v.uri in old_enough:
            for f in await version_files(store, v.registry_id, v.model_name, v.artifact_uri):
                by_key.setdefault(f.key, (f, []))[1].append(v)
    candidates: list[TierCandidate] = []
    kept: dict[str, list[str]] = {}
    for key, (f, naming) in sorted(by_key.items()):
        uri = store.backend.uri(key)
        users = in_use.get(key, []) + [u for p in prefixes if key.startswith(p) for u in in_use[p]]
        if users:
            kept[uri] = sorted(users)
            continue
        newest = max(since.get(v.uri, v.updated_at) for v in naming)
        candidates.append(TierCandidate(f, uri, [v.uri for v in naming], (now - newest).days))
    return TierPlan(storage_class, candidates, kept)


async def apply(database: Database, store: ArtifactStore, tier_plan: TierPlan) -> list[TierOutcome]:
    """Move every candidate, each audited in its own transaction once it moved."""
    outcomes = []
    for c in tier_plan.candidates:
        try:
            tiered = await move_to_class(store, c.file, tier_plan.storage_class)
        except TieringFailed as exc:
            outcomes.append(TierOutcome(c, "FAILED", str(exc)))
            continue
        except Exception as exc:  # the store refused: report it, go on with the others
            problem = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            outcomes.append(TierOutcome(c, "FAILED", f"{c.uri}: {problem}"))
            continue
        if not tiered.moved:
            outcomes.append(TierOutcome(c, "ALREADY"))
            continue
        async with database.write() as conn:
            await _audit(conn, c, tier_plan.storage_class)
        outcomes.append(TierOutcome(c, "MOVED"))
    return outcomes


async def _audit(conn: AsyncConnection, c: TierCandidate, storage_class: str) -> None:
    details = {
        "artifact": c.uri,
        "digest": c.file.digest,
        "size": c.file.size,
        "storageClass": storage_class,
        "archivedDays": c.archived_days,
    }
    await audit.append_many(conn, [audit.NewEvent(ACTION, PRINCIPAL, v, details) for v in c.versions])


async def current_class(store: ArtifactStore, c: TierCandidate) -> str | None:
    """The class modelgate gave the candidate's file, for the plan's listing."""
    try:
        return await storage_class_of(store, c.file.key)
    except TieringFailed:
        return None
