"""The catalogue commands of the ``modelgate`` CLI (wired in ``gateway.cli``).

    modelgate search QUERY [--stage S] [--team T] [--registry R] [--limit N] [--json]
    modelgate show URI [--json]
    modelgate sync [--full] [--allow-removals REGISTRY ...] [--json]

They read the gateway's database directly (no server needed): readable tables
in a terminal (rich), JSON with ``--json`` for scripts. Exit codes: 0 success,
1 not found, a registry failed or its removals were held, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.catalogue.index import CatalogueIndex, SearchFilter, SearchQuery
from gateway.catalogue.refs import resolve_version_uri
from gateway.catalogue.sync import SyncResult
from gateway.codec import model_to_dict, version_to_dict
from gateway.config import Settings
from gateway.domain import Stage, parse_uri
from gateway.errors import BadInput, GatewayError
from gateway.store.database import Database
from gateway.wording import plural

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("search", "show", "sync")
STAGE_STYLE = {"PRODUCTION": "bold green", "STAGING": "cyan", "DRAFT": "dim", "ARCHIVED": "dim strike"}


def add_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """Register ``search``, ``show`` and ``sync``."""
    search = with_config(sub.add_parser("search", help="search the catalogue"))
    search.add_argument("query", nargs="?", default=None, help="words to find (every word, as a prefix)")
    search.add_argument("--stage", action="append", default=[], choices=list(Stage.__members__))
    search.add_argument("--team", action="append", default=[])
    search.add_argument("--registry", action="append", default=[])
    search.add_argument("--versions", action="store_true", help="list versions instead of models")
    search.add_argument("--limit", type=int, default=20, help="at most this many (1-100, default 20)")
    search.add_argument("--json", action="store_true", help="JSON for scripts")

    show = with_config(sub.add_parser("show", help="one model or version, by mg:// URI"))
    show.add_argument("uri", help="a model or version URI, or mg://<registry>/<model>@<stage or alias>")
    show.add_argument("--json", action="store_true", help="JSON for scripts")

    sync = with_config(sub.add_parser("sync", help="sync every registry into the index once"))
    sync.add_argument("--full", action="store_true", help="re-list everything instead of an incremental pass")
    sync.add_argument(
        "--allow-removals",
        action="append",
        default=[],
        metavar="REGISTRY",
        help="apply this registry's removals even past its max_removal_share (repeatable)",
    )
    sync.add_argument("--json", action="store_true", help="JSON for scripts (no progress bar)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    handler = {"search": _search, "show": _show, "sync": _sync}[args.command]
    try:
        return asyncio.run(handler(args, settings))
    except BadInput as exc:
        print(f"modelgate: {exc.message}", file=sys.stderr)
        return EXIT_USAGE


@asynccontextmanager
async def _index(settings: Settings) -> AsyncIterator[CatalogueIndex]:
    db = Database(settings.storage.url, audit_key=settings.governance.audit_key())
    try:
        await db.migrate()
        yield CatalogueIndex(db)
    finally:
        await db.aclose()


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


async def _search(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.limit <= 100:
        raise BadInput("--limit must be between 1 and 100")
    f = SearchFilter(
        registries=tuple(args.registry),
        teams=tuple(args.team),
        stages=tuple(Stage(s) for s in args.stage),
    )
    async with _index(settings) as index:
        if args.versions:
            versions = await index.search_versions(SearchQuery(args.query, f, args.limit, facets=()))
            if args.json:
                _print_json(
                    {"total": versions.total, "versions": [version_to_dict(v) for v in versions.items]}
                )
                return EXIT_OK
            table = Table(title=plural(versions.total, "version"), title_justify="left")
            for column in ("URI", "stage", "semver", "team", "updated"):
                # URIs are identifiers people copy: fold them, never cut them.
                table.add_column(column, overflow="fold", no_wrap=column != "URI")
            for v in versions.items:
                updated = v.updated_at.strftime("%Y-%m-%d %H:%M") if v.updated_at else ""
                stage = f"[{STAGE_STYLE[v.stage.value]}]{v.stage.value}[/]"
                table.add_row(v.uri, stage, v.semver or "", v.team or "", updated)
        else:
            page = await index.search_models(SearchQuery(args.query, f, args.limit, facets=()))
            uris = [m.uri for m in page.items]
            latest = await index.latest_versions(uris)
            production = await index.versions_in_stage(uris, Stage.PRODUCTION)
            if args.json:
                _print_json(
                    {
                        "total": page.total,
                        "models": [
                            {
                                **model_to_dict(m),
                                "uri": m.uri,
                                "latest_version": _latest(latest.get(m.uri)),
                                "production_versions": [_latest(v) for v in production.get(m.uri, [])],
                            }
                            for m in page.items
                        ],
                    }
                )
                return EXIT_OK
            table = Table(title=plural(page.total, "model"), title_justify="left")
            # "production" answers the first question people ask of a model; the
            # latest version's stage would say STAGING for a model serving v5.
            for column in ("URI", "team", "production", "latest", "description"):
                table.add_column(column, overflow="fold")
            for m in page.items:
                live = production.get(m.uri, [])
                serving = ", ".join(f"[{STAGE_STYLE['PRODUCTION']}]{v.version}[/]" for v in live) or "-"
                if len(live) > 1:
                    serving += " [bold red](several in production)[/]"
                top = latest.get(m.uri)
                newest = f"{top.version} [{STAGE_STYLE[top.stage.value]}]{top.stage.value}[/]" if top else ""
                table.add_row(m.uri, m.team or "", serving, newest, m.description or "")
    Console().print(table)
    return EXIT_OK


def _latest(v: Any) -> dict[str, Any] | None:
    return {"version": v.version, "stage": v.stage.value, "uri": v.uri} if v else None


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    try:
        parsed = parse_uri(args.uri)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    async with _index(settings) as index:
        if parsed.ref is not None:  # @production: the version holding it now
            try:
                args.uri = await resolve_version_uri(index, args.uri, None)
            except GatewayError as exc:
                print(f"modelgate: {exc.message}", file=sys.stderr)
                return EXIT_FAILED
            parsed = parse_uri(args.uri)
        if parsed.version is None:
            model = await index.get_model(args.uri)
            if model is None:
                print(f"modelgate: {args.uri} is not in the catalogue", file=sys.stderr)
                return EXIT_FAILED
            versions = await index.search_versions(SearchQuery(first=100, model_uri=model.uri, facets=()))
            if args.json:
                _print_json(
                    {
                        **model_to_dict(model),
                        "uri": model.uri,
                        "versions": [_latest(v) for v in versions.items],
                    }
                )
                return EXIT_OK
            console = Console()
            console.print(f"[bold]{model.uri}[/]  team {model.team or '-'}\n{model.description or ''}")
            table = Table()
            for column in ("version", "stage", "semver", "metrics", "created"):
                table.add_column(column)
            for v in versions.items:
                metrics = ", ".join(f"{k}={val:g}" for k, val in sorted(v.metrics.items()))
                created = v.created_at.strftime("%Y-%m-%d") if v.created_at else ""
                stage = f"[{STAGE_STYLE[v.stage.value]}]{v.stage.value}[/]"
                table.add_row(v.version, stage, v.semver or "", metrics, created)
            console.print(table)
            return EXIT_OK
        version = await index.get_version(args.uri)
        if version is None:
            print(f"modelgate: {args.uri} is not in the catalogue", file=sys.stderr)
            return EXIT_FAILED
        if args.json:
            _print_json({**version_to_dict(version), "uri": version.uri})
            return EXIT_OK
        table = Table(title=version.uri, title_justify="left", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        rows = {
            "stage": f"{version.stage.value} (native: {version.native_stage or '-'})",
            "aliases": ", ".join(version.aliases),
            "semver": version.semver or "",
            "description": version.description or "",
            "artifact": version.artifact_uri or "",
            "training code": str(version.training_code or ""),
            "environment": version.environment or "",
            "datasets": "\n".join(f"{d.role or 'input'}: {d.uri}" for d in version.training_data),
            "metrics": ", ".join(f"{k}={v:g}" for k, v in sorted(version.metrics.items())),
            "hyperparameters": ", ".join(f"{k}={v}" for k, v in sorted(version.hyperparameters.items())),
            "parent": version.parent or "",
            "intended use": version.model_card.intended_use or "",
            "limitations": version.model_card.limitations or "",
            "tags": ", ".join(f"{k}={v}" for k, v in sorted(version.tags.items())),
        }
        for key, value in rows.items():
            if value:
                table.add_row(key, value)
        Console().print(table)
        return EXIT_OK


async def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.runtime import Gateway

    allowed = set(args.allow_removals)
    if unknown := sorted(allowed - {r.id for r in settings.registries}):
        raise BadInput(f"--allow-removals: no registry {', '.join(map(repr, unknown))} in the configuration")
    gateway = await Gateway.open(settings)
    try:
        if args.json:
            results = await gateway.sync.sync_all(full=args.full, allow_removals=allowed)
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed} model(s)"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            ) as progress:
                tasks = {rid: progress.add_task(rid, total=None) for rid in gateway.adapters}

                def advance(registry_id: str, done: int) -> None:
                    progress.update(tasks[registry_id], completed=done)

                def finished(r: SyncResult) -> SyncResult:
                    task = tasks[r.registry_id]
                    if r.error:  # a failed pass is no finished bar: it reads as the failure it is
                        progress.update(task, description=f"[bold red]{r.registry_id} FAILED[/]")
                        progress.stop_task(task)
                    elif r.held:
                        progress.update(task, description=f"[yellow]{r.registry_id} HELD[/]")
                        progress.stop_task(task)
                    elif r.partial:
                        progress.update(
                            task, description=f"[yellow]{r.registry_id} PARTIAL[/]",
                            total=r.models, completed=r.models,
                        )  # fmt: skip
                    else:
                        progress.update(task, total=r.models, completed=r.models)
                    return r

                async def one(registry_id: str) -> SyncResult:
                    result = await gateway.sync.sync_registry(
                        registry_id, full=args.full, progress=advance, allow_removals=registry_id in allowed
                    )
                    return finished(result)  # as each registry ends, not when all have

                results = list(await asyncio.gather(*(one(rid) for rid in gateway.adapters)))
    finally:
        await gateway.aclose()
    failed = [r for r in results if r.error or r.held]
    if args.json:
        _print_json([r.__dict__ for r in results])
    else:
        for r in results:
            if r.error:
                print(f"{r.registry_id}: FAILED: {r.error}", file=sys.stderr)
            elif r.held:
                print(f"{r.registry_id}: HELD: {r.held}", file=sys.stderr)
            elif r.skipped:
                print(f"{r.registry_id}: skipped (another gateway replica is syncing it)")
            elif r.partial:
                print(f"{r.registry_id}: PARTIAL: full sync of {r.models} models in {r.seconds:.2f}s")
                print(f"{r.registry_id}: {r.partial}", file=sys.stderr)
            else:
                kind = "full" if r.full else "incremental"
                print(
                    f"{r.registry_id}: {kind} sync of {plural(r.models, 'model')} in {r.seconds:.2f}s "
                    f"({r.changed} changed, {r.removed} removed)"
                )
    return EXIT_FAILED if failed else EXIT_OK
