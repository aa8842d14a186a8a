"""The governance commands of the ``modelgate`` CLI (wired in ``gateway.cli``).

None of them starts the server. ``policy check``, ``audit``, ``report`` and
``retention plan`` only read the database (and the model store, for the files
``[artifacts] archive_storage_class`` would take); ``retention apply`` opens the
gateway, because archiving writes through to the registries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from gateway.catalogue.index import SearchFilter
from gateway.config import ConfigError, Settings
from gateway.domain import Stage
from gateway.governance import audit, reports
from gateway.governance import retention as retention_rules
from gateway.governance.compliance import ComplianceRecorder
from gateway.governance.evaluator import Evaluator
from gateway.governance.policies import PolicySet, load_policies, policies_for
from gateway.store.database import Database
from gateway.store.tables import catalogue_models as cm
from gateway.store.tables import catalogue_versions as cv
from gateway.wording import plural

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("policy", "audit", "report", "retention")


class NoSchema(Exception):
    """The database has no modelgate tables yet."""


def add_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """Register ``policy``, ``audit``, ``report`` and ``retention``."""
    policy = sub.add_parser("policy", help="policies as code")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = with_config(
        policy_sub.add_parser("check", help="lint the policy file and report the catalogue's violations")
    )
    check.add_argument("--policies", help="check this policy file instead of the configured one")
    check.add_argument("--limit", type=int, default=50, help="violations to list (default 50; 0 for all)")

    audit_parser = sub.add_parser("audit", help="the audit log")
    audit_sub = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify = with_config(audit_sub.add_parser("verify", help="check the hash chain (exit 1 if altered)"))
    verify.add_argument("--file", help="verify a JSON Lines export instead of the database")
    verify.add_argument(
        "--expect-head",
        metavar="HASH",
        help="fail unless the event with this hash is still in the chain (a head published "
        "earlier: the modelgate_audit_chain_head_info metric, an export's x-modelgate-audit-head)",
    )
    export = with_config(audit_sub.add_parser("export", help="write the audit log as JSON Lines or CSV"))
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.add_argument("--subject", help="a version's URI, or a model's: the model and all its versions")
    export.add_argument(
        "--verify",
        action="store_true",
        help="verify the whole chain first and end the JSON Lines with the verification (exit 1 if broken)",
    )
    export.add_argument("--principal")
    export.add_argument("--action", help='an action, or a prefix ending in "*"')
    export.add_argument("--since", type=_time)
    export.add_argument("--until", type=_time)

    report = with_config(sub.add_parser("report", help="the compliance report as CSV or JSON"))
    report.add_argument("--format", choices=("csv", "json"), default="csv")
    report.add_argument("--view", choices=("violations", "summary"), default="violations", help="CSV only")
    report.add_argument("--as-of", type=_time, help="rebuild the report as it stood then, from the audit log")
    report.add_argument("--team", action="append", default=[])
    report.add_argument("--registry", action="append", default=[])
    report.add_argument("--stage", action="append", default=[], choices=list(Stage.__members__))
    report.add_argument("--output", help="file to write (default: standard output)")

    keep = sub.add_parser("retention", help="retention rules of the policy file")
    keep_sub = keep.add_subparsers(dest="retention_command", required=True)
    with_config(
        keep_sub.add_parser(
            "plan",
            help="list what the retention rules would archive, and the archived files that would "
            "move to [artifacts] archive_storage_class (dry run)",
        )
    )
    with_config(
        keep_sub.add_parser(
            "apply", help="archive it through the audited promotion path, then move those files"
        )
    )


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone (e.g. 2026-01-31T00:00:00Z)")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one governance command; returns the exit code."""
    try:
        if args.command == "policy":
            return asyncio.run(policy_check(settings, args.policies, args.limit))
        if args.command == "audit" and args.audit_command == "verify":
            result = (
                verify_file(args.file, settings, args.expect_head)
                if args.file
                else asyncio.run(audit_verify(settings, args.expect_head))
            )
            print(result, file=sys.stdout if result.ok else sys.stderr)
            return EXIT_OK if result.ok else EXIT_FAILED
        if args.command == "audit":
            which = audit.AuditFilter(args.subject, args.principal, args.action, args.since, args.until)
            if args.verify and args.format != "jsonl":
                print("modelgate: --verify is for the JSON Lines export", file=sys.stderr)
                return EXIT_USAGE
            return asyncio.run(audit_export(settings, args.format, which, args.output, verify=args.verify))
        if args.command == "report":
            f = SearchFilter(
                registries=tuple(args.registry),
                teams=tuple(args.team),
                stages=tuple(Stage(s) for s in args.stage),
            )
            return asyncio.run(report(settings, args.format, args.view, f, args.as_of, args.output))
        if args.command == "retention":
            return asyncio.run(retention(settings, apply=args.retention_command == "apply"))
    except BrokenPipeError:  # the reader (e.g. `head`) stopped early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except NoSchema:
        print(
            f"modelgate: the database at {settings.storage.url} has no modelgate schema yet "
            "(start the gateway, or run `modelgate db upgrade`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    raise AssertionError(f"unknown command {args.command}")  # argparse rejects it first


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.storage.url, audit_key=settings.governance.audit_key())
    try:
        yield db
    except (OperationalError, ProgrammingError) as exc:
        if "no such table" in str(exc) or "does not exist" in str(exc):
            raise NoSchema() from exc
        raise
    finally:
        await db.aclose()


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        yield f


# --- policy check ---------------------------------------------------------------------


async def policy_check(settings: Settings, path: str | None, limit: int) -> int:
    """Lint (already done by loading: a bad file is a ConfigError, exit 2) and report
    the indexed catalogue's violations. Exit 1 if any error-severity violation."""
    policies: PolicySet = load_policies(path) if path else policies_for(settings)
    print(
        f"{policies.source or '(no policy file)'}: {len(policies.policies)} policies, "
        f"{len(policies.promotions)} promotion rules, {len(policies.retention)} retention rules: valid"
    )
    recorder = ComplianceRecorder(Evaluator(policies))
    by_model: dict[str, list[Any]] = defaultdict(list)
    try:
        async with _database(settings) as db, db.read() as conn:
            teams = {uri: team for uri, team in map(tuple, await conn.execute(select(cm.c.uri, cm.c.team)))}
            rows = await conn.execute(
                select(cv.c.model_uri, cv.c.record).order_by(cv.c.model_uri, cv.c.version_order, cv.c.version)
            )
            for row in rows:
                by_model[row.model_uri].append(row.record)
    except (NoSchema, DBAPIError, OSError) as exc:
        print(f"no catalogue to check ({type(exc).__name__}): the policy file itself is valid")
        return EXIT_OK
    judged = [
        j for uri, records in by_model.items() for j in recorder.judge_model(uri, teams.get(uri), records)
    ]
    counts: dict[tuple[str, str], int] = defaultdict(int)
    listed = 0
    for j in judged:
        for v in j.evaluation.violations:
            counts[(v.policy, v.severity)] += 1
            if limit == 0 or listed < limit:
                print(f"  {j.uri}  {v.severity:7}  {v.policy}: {v.message}")
                listed += 1
    total = sum(counts.values())
    if total > listed:
        print(f"  ... {total - listed} more (--limit 0 lists all)")
    noncompliant = sum(1 for j in judged if not j.evaluation.compliant)
    print(f"{plural(len(judged), 'version')} checked, {noncompliant} non-compliant")
    for (policy, severity), n in sorted(counts.items()):
        print(f"  {policy} ({severity}): {n} violations")
    return EXIT_FAILED if noncompliant else EXIT_OK


# --- audit ---------------------------------------------------------------------------------


async def audit_verify(settings: Settings, expect_head: str | None = None) -> audit.Verification:
    async with _database(settings) as db:
        return await audit.verify(db, expect_head=expect_head)


def verify_file(file: str, settings: Settings, expect_head: str | None = None) -> audit.Verification:
    """Verify a JSON Lines export on its own (a whole log has no chain head: a cut-off
    end is only caught against a head hash recorded elsewhere, ``expect_head``; a
    verified export is checked as an extract of the chain its last line names)."""
    key = settings.governance.audit_key()
    try:
        with Path(file).open(encoding="utf-8") as f:
            return audit.verify_export(f, key=key, expect_head=expect_head)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError("--file", f"cannot read {file} as an audit export: {exc}") from None


async def audit_export(
    settings: Settings, fmt: str, f: audit.AuditFilter, path: str | None, *, verify: bool = False
) -> int:
    async with _database(settings) as db:
        if verify:
            export = await audit.verified_export(db, f)
            print(export.verification, file=sys.stderr)
            with _output(path) as out:
                async for line in export.lines:
                    out.write(line)
            return EXIT_OK if export.verification.ok else EXIT_FAILED
        seq, head = await audit.chain_head(db)
        # Keep this line: it is the anchor `audit verify --expect-head` checks later.
        print(f"audit chain head: #{seq} {head or '(empty)'}", file=sys.stderr)
        with _output(path) as out:
            if fmt == "csv":
                out.write(audit.csv_header())
            async for event in audit.iter_events(db, f):
                out.write(audit.to_csv(event) if fmt == "csv" else audit.to_jsonl(event))
    return EXIT_OK


# --- reports and retention ------------------------------------------------------------------


async def report(
    settings: Settings, fmt: str, view: str, f: SearchFilter, as_of: datetime | None, path: str | None
) -> int:
    policies = policies_for(settings)
    async with _database(settings) as db:
        if as_of is not None:
            built = await reports.report_as_of(db, f, as_of)
        else:
            built = await reports.current_report(db, policies, f)
        with _output(path) as out:
            if fmt == "json":
                json.dump(await reports.json_document(built), out, indent=2, ensure_ascii=False)
                out.write("\n")
            else:
                async for line in reports.csv_lines(built, view):
                    out.write(line)
    return EXIT_OK


async def retention(settings: Settings, *, apply: bool) -> int:
    versions = await _retain_versions(settings, apply=apply)
    if settings.artifacts.archive_storage_class is None:
        return versions
    # Then the files of versions archived long enough, to [artifacts] archive_storage_class.
    from gateway.cli.artifacts import retain

    print("artifacts:")
    files = await retain(settings, dry_run=not apply)
    return max(versions, files)


async def _retain_versions(settings: Settings, *, apply: bool) -> int:
    if not apply:
        async with _database(settings) as db:
            candidates = await retention_rules.plan(db, policies_for(settings), datetime.now().astimezone())
        for c in candidates:
            print(f"{c.uri}  {c.stage:8}  {c.age_days:5d} days  rank {c.rank}  ({c.rule})")
        print(f"{plural(len(candidates), 'version')} would be archived (dry run: nothing changed)")
        return EXIT_OK
    from gateway.runtime import Gateway

    gateway = await Gateway.open(settings)
    try:
        outcomes = await gateway.governance.retention_apply()
    finally:
        await gateway.aclose()
    for o in outcomes:
        print(f"{o.uri}  {o.status}" + (f": {o.detail}" if o.detail else "") + f"  ({o.rule})")
    failed = [o for o in outcomes if o.status in ("ERROR", "FAILED", "BLOCKED")]
    print(f"{len(outcomes)} archive requests, {len(failed)} not applied")
    return EXIT_FAILED if failed else EXIT_OK
