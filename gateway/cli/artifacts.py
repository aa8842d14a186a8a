"""``modelgate artifacts migrate|retain``: the model store's maintenance.

- ``migrate`` copies native versions' files from where their records say they
  are (``file://`` paths: the older ``storage.artifacts_dir``; or a bucket named
  by ``--from URL``) into the configured store (or ``--to URL``), checks every
  digest, then rewrites each version's URI. Reruns skip what is done; a failure
  leaves that version's record and source as they were.
- ``retain`` moves the files of versions ARCHIVED for ``[artifacts]
  archive_after_days`` to ``archive_storage_class``
  (``gateway.governance.artifact_retention``).

Both print one line per item and a summary; ``--dry-run`` only lists.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.artifacts import ArtifactStore, open_backend
from gateway.artifacts.migrate import (
    MigrationFailed,
    Source,
    SourceReader,
    copy_verified,
    expected_digest,
)
from gateway.artifacts.tiering import has_classes
from gateway.config import ARTIFACT_SCHEMES, ArtifactSettings, ConfigError, Settings
from gateway.errors import GatewayError
from gateway.governance import artifact_retention, audit
from gateway.store.artifact_records import VersionArtifact, native_artifacts, rewrite_artifact_uri
from gateway.store.database import Database
from gateway.wording import plural

COMMAND = "artifacts"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MIGRATION_PRINCIPAL = "migration:artifacts"


def add_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    p = sub.add_parser(COMMAND, help="the model store: migrate files into it, move archived ones colder")
    p_sub = p.add_subparsers(dest="artifacts_command", required=True)
    migrate = with_config(
        p_sub.add_parser("migrate", help="copy native versions' files into the store and rewrite their URIs")
    )
    migrate.add_argument(
        "--from",
        dest="origin",
        help="copy from this store URL (same [artifacts] endpoint and credentials); "
        "default: file:// paths on this machine",
    )
    migrate.add_argument("--to", help="copy into this store URL instead of [artifacts] url")
    migrate.add_argument("--dry-run", action="store_true", help="list what would be copied; change nothing")
    retain = with_config(
        p_sub.add_parser("retain", help="move archived versions' files to [artifacts] archive_storage_class")
    )
    retain.add_argument("--dry-run", action="store_true", help="list what would move; change nothing")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.artifacts_command == "migrate":
        return asyncio.run(migrate(settings, origin=args.origin, to=args.to, dry_run=args.dry_run))
    return asyncio.run(retain(settings, dry_run=args.dry_run))


def _store_settings(settings: ArtifactSettings, url: str, option: str) -> ArtifactSettings:
    if not url.startswith(ARTIFACT_SCHEMES):
        raise ConfigError(option, f"must start with {', '.join(ARTIFACT_SCHEMES)}; got {url!r}")
    return dataclasses.replace(settings, url=url)


def _store(settings: Settings, url: str | None = None) -> ArtifactStore:
    a = settings.artifacts if url is None else _store_settings(settings.artifacts, url, "--to")
    return ArtifactStore(
        open_backend(a), max_bytes=a.max_artifact_bytes, presigned_seconds=a.presigned_seconds
    )


def _native(settings: Settings) -> list[str]:
    return [r.id for r in settings.registries if r.kind == "native"]


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, GatewayError):
        return exc.message
    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return text


# --- migrate --------------------------------------------------------------------------------


async def migrate(
    settings: Settings,
    *,
    origin: str | None,
    to: str | None,
    dry_run: bool,
    out: TextIO | None = None,
) -> int:
    from gateway.runtime import Gateway

    out = out or sys.stdout

    store = _store(settings, to)
    reader = SourceReader(
        open_backend(_store_settings(settings.artifacts, origin, "--from")) if origin else None
    )
    target = f"{store.backend.root}/{store.backend.prefix}"
    gateway = await Gateway.open(settings)
    try:
        items = await native_artifacts(gateway.database, _native(settings))
        todo: list[VersionArtifact] = []
        done = elsewhere = 0
        for item in items:
            if not item.artifact_uri:
                continue
            if store.backend.key_of(item.artifact_uri) is not None:
                done += 1
            elif reader.handles(item.artifact_uri):
                todo.append(item)
            else:
                elsewhere += 1
        print(
            f"{plural(len(todo), 'version')} to copy into {target}; {done} there already; "
            f"{elsewhere} elsewhere (not {'under ' + origin if origin else 'local files'}: left as they are)",
            file=out,
            flush=True,
        )
        copied = failed = reused = 0
        copied_bytes = 0
        for i, item in enumerate(todo, start=1):
            step = f"[{i}/{len(todo)}] {item.uri}"
            try:
                assert item.artifact_uri is not None
                path, expected = expected_digest(item.artifact_uri, item.artifact_digest)
                size = await reader.size(item.artifact_uri)
                if dry_run:
                    print(f"{step}: would copy {item.artifact_uri} ({_size(size)})", file=out, flush=True)
                    continue
                source = Source(item.artifact_uri, path, expected)
                result = await copy_verified(store, reader, item.registry_id, item.model_name, source)
                written = await rewrite_artifact_uri(
                    gateway.database,
                    item,
                    result.uri,
                    result.digest,
                    within=_migration_event(item, result.uri, result.digest, result.size),
                )
                if not written:
                    raise MigrationFailed("its record changed during the copy; run migrate again")
                await gateway.sync.refresh_model(item.registry_id, item.model_name)
            except Exception as exc:  # one version's failure is reported; the others go on
                failed += 1
                print(f"{step}: NOT MIGRATED: {_problem(exc)}", file=out, flush=True)
                continue
            copied += 1
            reused += result.reused
            copied_bytes += result.size
            how = "found there, verified" if result.reused else "copied, verified"
            print(f"{step}: {result.uri} ({_size(result.size)}, {how})", file=out, flush=True)
    finally:
        await gateway.aclose()
    if dry_run:
        print(f"dry run: {plural(len(todo) - failed, 'version')} would be copied, nothing changed", file=out)
    else:
        print(
            f"{plural(copied, 'version')} migrated ({_size(copied_bytes)}; {reused} already copied "
            f"by an earlier run), {failed} not migrated, {done} already in the store; "
            "sources are left in place",
            file=out,
        )
    return EXIT_FAILED if failed else EXIT_OK


def _migration_event(
    item: VersionArtifact, uri: str, digest: str, size: int
) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def within(conn: AsyncConnection) -> None:
        details = {"from": item.artifact_uri, "to": uri, "digest": digest, "size": size}
        await audit.append(conn, "artifact.migrated", MIGRATION_PRINCIPAL, item.uri, details)

    return within


# --- retain ---------------------------------------------------------------------------------


async def retain(settings: Settings, *, dry_run: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    a = settings.artifacts
    if a.archive_storage_class is None or a.archive_after_days is None:
        print(
            "nothing to do: [artifacts] archive_after_days and archive_storage_class are not set",
            file=out,
        )
        return EXIT_OK
    store = _store(settings)
    if not has_classes(store):
        print(
            f"nothing to do: the artifact store {store.backend.root} is a directory (file://), "
            "which has no storage classes; archived versions' files stay where they are",
            file=out,
        )
        return EXIT_OK
    database = Database(settings.storage.url, audit_key=settings.governance.audit_key())
    try:
        tier_plan = await artifact_retention.plan(
            database,
            store,
            _native(settings),
            after_days=a.archive_after_days,
            storage_class=a.archive_storage_class,
            now=datetime.now(UTC),
        )
        for uri, versions in sorted(tier_plan.kept.items()):
            print(f"{uri}  kept: still named by {', '.join(versions)}", file=out)
        if dry_run:
            for c in tier_plan.candidates:
                now = await artifact_retention.current_class(store, c) or "its first class"
                print(
                    f"{c.uri}  {_size(c.file.size)}  archived {c.archived_days} days  "
                    f"({', '.join(c.versions)}); now {now}",
                    file=out,
                )
            print(
                f"dry run: {plural(len(tier_plan.candidates), 'file')} ({_size(tier_plan.bytes)}) "
                f"would move to {tier_plan.storage_class} unless there already; nothing changed",
                file=out,
            )
            return EXIT_OK
        outcomes = await artifact_retention.apply(database, store, tier_plan)
    finally:
        await database.aclose()
    for o in outcomes:
        c = o.candidate
        print(f"{c.uri}  {_size(c.file.size)}  {o.status}" + (f": {o.detail}" if o.detail else ""), file=out)
    moved = [o for o in outcomes if o.status == "MOVED"]
    failed = [o for o in outcomes if o.status == "FAILED"]
    print(
        f"{plural(len(moved), 'file')} ({_size(sum(o.candidate.file.size for o in moved))}) moved to "
        f"{tier_plan.storage_class}, digests verified; {len(outcomes) - len(moved) - len(failed)} there "
        f"already; {len(failed)} failed (left as they were); nothing deleted",
        file=out,
    )
    return EXIT_FAILED if failed else EXIT_OK
