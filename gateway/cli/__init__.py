"""The ``modelgate`` command line.

Exit codes scripts can rely on: 0 success, 1 a check failed or a registry
failed, 2 bad usage or bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.cli import artifacts as artifact_commands
from gateway.cli import bom as bom_commands
from gateway.cli import catalogue as catalogue_commands
from gateway.cli import evidence as evidence_commands
from gateway.cli import governance as governance_commands
from gateway.cli import lineage as lineage_commands
from gateway.config import ConfigError, Settings, is_loopback_host, load_settings
from gateway.observability import configure_logging
from gateway.personas import demo_personas, personas_text, with_personas
from gateway.wording import plural
from gateway.workers import BindFailed, WorkerFailed

DEFAULT_CONFIG = "config/modelgate.toml"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def check_exposure(settings: Settings, host: str) -> None:
    """No auth is for local use: refuse to listen beyond loopback without it."""
    if settings.auth.mode != "none" or is_loopback_host(host):
        return
    if not settings.server.allow_unauthenticated_remote:
        raise ConfigError(
            "server.host",
            f"auth.mode is 'none' but the server would listen on {host}; configure [auth] "
            "or set server.allow_unauthenticated_remote = true to accept the risk",
            settings.source,
        )
    # Opted in: say so loudly, every start, so it is not forgotten.
    logging.getLogger("modelgate.cli").warning(
        "listening on %s WITHOUT authentication: every caller is admin "
        "(server.allow_unauthenticated_remote = true)",
        host,
    )


def _load(path: str) -> Settings:
    from gateway.runtime import validate_settings

    settings = load_settings(path)
    try:
        validate_settings(settings)
    except ConfigError as exc:
        raise exc.in_file(path) from None
    return settings


def _serve(
    settings: Settings,
    host: str | None,
    port: int | None,
    seed: bool = False,
    workers: int = 1,
    log: tuple[str, str] = ("text", "info"),
) -> None:
    import uvicorn

    from gateway.http_deadlines import deadline_protocol
    from gateway.server import CONFIG_ENV, DEMO_ENV, LOG_FORMAT_ENV, LOG_LEVEL_ENV, create_app

    host = host or settings.server.host
    port = port or settings.server.port
    # The address served is the one the command line gave (the Host check trusts it).
    settings = dataclasses.replace(
        settings, server=dataclasses.replace(settings.server, host=host, port=port)
    )
    check_exposure(settings, host)
    personas = demo_personas(settings) if seed else ()
    if personas:
        settings = with_personas(settings)
        print(personas_text(), flush=True)
    print(
        f"modelgate {__version__}: dashboard at http://{host}:{port}/, "
        f"GraphQL (GraphiQL in a browser) at http://{host}:{port}/graphql",
        flush=True,
    )
    # log_config=None: keep our logging setup (text or JSON, with request ids).
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,
        "timeout_graceful_shutdown": 10,
        # h11's own header limit; httptools has none (gateway.http_budgets covers both).
        "h11_max_incomplete_event_size": settings.server.max_header_bytes,
        # Deadlines to receive each request's head and body (gateway.http_deadlines).
        "http": deadline_protocol(settings.server),
    }
    if workers <= 1:
        uvicorn.run(create_app(settings, seed_demo=seed, personas=personas, freeze_gc=True), **options)
        return
    if seed:  # once, here: workers seeding side by side would race
        asyncio.run(_seed(settings))
    # Each worker builds its own app from the same file; one of them syncs (a lock).
    os.environ[CONFIG_ENV] = str(settings.source)
    os.environ["MODELGATE_SERVER_HOST"], os.environ["MODELGATE_SERVER_PORT"] = host, str(port)
    if personas:
        os.environ[DEMO_ENV] = "1"
    os.environ[LOG_FORMAT_ENV], os.environ[LOG_LEVEL_ENV] = log
    from gateway import workers as worker_processes

    worker_processes.serve(options.pop("host"), options.pop("port"), workers, options)


async def _seed(settings: Settings) -> None:
    from gateway.demo import seed_demo
    from gateway.runtime import Gateway

    gateway = await Gateway.open(settings)
    try:
        await seed_demo(gateway)
    finally:
        await gateway.aclose()


async def _db_upgrade(settings: Settings) -> None:
    from gateway.store.database import Database

    db = Database(settings.storage.url)
    try:
        await db.migrate()
    finally:
        await db.aclose()


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@contextlib.contextmanager
def _demo_registries(settings: Settings, args: argparse.Namespace) -> Iterator[Settings]:
    """The demo's settings: beside the native registries, a Git (GTO) repository
    the demo creates and a SageMaker Model Registry on moto, and with
    ``--with-mlflow`` a local MLflow server (or the one ``--mlflow-url`` names),
    each filled with federated examples."""
    from demos import gto as demo_gto
    from demos import sagemaker as demo_sagemaker
    from demos.summary import demo_summary

    kinds = ["native"]
    # Workers build their settings from the config file, which names neither.
    if not args.no_git and args.workers <= 1 and demo_gto.git_available():
        bare = demo_gto.create_repository(Path("data/demo-gto"))
        print(f"Git registry at {bare.as_uri()} (registry {demo_gto.REGISTRY_ID}, kind gto)", flush=True)
        settings = demo_gto.with_gto_registry(settings, bare)
        kinds.append("gto")
    if args.with_mlflow and args.workers > 1:  # workers read the config file, which does not name it
        raise ConfigError("--with-mlflow", "runs with one worker: drop --workers")
    if args.with_mlflow:
        try:
            import mlflow  # noqa: F401  (the server is MLflow's own)
        except ImportError:
            if args.mlflow_url is None:
                raise ConfigError("--with-mlflow", "needs the mlflow package: pip install mlflow") from None
    with contextlib.ExitStack() as stack:
        if args.no_sagemaker or args.workers > 1:
            pass
        elif (federated := demo_sagemaker.start(stack, settings)) is not None:
            settings = federated
            kinds.append("sagemaker")
        if args.with_mlflow:
            from demos import mlflow as demo_mlflow

            url = args.mlflow_url or stack.enter_context(demo_mlflow.local_mlflow(Path("data/demo-mlflow")))
            added = demo_mlflow.seed_mlflow(url)
            print(
                f"MLflow at {url} (registry {demo_mlflow.REGISTRY_ID}): {plural(added, 'version')} added",
                flush=True,
            )
            settings = demo_mlflow.with_mlflow_registry(settings, url)
            kinds.append("mlflow")
        base = f"http://{args.host or settings.server.host}:{args.port or settings.server.port}"
        print(demo_summary(kinds, base), flush=True)
        yield settings


def _apikey(args: argparse.Namespace) -> int:
    """``apikey hash``: the key comes on stdin, never as an argument (shell history, ps)."""
    from gateway.auth.apikeys import hash_key, new_key

    if args.apikey_command == "new":
        key = new_key()
        roles, teams = _split_list(args.roles), _split_list(args.teams)
        print(f"key (give it to the client, store it nowhere else): {key}")
        print(f"\n[[auth.api_keys]]\nname = {json.dumps(args.name)}")
        print(f'sha256 = "{hash_key(key)}"\nroles = {_toml_list(roles)}\nteams = {_toml_list(teams)}')
        return EXIT_OK
    key = sys.stdin.read().strip()
    if not key:
        print("modelgate: apikey hash reads the key from stdin; got nothing", file=sys.stderr)
        return EXIT_USAGE
    print(hash_key(key))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelgate", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"modelgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
        return p

    for name, text in (
        ("serve", "run the gateway"),
        ("demo", "serve sample models in native, Git (GTO) and SageMaker (moto) registries"),
    ):
        server = with_config(sub.add_parser(name, help=text))
        if name == "demo":
            server.add_argument(
                "--with-mlflow",
                action="store_true",
                help="also start and fill a local MLflow server (pip install mlflow)",
            )
            server.add_argument(
                "--mlflow-url", help="with --with-mlflow: fill this MLflow server instead of starting one"
            )
            server.add_argument(
                "--no-git", action="store_true", help="leave out the demo's Git (GTO) registry"
            )
            server.add_argument(
                "--no-sagemaker",
                action="store_true",
                help="leave out the demo's SageMaker Model Registry (served by moto)",
            )
        server.add_argument("--host")
        server.add_argument("--port", type=int)
        server.add_argument("--log-format", choices=("text", "json"), default="text")
        server.add_argument("--log-level", default="info")
        server.add_argument(
            "--workers", type=int, default=1, help="server processes (default 1); the store is shared"
        )

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    with_config(db_sub.add_parser("upgrade", help="apply schema migrations"))

    sub.add_parser("schema", help="print the GraphQL schema (SDL)")

    apikey = sub.add_parser("apikey", help='API keys for [auth] mode = "apikey"')
    apikey_sub = apikey.add_subparsers(dest="apikey_command", required=True)
    apikey_sub.add_parser("hash", help="print the sha256 of a key read from stdin, for [[auth.api_keys]]")
    new = apikey_sub.add_parser("new", help="print a new random key and the config entry holding its sha256")
    new.add_argument("--name", default="CHANGE-ME", help="who holds the key (the principal's name)")
    new.add_argument("--roles", help="comma-separated roles, e.g. TEAM_LEAD,LEGAL")
    new.add_argument("--teams", help="comma-separated teams, e.g. fraud,ads")
    catalogue_commands.add_commands(sub, with_config)
    governance_commands.add_commands(sub, with_config)
    lineage_commands.add_command(sub, with_config)
    evidence_commands.add_command(sub, with_config)
    bom_commands.add_command(sub, with_config)
    artifact_commands.add_command(sub, with_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Commands other than the server print results; only their warnings belong on stderr.
    default_level = "info" if args.command in ("serve", "demo") else "warning"
    configure_logging(getattr(args, "log_format", "text"), getattr(args, "log_level", default_level))
    try:
        if args.command == "schema":
            from gateway.api.schema import schema

            print(schema.as_str())
            return EXIT_OK
        if args.command == "apikey":
            return _apikey(args)
        settings = _load(args.config)
        if args.command == "serve":
            log = (args.log_format, args.log_level)
            _serve(settings, args.host, args.port, workers=args.workers, log=log)
        elif args.command == "demo":
            log = (args.log_format, args.log_level)
            with _demo_registries(settings, args) as demo_settings:
                _serve(demo_settings, args.host, args.port, seed=True, workers=args.workers, log=log)
        elif args.command in catalogue_commands.COMMANDS:
            return catalogue_commands.run(args, settings)
        elif args.command in governance_commands.COMMANDS:
            return governance_commands.run(args, settings)
        elif args.command == lineage_commands.COMMAND:
            return lineage_commands.run(args, settings)
        elif args.command == evidence_commands.COMMAND:
            return evidence_commands.run(args, settings)
        elif args.command == bom_commands.COMMAND:
            return bom_commands.run(args, settings)
        elif args.command == artifact_commands.COMMAND:
            return artifact_commands.run(args, settings)
        elif args.command == "db":
            asyncio.run(_db_upgrade(settings))
            print(f"database at {settings.storage.url} is at the newest schema")
    except ConfigError as exc:
        print(f"modelgate: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (WorkerFailed, BindFailed) as exc:
        print(f"modelgate: cannot serve: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
