"""``modelgate bom URI --format cyclonedx|spdx``: write the AI bill of materials
of a version, of a model (its STAGING and PRODUCTION versions) or, with
``--inventory``, of every PRODUCTION version (the server's administration CLI:
it reads the whole catalogue)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.bom.formats import BomFormat
from gateway.catalogue.refs import resolve_version_uri
from gateway.config import Settings
from gateway.domain import parse_uri
from gateway.errors import GatewayError

COMMAND = "bom"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    p = with_config(
        sub.add_parser(COMMAND, help="write the AI bill of materials of a version, a model or the inventory")
    )
    p.add_argument(
        "uri",
        nargs="?",
        help="a version's URI (mg://<registry>/<model>/<version>) or a model's (mg://<registry>/<model>)",
    )
    p.add_argument("--inventory", action="store_true", help="every PRODUCTION version instead of one URI")
    p.add_argument("--format", choices=[f.value for f in BomFormat], default=BomFormat.CYCLONEDX_1_6.value)
    p.add_argument("--output", help="file to write (default: standard output)")


async def _document(settings: Settings, uri: str | None, fmt: BomFormat) -> dict[str, object]:
    """The BOM of version or model ``uri``, or of the inventory when ``uri`` is None."""
    from gateway.bom.service import inventory_bom, model_bom, version_bom
    from gateway.runtime import Gateway

    gateway = await Gateway.open(settings)
    try:
        if uri is None:
            return await inventory_bom(gateway, None, fmt)
        uri = await resolve_version_uri(gateway.index, uri, None)  # @production: the version now
        if _names_model(uri):
            return await model_bom(gateway, None, uri, fmt)
        return await version_bom(gateway, None, uri, fmt)
    finally:
        await gateway.aclose()


def _names_model(uri: str) -> bool:
    try:
        return parse_uri(uri).version is None
    except ValueError:
        return False  # version_bom reports the malformed URI


def run(args: argparse.Namespace, settings: Settings) -> int:
    if (args.uri is None) == (not args.inventory):
        print("modelgate: give a version or model URI, or --inventory (not both)", file=sys.stderr)
        return EXIT_USAGE
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
