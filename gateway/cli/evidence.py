"""``modelgate evidence URI --format pdf|html``: write a version's evidence pack."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.catalogue.refs import resolve_version_uri
from gateway.config import Settings
from gateway.errors import GatewayError

COMMAND = "evidence"
EXIT_OK, EXIT_FAILED = 0, 1


def add_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    p = with_config(sub.add_parser(COMMAND, help="write a version's evidence pack (HTML or PDF)"))
    p.add_argument(
        "uri", help="the version's URI, mg://<registry>/<model>/<version>, or mg://<registry>/<model>@<ref>"
    )
    p.add_argument("--format", choices=("pdf", "html"), default="pdf")
    p.add_argument(
        "--output", help="file to write (default evidence-<model>-<version>.<format>; '-': standard output)"
    )


async def _write(settings: Settings, uri: str, fmt: str, output: str | None) -> int:
    from gateway.auth.principal import LOCAL_OPERATOR
    from gateway.evidence.gather import gather
    from gateway.evidence.render import render
    from gateway.runtime import Gateway

    gateway = await Gateway.open(settings)
    try:
        uri = await resolve_version_uri(gateway.index, uri, None)  # @production: the version now
        pack = await gather(gateway, uri, gateway.access(LOCAL_OPERATOR))  # the operator sees all
    finally:
        await gateway.aclose()
    body = render(pack, fmt)
    if output == "-":
        sys.stdout.buffer.write(body)
        return EXIT_OK
    path = Path(output or f"evidence-{pack.version.model_name}-{pack.version.version}.{fmt}")
    await asyncio.to_thread(path.write_bytes, body)
    print(f"wrote {path} ({len(body)} bytes; audit chain head {pack.chain_head or '(empty)'})")
    return EXIT_OK


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_write(settings, args.uri, args.format, args.output))
    except GatewayError as exc:
        print(f"modelgate: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
