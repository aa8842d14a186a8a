"""The ``gto`` adapter: a Git repository managed with GTO behind ``RegistryAdapter``.

Reads are answered from a snapshot of the local mirror (``adapters.gto.mirror``):
its tags give the versions and stages (``adapters.gto.tags``), the files at each
tagged commit the metadata, metrics and params (``adapters.gto.mapping``), read
in two ``git cat-file --batch`` calls and kept per commit, since a commit never
changes. The mirror follows the remote in ``changes_since`` (every sync pass)
and when a write needs it; an unchanged remote costs one ``ls-remote``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.base import ChangeSet, Health, Page, PromotionContext
from adapters.gto.dvcyaml import load_for_artifact
from adapters.gto.links import repository_url
from adapters.gto.mapping import (
    DVC_YAML,
    GTO_INDEX,
    ArtifactMeta,
    CommitFacts,
    artifact_meta,
    artifact_of,
    declared_artifacts,
    dvc_yaml_path,
    merge_files,
    metric_and_param_files,
    metrics_of,
    model_name_of,
    params_of,
    parent_of,
    parse_data_file,
    short_name,
    to_model,
    to_version,
)
from adapters.gto.mirror import Blob, Mirror, RemoteRefs
from adapters.gto.options import GtoSettings
from adapters.gto.tags import ArtifactState, VersionState, build_state, deregister_tag, stage_tag
from adapters.toolkit.paging import decode_token, encode_token
from gateway.domain import LineageEdge, Model, ModelVersion, Stage, record_edges
from gateway.errors import RegistryError, RegistryRejected

log = logging.getLogger(__name__)
ParseJob = tuple[Blob | None, str, str | None]  # (file, its path, the artifact it is read for)
STATE_FILE = "modelgate-fingerprints.json"
HISTORY = 8  # change-feed cursors remembered in memory


@dataclass
class Snapshot:
    digest: str
    artifacts: dict[str, ArtifactState]
    models: dict[str, Model]  # by model name, sorted
    versions: dict[str, list[ModelVersion]]  # by model name, oldest first
    fingerprints: dict[str, str]
    built_at: float = field(default=0.0)


class GtoRegistry:
    """Reads, change feed and stage write-through for one GTO repository."""

    kind = "gto"

    def __init__(
        self,
        registry_id: str,
        settings: GtoSettings,
        mirror_path: Path,
        *,
        team: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.registry_id = registry_id
        self.team = team
        self.settings = settings
        self.mirror = Mirror(registry_id, settings, mirror_path)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._snapshot: Snapshot | None = None
        self._facts: dict[tuple[str, str], CommitFacts] = {}  # (commit, artifact) -> facts
        self._declared: dict[
            str, tuple[dict[str, ArtifactMeta], int]
        ] = {}  # head commit -> (artifacts, time)
        self._history: dict[str, dict[str, str]] = {}
        self._parsed: dict[tuple[str, str | None], Any] = {}  # (blob id, artifact) -> parsed
        self._prepared = False
        self._head_ref: str | None = None  # the remote's HEAD branch, as last advertised
        self.fetches = 0  # how many times the mirror fetched (the benchmark reports it)

    # --- freshness -------------------------------------------------------------

    async def _prepare(self) -> None:
        if not self._prepared:
            await self.mirror.ensure()
            state = self.mirror.path / STATE_FILE
            try:
                saved = json.loads(state.read_text())
                self._history.update({str(k): dict(v) for k, v in saved.items()})
            except (OSError, ValueError, AttributeError):
                pass
            self._prepared = True

    async def _follow(self, remote: RemoteRefs) -> Snapshot:
        """Bring mirror and snapshot to what the remote advertises (fetch only if it differs)."""
        async with self._lock:
            await self._prepare()
            if self._snapshot is not None and self._snapshot.digest == remote.digest:
                return self._snapshot
            self._head_ref = remote.head or self._head_ref
            local = await self.mirror.local_refs()
            if local != remote.refs:
                await self.mirror.fetch()
                self.fetches += 1
            return await self._rebuild(remote.head)

    async def _refresh(self) -> Snapshot:
        return await self._follow(await self.mirror.remote_refs())

    async def _current(self) -> Snapshot:
        """The snapshot; the first read follows the remote, or serves the mirror it
        left on disk when the remote is unreachable."""
        if self._snapshot is not None:
            return self._snapshot
        try:
            return await self._refresh()
        except RegistryError:
            async with self._lock:
                await self._prepare()
                if not await self.mirror.local_refs():
                    raise
                log.warning("registry %s: remote unreachable, serving the local mirror", self.registry_id)
                return self._snapshot or await self._rebuild(None)

    async def _rebuild(self, head_ref: str | None) -> Snapshot:
        records = await self.mirror.tags()
        artifacts = build_state(records)
        head_ref = head_ref or self._head_ref
        branch = f"refs/heads/{self.settings.branch}" if self.settings.branch else head_ref
        head = await self.mirror.head(branch)
        declared: dict[str, ArtifactMeta] = {}
        head_time: datetime | None = None
        if head is not None:
            declared, head_time = await self._declared_at(*head)
        await self._read_facts(artifacts)
        models: dict[str, Model] = {}
        versions: dict[str, list[ModelVersion]] = {}
        fingerprints: dict[str, str] = {}
        tag_ids = {r.name: r.object_id for r in records}
        names = {a for a, s in artifacts.items() if any(v.registered for v in s.versions.values())}
        names |= {a for a, m in declared.items() if m.type in self.settings.model_types}
        names |= {
            a
            for a, s in artifacts.items()
            for v in s.versions.values()
            if (f := self._facts.get((v.commit, a))) and f.meta and f.meta.type in self.settings.model_types
        }
        for name in sorted(names):
            state = artifacts.get(name)
            listed: list[ModelVersion] = []
            if state is not None:
                registered = [v for v in state.versions.values() if v.registered]
                for version in sorted(registered, key=_registered_at):
                    facts = self._facts[(version.commit, name)]
                    listed.append(
                        to_version(
                            self.registry_id, self.settings.repo, state, version, facts, self.settings.stages
                        )
                    )
            latest = max(listed, key=_semver_key) if listed else None
            model = to_model(self.registry_id, name, state, latest, declared.get(name), head_time)
            model_name = model_name_of(name)
            models[model_name] = model
            versions[model_name] = listed
            tag_list = (
                sorted(f"{e.record.name} {tag_ids[e.record.name]}" for e in state.tags) if state else []
            )
            if not tag_list and head is not None:
                tag_list = [f"head {head[0]}"]
            fingerprints[model_name] = hashlib.sha256("\n".join(tag_list).encode()).hexdigest()[:24]
        digest = RemoteRefs(await self.mirror.local_refs(), head_ref).digest
        snapshot = Snapshot(digest, artifacts, models, versions, fingerprints, built_at=self._clock())
        self._snapshot = snapshot
        self._remember(digest, fingerprints)
        return snapshot

    async def _declared_at(self, commit: str, when: int) -> tuple[dict[str, ArtifactMeta], datetime]:
        if commit not in self._declared:
            blobs = await self.mirror.read_blobs([f"{commit}:{DVC_YAML}", f"{commit}:{GTO_INDEX}"])
            dvc, index = (self._parse(blobs[f"{commit}:{p}"], p) for p in (DVC_YAML, GTO_INDEX))
            found = declared_artifacts(dvc, index)
            self._declared = {commit: (found, when)}  # only the current head is worth keeping
        found, when = self._declared[commit]
        return found, datetime.fromtimestamp(when, tz=UTC)

    async def _read_facts(self, artifacts: dict[str, ArtifactState]) -> None:
        """Metadata, metrics and params of every registered version not read before."""
        wanted = {
            (v.commit, name)
            for name, state in artifacts.items()
            for v in state.versions.values()
            if v.registered and (v.commit, name) not in self._facts
        }
        if not wanted:
            return
        first = await self.mirror.read_blobs(
            [s for c, a in wanted for s in (f"{c}:{dvc_yaml_path(a)}", f"{c}:{GTO_INDEX}")]
        )
        jobs: list[ParseJob] = []
        for commit, name in wanted:  # a dvc.yaml is read only for the artifact a version needs
            jobs.append((first.get(f"{commit}:{dvc_yaml_path(name)}"), DVC_YAML, short_name(name)))
            jobs.append((first.get(f"{commit}:{GTO_INDEX}"), GTO_INDEX, None))
        await self._parse_off_loop(jobs)
        plans: dict[tuple[str, str], tuple[ArtifactMeta | None, list[str], list[str]]] = {}
        for commit, name in wanted:
            dvc = self._parse(first.get(f"{commit}:{dvc_yaml_path(name)}"), DVC_YAML, short_name(name))
            meta = artifact_meta(name, dvc, self._parse(first.get(f"{commit}:{GTO_INDEX}"), GTO_INDEX))
            metric_files, param_files = metric_and_param_files(name, dvc)
            plans[(commit, name)] = (meta, metric_files, param_files)
        second = await self.mirror.read_blobs(
            [f"{c}:{p}" for (c, _), (_, m, ps) in plans.items() for p in (*m, *ps)]
        )
        await self._parse_off_loop([(blob, spec, None) for spec, blob in second.items()])
        for (commit, name), (meta, metric_files, param_files) in plans.items():
            metrics = merge_files([(p, self._parse(second.get(f"{commit}:{p}"), p)) for p in metric_files])
            params = merge_files([(p, self._parse(second.get(f"{commit}:{p}"), p)) for p in param_files])
            self._facts[(commit, name)] = CommitFacts(
                meta, metrics_of(metrics), params_of(params), parent_of(meta)
            )

    async def _parse_off_loop(self, jobs: list[ParseJob]) -> None:
        """Parse files not seen before in a worker thread: hundreds of large
        ``dvc.yaml`` files take seconds, and queries must not wait for them."""
        todo = {
            (blob.object_id, part): (blob, path)
            for blob, path, part in jobs
            if blob is not None and (blob.object_id, part) not in self._parsed
        }
        if todo:
            parsed = await asyncio.to_thread(
                lambda: {key: _parse_blob(blob, path, key[1]) for key, (blob, path) in todo.items()}
            )
            self._parsed.update(parsed)

    def _parse(self, blob: Blob | None, path: str, part: str | None = None) -> Any:
        """A file's parsed content (``part``: only what that artifact needs of a
        ``dvc.yaml``), once per blob object: the same file at many commits is one."""
        if blob is None:
            return None
        key = (blob.object_id, part)
        if key not in self._parsed:
            self._parsed[key] = _parse_blob(blob, path, part)
        return self._parsed[key]

    def _remember(self, digest: str, fingerprints: dict[str, str]) -> None:
        self._history[digest] = fingerprints
        while len(self._history) > HISTORY:
            self._history.pop(next(iter(self._history)))
        try:
            (self.mirror.path / STATE_FILE).write_text(json.dumps({digest: fingerprints}))
        except OSError as exc:  # only costs a full comparison after a restart
            log.warning("registry %s: cannot save change-feed state: %s", self.registry_id, exc)

    # --- reads -------------------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """Models by name. The whole tag list is one listing in Git; pages are cut
        from the snapshot (``page_size``) so the catalogue's paging holds."""
        snapshot = await self._current()
        return _page(list(snapshot.models.values()), page_token, self.settings.page_size)

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """Registered versions (deregistered ones too, as ARCHIVED), oldest registration first."""
        snapshot = await self._current()
        return _page(snapshot.versions.get(model_name, []), page_token, self.settings.page_size)

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]:
        snapshot = await self._current()
        every = [v for name in snapshot.models for v in snapshot.versions.get(name, [])]
        return _page(every, page_token, self.settings.page_size)

    async def get_model(self, name: str) -> Model | None:
        return (await self._current()).models.get(name)

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        """By the tag's version string (``v1.2.0``); ``1.2.0`` is accepted too."""
        versions = (await self._current()).versions.get(name, [])
        wanted = version if version.startswith("v") else f"v{version}"
        return next((v for v in versions if v.version == wanted), None)

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """The change feed: ``git ls-remote`` against the tag set last seen. The
        cursor is a digest of the advertised refs; an unchanged repository answers
        ``changed=[]`` after that one round trip. A changed one is fetched and its
        models compared by a fingerprint of their tags (a cursor this process or
        the mirror's state file does not know: ``changed=None``, a full listing)."""
        snapshot = await self._refresh()
        if cursor is None:
            return ChangeSet(cursor=snapshot.digest, changed=None)
        if cursor == snapshot.digest:
            return ChangeSet(cursor=cursor, changed=[])
        before = self._history.get(cursor)
        if before is None:
            return ChangeSet(cursor=snapshot.digest, changed=None)
        now = snapshot.fingerprints
        changed = [name for name, fp in now.items() if before.get(name) != fp]
        deleted = [name for name in before if name not in now]
        return ChangeSet(cursor=snapshot.digest, changed=changed, deleted=deleted)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """Edges from the record: the tagged commit (PRODUCED_BY) and ``parent``."""
        return record_edges(version)

    # --- write-through -------------------------------------------------------------

    async def set_stage_for_promotion(
        self, version: ModelVersion, stage: Stage, *, context: PromotionContext
    ) -> ModelVersion:
        """``set_stage`` for an approved promotion: the tag message names the
        request, its requester, reason and every approver (principal and role)."""
        approvals = ", ".join(f"{a.principal} ({a.role})" for a in context.approvals) or "none required"
        note = (
            f"Promotion request {context.request_id} by {context.requested_by}"
            + (f": {context.reason}" if context.reason else "")
            + f"\nApproved by: {approvals}"
        )
        return await self._set_stage(version, stage, context.requested_by, note)

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """Write a stage as GTO tags on the version's commit, pushed to the remote.

        PRODUCTION and STAGING assign the first name of ``production_stages`` /
        ``staging_stages`` (``ART#prod#N``) unless the version already has a name
        of that list in effect, and unassign (``ART#staging!#N``) the other mapped
        stages it holds; DRAFT unassigns them all; ARCHIVED unassigns every stage
        it holds and deregisters it (``ART@v1.2.0!``). GTO never re-registers a
        deregistered version, so promoting one is refused. Tags are annotated, by
        ``committer_name``, with the actor in the message, and dated at least one
        second after the artifact's newest tag: GTO orders by tag time (seconds),
        so the new assignment is the one in effect. A push the remote refuses is a
        ``RegistryRejected`` with its message; the local tags are then dropped."""
        return await self._set_stage(version, stage, actor, None)

    async def _set_stage(
        self, version: ModelVersion, stage: Stage, actor: str, note: str | None
    ) -> ModelVersion:
        snapshot = await self._refresh()
        async with self._lock:
            snapshot = self._snapshot or snapshot
            name = artifact_of(version.model_name)
            state = snapshot.artifacts.get(name)
            target = state.versions.get(version.version) if state else None
            if state is None or target is None or not target.registered:
                raise RegistryRejected(
                    self.registry_id, f"{name} has no registered version {version.version}"
                )
            writes = self._plan(state, target, stage, actor, note)
            if writes:
                await self._write(state, target, writes)
                snapshot = await self._rebuild(None)
        written = next(
            (v for v in snapshot.versions.get(version.model_name, []) if v.version == version.version), None
        )
        if written is None:
            raise RegistryRejected(self.registry_id, f"version {version.uri} vanished during the write")
        return written

    def _plan(
        self, state: ArtifactState, target: VersionState, stage: Stage, actor: str, record: str | None
    ) -> list[tuple[str, str]]:
        """The (tag name, message) pairs that put ``target`` in ``stage``."""
        stages = self.settings.stages
        held = state.stages_of(target.version)
        counter = state.max_counter
        wanted: tuple[str, ...] = {Stage.PRODUCTION: stages.production, Stage.STAGING: stages.staging}.get(
            stage, ()
        )
        if not target.active and stage is not Stage.ARCHIVED:
            raise RegistryRejected(
                self.registry_id,
                f"{state.name} {target.version} is deregistered and GTO cannot register it again",
            )
        note = f"\n\nWritten by modelgate for {actor}: unified stage {stage.value} ({self.registry_id})."
        if record:
            note += f"\n{record}"
        writes: list[tuple[str, str]] = []
        if stage is Stage.ARCHIVED:
            drop = held
        else:
            drop = [s for s in held if stages.rank(s) > 0 and s not in wanted]
        for name in drop:
            counter += 1
            message = f"Unassigning stage {name} from artifact {state.name} version {target.version}{note}"
            writes.append((stage_tag(state.name, name, counter, cancel=True), message))
        if wanted and not set(wanted) & set(held):
            counter += 1
            message = f"Assigning stage {wanted[0]} to artifact {state.name} version {target.version}{note}"
            writes.append((stage_tag(state.name, wanted[0], counter), message))
        if stage is Stage.ARCHIVED and target.active:
            message = f"Deregistering artifact {state.name} version {target.version}{note}"
            writes.append((deregister_tag(state.name, target.version), message))
        return writes

    async def _write(self, state: ArtifactState, target: VersionState, writes: list[tuple[str, str]]) -> None:
        newest = int(state.last_time.timestamp()) if state.last_time else 0
        date = max(int(self._clock()), newest + 1)
        created: list[str] = []
        try:
            for tag, message in writes:
                await self.mirror.create_tag(tag, target.commit, message, date=date)
                created.append(tag)
                date += 1  # each later than the last: GTO applies them in this order
            await self.mirror.push_tags(created)
        except BaseException:
            await self.mirror.delete_tags(created)  # the mirror must keep matching the remote
            raise

    # --- operations --------------------------------------------------------------------

    def source_url(self, model_name: str, version: str | None = None) -> str | None:
        """The Git repository that is this registry (``SourceLinker``)."""
        return repository_url(self.settings.repo)

    async def health(self) -> Health:
        """One ``ls-remote``: reports a remote that is missing, unreachable or refuses us."""
        try:
            await self.mirror.remote_refs()
        except RegistryError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True)

    async def aclose(self) -> None:
        return None


def _parse_blob(blob: Blob, path: str, part: str | None) -> Any:
    if part is not None:
        return load_for_artifact(blob.data.decode("utf-8", "replace"), part)
    return parse_data_file(path, blob.data)


def _registered_at(version: VersionState) -> tuple[datetime, str]:
    registration = version.registration
    when = registration.record.time if registration else datetime.min.replace(tzinfo=UTC)
    return (when, version.version)


def _semver_key(version: ModelVersion) -> tuple[int, ...]:
    core = (version.semver or "0.0.0").split("-", 1)[0].split("+", 1)[0]
    try:
        return tuple(int(p) for p in core.split("."))
    except ValueError:
        return (0,)


def _page(items: list, token: str | None, size: int) -> Page:  # type: ignore[type-arg]
    offset = int(decode_token(token).get("offset", 0)) if token else 0
    chunk = items[offset : offset + size]
    more = offset + size < len(items)
    return Page(chunk, encode_token({"offset": offset + size}) if more else None)
