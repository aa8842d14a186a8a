"""``modelgate bom URI --format cyclonedx|spdx``: write a version's AI bill of
materials (the server's administration CLI: it reads the whole catalogue)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.bom.formats import BomFormat
from gateway.config import Settings
from gateway.errors import GatewayError

COMMAND = "bom"
EXIT_OK, EXIT_FAILED = 0, 1


def add_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    p = with_config(
        sub.add_parser(COMMAND, help="write a version's AI bill of materials (CycloneDX or SPDX)")
    )
    p.add_argument("uri", help="the version's URI, mg://<registry>/<model>/<version>")
    p.add_argument("--format", choices=[f.value for f in BomFormat], default=BomFormat.CYCLONEDX_1_6.value)
    p.add_argument("--output", help="file to write (default: standard output)")


async def _document(settings: Settings, uri: str, fmt: BomFormat) -> dict[str, object]:
    from gateway.bom.service import version_bom
    from gateway.runtime import Gateway

    gateway = await Gateway.open(settings)
    try:
        return await version_bom(gateway, None, uri, fmt)
    finally:
        await gateway.aclose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        body = asyncio.run(_document(settings, args.uri, BomFormat.named(args.format)))
    except GatewayError as exc:
        print(f"modelgate: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK
