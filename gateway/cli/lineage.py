"""``modelgate lineage``: the lineage graph, impact analysis or OpenLineage events
of a node, from the command line (wired in ``gateway.cli``).

    modelgate lineage URI [--direction BOTH] [--depth 3]      graph as a tree (--json: JSON)
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

from gateway.catalogue.refs import resolve_version_uri
from gateway.config import Settings
from gateway.domain import Relation
from gateway.errors import BadInput, GatewayError, RegistryError
from gateway.lineage.graph import INPUT_RELATIONS, Graph
from gateway.lineage.service import MAX_IMPACT_LIMIT
from gateway.lineage.walk import MAX_DEPTH, Direction, ImpactResult
from gateway.wording import plural

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
    parser.add_argument("--json", action="store_true", help="JSON for scripts (graph and impact)")
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
    from gateway.auth.principal import LOCAL_OPERATOR
    from gateway.runtime import Gateway

    gateway = await Gateway.open(settings)
    errors: dict[str, RegistryError] = {}
    try:
        lineage = gateway.lineage
        operator = gateway.access(LOCAL_OPERATOR)  # the command line sees everything
        args.uri = await resolve_version_uri(gateway.index, args.uri, None)  # @production: the version now
        report = None if args.no_registry_lineage else (lambda e: errors.setdefault(e.registry_id, e))
        if args.impact:
            depth = MAX_DEPTH if args.depth is None else args.depth
            result = await lineage.impact(args.uri, depth=depth, limit=MAX_IMPACT_LIMIT)
            if not result.hits:
                # Tell "nothing downstream" from "no such node": the graph walk knows.
                await lineage.visible_graph(args.uri, operator, depth=0, registry_lineage=False)
            lines = [json.dumps(_impact_json(result), indent=2)] if args.json else _impact_lines(result)
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
            graph = await lineage.visible_graph(
                args.uri,
                operator,
                Direction(args.direction),
                3 if args.depth is None else args.depth,
                max_nodes=args.max_nodes,
                registry_lineage=not args.no_registry_lineage,
                report=report,
            )
            root = await lineage.canonical(args.uri)
            lines = [json.dumps(_graph_json(graph), indent=2)] if args.json else render_tree(graph, root)
    finally:
        await gateway.aclose()
    for error in errors.values():
        print(f"modelgate lineage: warning: {error.message} (stored lineage only)", file=sys.stderr)
    _write(lines, args.output)
    return EXIT_OK


def _impact_json(result: ImpactResult) -> dict[str, Any]:
    return {
        "root": result.root,
        "truncated": result.truncated,
        "versions": [
            {"uri": h.node.uri, "depth": h.depth, "path": h.path, "relations": h.relations}
            for h in result.hits
        ],
    }


def _impact_lines(result: ImpactResult) -> list[str]:
    if not result.hits:
        return [f"nothing downstream of {result.root}"]
    lines = [f"{plural(len(result.hits), 'version')} downstream of {result.root}:"]
    for hit in result.hits:
        steps = " ".join(
            f"-{relation}-> {uri}" for relation, uri in zip(hit.relations, hit.path[1:], strict=True)
        )
        lines.append(f"  {hit.node.uri}  (depth {hit.depth}: {hit.path[0]} {steps})")
    if result.truncated:
        lines.append("  ... (truncated: raise --depth, or narrow the root)")
    return lines


def render_tree(graph: Graph, root: str) -> list[str]:
    """The graph as an indented tree from the root: what it was made from
    (upstream), then what uses it (downstream), each node once."""
    made_from: dict[str, list[tuple[str, str]]] = {}
    used_by: dict[str, list[tuple[str, str]]] = {}
    for e in graph.edges.values():
        source, target, relation = e.source.uri, e.target.uri, e.relation.value
        if e.relation in INPUT_RELATIONS or e.relation is Relation.SAME_AS:
            made_from.setdefault(source, []).append((relation, target))
            used_by.setdefault(target, []).append((relation, source))
        else:  # DEPLOYED_TO: the endpoint uses the version
            used_by.setdefault(source, []).append((relation, target))
            made_from.setdefault(target, []).append((relation, source))
    lines = [_describe(graph, root)]
    for title, adjacency in (("made from", made_from), ("used by", used_by)):
        if adjacency.get(root):
            lines.append(f"  {title}:")
            _branch(graph, adjacency, root, {root}, "    ", lines)
    if graph.truncated:
        lines.append("  ... (truncated: the node limit was reached)")
    return lines


def _branch(
    graph: Graph,
    adjacency: dict[str, list[tuple[str, str]]],
    uri: str,
    seen: set[str],
    indent: str,
    lines: list[str],
) -> None:
    children = sorted(adjacency.get(uri, []))
    for i, (relation, child) in enumerate(children):
        last = i == len(children) - 1
        repeat = child in seen
        lines.append(
            f"{indent}{'└─' if last else '├─'} {relation} {_describe(graph, child)}"
            + ("  (shown above)" if repeat else "")
        )
        if not repeat:
            seen.add(child)
            _branch(graph, adjacency, child, seen, indent + ("   " if last else "│  "), lines)


def _describe(graph: Graph, uri: str) -> str:
    node = graph.nodes.get(uri)
    if node is None:
        return uri
    where = f", registry {node.registry}" if node.registry else ""
    label = f" {node.label!r}" if node.label and node.label not in uri else ""
    return f"{uri}{label} [{node.kind}{where}]"


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
