"""``mg``: the gateway from a shell or a CI job.

Exit codes a pipeline can branch on: 0 done; 1 refused (blocked by policy,
rejected, FORBIDDEN or CONFLICT, timed out, digest mismatch, a failed policy
check); 2 usage or connection error (bad arguments, no gateway at the URL, bad
credentials, unknown version). Errors print the gateway's code and message on
stderr, never a traceback (``MG_DEBUG=1`` shows one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from modelgate_client.errors import ModelgateError, PolicyCheckFailed, Refused, WaitTimedOut

if TYPE_CHECKING:
    from modelgate_client.client import Client
    from modelgate_client.results import Model, ModelVersion, PromotionRequest, Rollout

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` decides the exit code."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def metric(text: str) -> tuple[str, float]:
    key, value = key_value(text)
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"metric {key!r} needs a number, got {value!r}") from None


def build_parser() -> Parser:
    parser = Parser(
        prog="mg",
        description="The modelgate client: search, register, promote, check and pull model versions "
        "across every registry behind one gateway (MODELGATE_URL).",
        epilog="Exit codes: 0 done, 1 refused (policy, rejection, timeout, digest mismatch), "
        "2 usage or connection error.",
    )
    parser.add_argument("--url", help="the gateway (default: $MODELGATE_URL)")
    parser.add_argument("--timeout-http", type=float, default=60.0, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = commands.add_parser("search", help="search models (or versions) across every registry")
    p.add_argument("query", nargs="?", help="free text: every word must match")
    p.add_argument("--stage", action="append", default=[], help="DRAFT, STAGING, PRODUCTION or ARCHIVED")
    p.add_argument("--team", action="append", default=[])
    p.add_argument("--registry", action="append", default=[])
    p.add_argument("--tag", action="append", default=[], type=key_value, metavar="K=V")
    p.add_argument("--versions", action="store_true", help="list versions instead of models")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("show", help="a model (mg://r/m) or a version (mg://r/m/v, mg://r/m@production)")
    p.add_argument("uri")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("register", help="upload files or a directory and register a new version")
    p.add_argument("--registry", required=True, help="a native registry's id")
    p.add_argument("--model", required=True)
    p.add_argument("paths", nargs="+", metavar="PATH", help="one file, several files, or a directory")
    p.add_argument("--semver")
    p.add_argument("--description")
    p.add_argument("--metric", action="append", default=[], type=metric, metavar="K=V")
    p.add_argument("--param", action="append", default=[], type=key_value, metavar="K=V")
    p.add_argument("--dataset", action="append", default=[], metavar="URI", help="a training dataset")
    p.add_argument("--card", metavar="FILE", help="a model card: Markdown sections or JSON")
    p.add_argument("--parent", metavar="URI", help="the version this one was fine-tuned from")
    p.add_argument(
        "--code",
        metavar="REPO@COMMIT[#PATH]",
        help="the training code (default inside GitHub Actions: the job's repository and commit)",
    )
    p.add_argument("--tag", action="append", default=[], type=key_value, metavar="K=V")
    p.add_argument("--json", action="store_true", help="print the registered version as JSON")

    p = commands.add_parser("promote", help="request a stage change, optionally waiting for it")
    p.add_argument("uri")
    p.add_argument("--to", required=True, dest="stage", metavar="STAGE")
    p.add_argument("--reason")
    p.add_argument("--wait", action="store_true", help="wait until applied (exit 0) or refused (exit 1)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default 3600)")
    p.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true")

    for name, what in (("approve", "approve a promotion request"), ("withdraw", "withdraw your own request")):
        p = commands.add_parser(name, help=what)
        p.add_argument("request_id", metavar="REQUEST_ID")
        p.add_argument("--comment" if name == "approve" else "--reason", dest="comment")
        if name == "approve":
            p.add_argument("--role", help="which of your roles to approve as")
        p.add_argument("--json", action="store_true")
    p = commands.add_parser("reject", help="reject a promotion request")
    p.add_argument("request_id", metavar="REQUEST_ID")
    p.add_argument("--reason", required=True)
    p.add_argument("--role")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser(
        "check", help="a version's policy check: exit 1 when an error-severity policy fails"
    )
    p.add_argument("uri")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("pull", help="download a version's files, verifying every digest")
    p.add_argument("uri", metavar="URI[@ref]")
    p.add_argument("-o", "--output", metavar="DIR", help="default: ./<model>-<version>")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("lineage", help="where a version came from and what came of it")
    p.add_argument("uri")
    p.add_argument("--impact", action="store_true", help="every version downstream instead")
    p.add_argument("--direction", default="BOTH", choices=["UPSTREAM", "DOWNSTREAM", "BOTH"], type=str.upper)
    p.add_argument("--depth", type=int)
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("rollout", help="canary rollouts: start, status, abort")
    rollout = p.add_subparsers(dest="rollout_command", metavar="ACTION", parser_class=Parser)
    r = rollout.add_parser("start", help="roll a version out onto an endpoint, step by step")
    r.add_argument("uri")
    r.add_argument("--endpoint", required=True)
    r.add_argument("--steps", help="traffic percentages, e.g. 5,25,100")
    r.add_argument("--step-seconds", type=int)
    r.add_argument("--max-error-rate", type=float)
    r.add_argument("--reason")
    r.add_argument("--json", action="store_true")
    r = rollout.add_parser("status", help="a rollout's state (or every rollout)")
    r.add_argument("rollout_id", nargs="?", metavar="ROLLOUT_ID")
    r.add_argument("--watch", action="store_true", help="follow it until it ends")
    r.add_argument("--timeout", type=float, default=86400.0)
    r.add_argument("--poll", type=float, default=5.0, help=argparse.SUPPRESS)
    r.add_argument("--json", action="store_true")
    r = rollout.add_parser("abort", help="stop a rollout and restore the traffic")
    r.add_argument("rollout_id", metavar="ROLLOUT_ID")
    r.add_argument("--reason", required=True)
    r.add_argument("--json", action="store_true")
    return parser


# --- output ----------------------------------------------------------------------


def emit_json(value: Any, out: TextIO) -> None:
    json.dump(value, out, indent=2, sort_keys=True)
    out.write("\n")


def print_version(v: ModelVersion, out: TextIO) -> None:
    rows: list[tuple[str, Any]] = [
        ("uri", v.uri),
        ("stage", v.stage + (f" ({v.native_stage})" if v.native_stage and v.native_stage != v.stage else "")),
        ("semver", v.semver),
        ("aliases", ", ".join(v.aliases)),
        ("description", v.description),
        ("artifact", v.artifact_uri),
        ("parent", v.parent),
        ("metrics", ", ".join(f"{k}={val:g}" for k, val in v.metrics.items())),
        ("params", ", ".join(f"{k}={val}" for k, val in v.params.items())),
        ("tags", ", ".join(f"{k}={val}" for k, val in v.tags.items())),
        ("datasets", ", ".join(d.uri for d in v.datasets)),
    ]
    for key, value in rows:
        if value:
            out.write(f"{key:<12}{value}\n")
    for f in v.files:
        out.write(f"{'file':<12}{f.path}  {f.size} bytes  {f.digest}\n")
    if v.compliance is not None:
        state = "compliant" if v.compliance.compliant else "NOT compliant"
        out.write(f"{'policies':<12}{state}\n")
        for violation in v.compliance.violations:
            out.write(f"{'':<12}{violation}\n")


def print_model(m: Model, out: TextIO) -> None:
    for key, value in (
        ("uri", m.uri),
        ("team", m.team),
        ("description", m.description),
        ("latest", f"{m.latest_version} ({m.latest_stage})" if m.latest_version else None),
        ("tags", ", ".join(f"{k}={val}" for k, val in m.tags.items())),
    ):
        if value:
            out.write(f"{key:<12}{value}\n")


def print_request(r: PromotionRequest, out: TextIO) -> None:
    out.write(f"{r.id}  {r.version_uri}  {r.from_stage} -> {r.target_stage}  {r.status}\n")
    if r.status != "APPLIED":
        out.write(f"  {r.explain()}\n")


def print_rollout(r: Rollout, out: TextIO) -> None:
    out.write(f"{r.id}  {r.version_uri} on {r.endpoint}  {r.status}  at {r.current_percent:g}%\n")
    for step in r.steps:
        verdict = {True: "passed", False: "failed", None: "watching" if step.started_at else "planned"}
        rate = f"  error rate {step.error_rate:.4f}" if step.error_rate is not None else ""
        out.write(f"  {step.percent:>6g}%  {verdict[step.passed]}{rate}\n")
    if r.reason and r.done:
        out.write(f"  {r.reason}\n")


# --- commands --------------------------------------------------------------------


def cmd_search(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = mg.search(
        args.query,
        stages=args.stage,
        teams=args.team,
        registries=args.registry,
        tags=dict(args.tag),
        versions=args.versions,
        first=args.limit,
    )
    if args.json:
        emit_json({"totalCount": found.total, "items": [i.raw for i in found.items]}, out)
        return EXIT_OK
    from modelgate_client.results import Model

    for item in found:
        if isinstance(item, Model):
            latest = f"{item.latest_stage or '-':<11}" if item.latest_version else f"{'-':<11}"
            out.write(f"{item.uri:<50} {latest} {item.team or '-'}\n")
        else:
            semver = f" {item.semver}" if item.semver else ""
            out.write(f"{item.uri:<50} {item.stage:<11}{semver}\n")
    out.write(f"({len(found)} of {found.total})\n")
    return EXIT_OK


def cmd_show(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = mg.show(args.uri)
    if args.json:
        emit_json(found.raw, out)
        return EXIT_OK
    from modelgate_client.results import Model

    if isinstance(found, Model):
        print_model(found, out)
    else:
        print_version(found, out)
    return EXIT_OK


def cmd_register(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    version = mg.register(
        args.registry,
        args.model,
        args.paths,
        semver=args.semver,
        metrics=dict(args.metric),
        params=dict(args.param),
        datasets=args.dataset,
        card=args.card,
        parent=args.parent,
        tags=dict(args.tag),
        description=args.description,
        code=args.code,
    )
    if args.json:
        emit_json(version.raw, out)
    else:
        out.write(version.uri + "\n")
    return EXIT_OK


def say_progress(request: PromotionRequest) -> None:
    sys.stderr.write(f"mg: request {request.id}: {request.explain()}\n")


def cmd_promote(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    request = mg.request_promotion(args.uri, args.stage, args.reason)
    if args.wait and not request.done:
        say_progress(request)
        try:
            request = mg.wait_for_promotion(
                request,
                timeout=args.timeout,
                interval=args.poll,
                on_change=say_progress,
            )
        except WaitTimedOut as exc:
            if args.json and exc.details is not None:
                emit_json(exc.details.raw, out)
            raise
        except Refused as exc:
            request = exc.details
    if args.json:
        emit_json(request.raw, out)
    else:
        print_request(request, out)
    return EXIT_REFUSED if request.status in ("BLOCKED", "REJECTED", "FAILED") else EXIT_OK


def cmd_decide(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "approve":
        request = mg.approve(args.request_id, args.comment, args.role)
    elif args.command == "reject":
        request = mg.reject(args.request_id, args.reason, args.role)
    else:
        request = mg.withdraw(args.request_id, args.comment)
    if args.json:
        emit_json(request.raw, out)
    else:
        print_request(request, out)
    return EXIT_OK


def cmd_check(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    result = mg.check(args.uri)
    if args.json:
        emit_json({"uri": result.uri, "compliant": result.compliant,
                   "violations": [v.__dict__ for v in result.violations]}, out)  # fmt: skip
    else:
        out.write(f"{result.uri}: {'compliant' if result.compliant else 'NOT compliant'}\n")
        for violation in result.violations:
            out.write(f"  {violation}\n")
    if not result.compliant:
        failed = ", ".join(v.policy for v in result.errors) or "an error-severity policy"
        raise PolicyCheckFailed("POLICY_VIOLATED", f"{result.uri} violates {failed}")
    return EXIT_OK


def cmd_pull(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    directory = args.output
    if directory is None:
        version = mg.version(args.uri)
        directory = f"{version.model}-{version.version}"
        uri = version.uri  # the reference, resolved once
    else:
        uri = args.uri
    pulled = mg.pull(uri, directory)
    if args.json:
        emit_json([p.__dict__ for p in pulled], out)
    else:
        for p in pulled:
            out.write(f"{p.path}  {p.size} bytes  {p.digest}\n")
    return EXIT_OK


def cmd_lineage(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.impact:
        impact = mg.impact(args.uri, **({"depth": args.depth} if args.depth else {}))
        if args.json:
            emit_json(impact.raw, out)
            return EXIT_OK
        for v in impact.versions:
            out.write(f"{v.uri:<50} {v.stage or '-':<11} depth {v.depth}: {' -> '.join(v.path)}\n")
        out.write(f"({len(impact.versions)} downstream{', truncated' if impact.truncated else ''})\n")
        return EXIT_OK
    graph = mg.lineage(args.uri, direction=args.direction, **({"depth": args.depth} if args.depth else {}))
    if args.json:
        emit_json(graph.raw, out)
        return EXIT_OK
    for edge in graph.edges:
        out.write(f"{edge.source} -[{edge.relation}]-> {edge.target}\n")
    out.write(
        f"({len(graph.nodes)} nodes, {len(graph.edges)} edges{', truncated' if graph.truncated else ''})\n"
    )
    return EXIT_OK


def cmd_rollout(mg: Client, args: argparse.Namespace, out: TextIO) -> int:
    action = args.rollout_command
    if action is None:
        raise UsageError("mg rollout: choose start, status or abort")
    if action == "start":
        steps = [float(s) for s in args.steps.split(",")] if args.steps else None
        rollout = mg.start_rollout(
            args.uri,
            args.endpoint,
            steps=steps,
            step_seconds=args.step_seconds,
            max_error_rate=args.max_error_rate,
            reason=args.reason,
        )
    elif action == "abort":
        rollout = mg.abort_rollout(args.rollout_id, args.reason)
    elif args.rollout_id is None:
        rollouts = mg.rollouts()
        if args.json:
            emit_json([r.raw for r in rollouts], out)
        for r in rollouts if not args.json else ():
            print_rollout(r, out)
        return EXIT_OK
    elif args.watch:
        rollout = mg.watch_rollout(
            args.rollout_id,
            timeout=args.timeout,
            interval=args.poll,
            on_change=None if args.json else lambda r: print_rollout(r, out),
        )
        if args.json:
            emit_json(rollout.raw, out)
        return EXIT_OK if rollout.status == "SUCCEEDED" else EXIT_REFUSED
    else:
        rollout = mg.rollout(args.rollout_id)
    if args.json:
        emit_json(rollout.raw, out)
    else:
        print_rollout(rollout, out)
    return EXIT_OK


COMMANDS: dict[str, Callable[[Client, argparse.Namespace, TextIO], int]] = {
    "search": cmd_search,
    "show": cmd_show,
    "register": cmd_register,
    "promote": cmd_promote,
    "approve": cmd_decide,
    "reject": cmd_decide,
    "withdraw": cmd_decide,
    "check": cmd_check,
    "pull": cmd_pull,
    "lineage": cmd_lineage,
    "rollout": cmd_rollout,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        from modelgate_client.client import Client

        with Client(args.url, timeout=args.timeout_http) as mg:
            return COMMANDS[args.command](mg, args, out)
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n(mg --help for usage)\n")
        return EXIT_USAGE
    except ModelgateError as exc:
        sys.stderr.write(f"mg: error {exc.code}: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("mg: interrupted\n")
        return 130
    except Exception as exc:  # never a traceback for a user, unless asked for
        if os.environ.get("MG_DEBUG"):
            raise
        sys.stderr.write(f"mg: error INTERNAL: {type(exc).__name__}: {exc} (MG_DEBUG=1 shows where)\n")
        return EXIT_USAGE
