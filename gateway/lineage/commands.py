"""``modelgate lineage``: the lineage graph, impact analysis or OpenLineage events
of a node, from the command line (wired in ``gateway.cli``).

    modelgate lineage URI [--direction BOTH] [--depth 3]      graph as JSON
    modelgate lineage URI --openlineage                        RunEvents, JSON Lines
    modelgate lineage URI --impact                             downstream versions with paths

``URI`` is an ``mg://`` URI, a registry's own reference (an MLflow
model URI, a SageMaker package ARN, a Vertex resource name) or a dataset URI in any
spelling. Registries whose lineage API fails are named on standard error; the
answer then comes from the stored graph. Exit codes: 0, 1 (not found or a
failure), 2 (bad usage).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import IO, Any

from gateway.config import Settings
from gateway.errors import BadInput, GatewayError, RegistryError
from gateway.lineage.service import MAX_IMPACT_LIMIT
from gateway.lineage.walk import MAX_DEPTH, Direction

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMAND = "lineage"


def add_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """Register ``lineage``."""
    parser = with_config(
        sub.add_parser(COMMAND, help="lineage graph, impact or OpenLineage export of a node")
    )
    parser.add_argument("uri", help="mg:// URI, registry reference or dataset URI")
    parser.add_argument("--direction", choices=[d.value for d in Direction], default=Direction.BOTH.value)
    parser.add_argument(
        "--depth", type=int, help="hops to follow (graph: 0-10, default 3; impact: 1-50, default 10)"
    )
    parser.add_argument("--max-nodes", type=int, default=500)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--openlineage", action="store_true", help="print OpenLineage RunEvents (JSON Lines)")
    what.add_argument("--impact", action="store_true", help="every version downstream, with its path")
    parser.add_argument("--no-registry-lineage", action="store_true", help="walk the stored graph only")
    parser.add_argument("--output", help="file to write (default: standard output)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_run(args, settings))
    except BadInput as exc:
        print(f"modelgate lineage: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except GatewayError as exc:
        print(f"modelgate lineage: {exc.message}", file=sys.stderr)
        return EXIT_FAILED


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.runtime import Gateway

    gateway = await Gateway.open(settings)
    errors: dict[str, RegistryError] = {}
    try:
        lineage = gateway.lineage
        report = None if args.no_registry_lineage else (lambda e: errors.setdefault(e.registry_id, e))
        if args.impact:
            depth = MAX_DEPTH if args.depth is None else args.depth
            result = await lineage.impact(args.uri, depth=depth, limit=MAX_IMPACT_LIMIT)
            lines = [
                json.dumps(
                    {
                        "root": result.root,
                        "truncated": result.truncated,
                        "versions": [
                            {"uri": h.node.uri, "depth": h.depth, "path": h.path, "relations": h.relations}
                            for h in result.hits
                        ],
                    },
                    indent=2,
                )
            ]
        elif args.openlineage:
            events = await lineage.openlineage_events(
                args.uri,
                Direction(args.direction),
                3 if args.depth is None else args.depth,
                max_nodes=args.max_nodes,
                registry_lineage=not args.no_registry_lineage,
                report=report,
            )
            lines = [json.dumps(e, separators=(",", ":")) for e in events]
        else:
            graph = await lineage.graph(
                args.uri,
                Direction(args.direction),
                3 if args.depth is None else args.depth,
                max_nodes=args.max_nodes,
                registry_lineage=not args.no_registry_lineage,
                report=report,
            )
            lines = [json.dumps(_graph_json(graph), indent=2)]
    finally:
        await gateway.aclose()
    for error in errors.values():
        print(f"modelgate lineage: warning: {error.message} (stored lineage only)", file=sys.stderr)
    _write(lines, args.output)
    return EXIT_OK


def _graph_json(graph: Any) -> dict[str, Any]:
    return {
        "nodes": [
            {"uri": n.uri, "kind": n.kind, "label": n.label, "registry": n.registry}
            for n in graph.nodes.values()
        ],
        "edges": [
            {
                "source": e.source.uri,
                "target": e.target.uri,
                "relation": e.relation.value,
                "evidence": e.evidence,
            }
            for e in graph.edges.values()
        ],
        "truncated": graph.truncated,
    }


def _write(lines: list[str], path: str | None) -> None:
    out: IO[str]
    if path:
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)
    else:
        sys.stdout.writelines(line + "\n" for line in lines)
