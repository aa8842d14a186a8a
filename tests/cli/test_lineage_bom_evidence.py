"""``gateway.cli.lineage``, ``bom`` and ``evidence``: each command on the demo
catalogue, its output and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import bom, evidence, lineage
from gateway.config import Settings
from gateway.domain import LineageNode, Relation
from gateway.lineage.graph import Edge, Graph, node_for_uri
from tests.cli.conftest import parse

CHILD = "mg://research/llm-summarizer/1"
PARENT = "mg://research/llm-summarizer-base/2"


def test_lineage_prints_a_tree_and_json(demo_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        lineage.run(parse("lineage", PARENT, "--direction", "DOWNSTREAM"), demo_settings) == lineage.EXIT_OK
    )
    tree = capsys.readouterr().out.splitlines()
    assert tree[0].startswith(PARENT) and "  used by:" in tree
    assert lineage.run(parse("lineage", PARENT, "--json"), demo_settings) == 0
    graph = json.loads(capsys.readouterr().out)
    assert PARENT in {n["uri"] for n in graph["nodes"]} and graph["truncated"] is False


def test_lineage_impact_and_openlineage(
    demo_settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert lineage.run(parse("lineage", PARENT, "--impact", "--json"), demo_settings) == 0
    impact = json.loads(capsys.readouterr().out)
    assert impact["root"] and all(v["path"][0] == impact["root"] for v in impact["versions"])
    out = tmp_path / "events.jsonl"
    assert lineage.run(parse("lineage", PARENT, "--openlineage", "--output", str(out)), demo_settings) == 0
    assert all(json.loads(line)["eventType"] for line in out.read_text().splitlines())


def test_lineage_exit_codes(demo_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert lineage.run(parse("lineage", "mg://platform/nothing/1"), demo_settings) == lineage.EXIT_FAILED
    assert lineage.run(parse("lineage", PARENT, "--depth", "99"), demo_settings) == lineage.EXIT_USAGE
    assert "depth" in capsys.readouterr().err


def test_render_tree_shows_each_node_once() -> None:
    a, b = node_for_uri("mg://r/a/1"), node_for_uri("mg://r/b/1")
    data = LineageNode("s3://d/x", "dataset", "x")
    graph = Graph()
    graph.add(
        [
            Edge(b, a, Relation.DERIVED_FROM),
            Edge(b, data, Relation.TRAINED_ON),
            Edge(a, data, Relation.TRAINED_ON),
        ]
    )
    lines = lineage.render_tree(graph, "mg://r/b/1")
    assert lines[0] == "mg://r/b/1 'b v1' [model_version, registry r]" and lines[1] == "  made from:"
    assert sum("s3://d/x" in line for line in lines) == 2 and lines[-1].endswith("(shown above)")


def test_bom_needs_exactly_one_target_and_writes_a_file(
    demo_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bom.run(parse("bom"), demo_settings) == bom.EXIT_USAGE
    assert (
        bom.run(parse("bom", "mg://platform/fraud-detector/1", "--inventory"), demo_settings)
        == bom.EXIT_USAGE
    )
    out = tmp_path / "bom.json"
    assert (
        bom.run(parse("bom", "mg://platform/fraud-detector", "--output", str(out)), demo_settings)
        == bom.EXIT_OK
    )
    assert json.loads(out.read_text())["bomFormat"] == "CycloneDX"
    assert bom.run(parse("bom", "--inventory", "--format", "spdx"), demo_settings) == bom.EXIT_OK
    assert json.loads(capsys.readouterr().out)["@context"].startswith("https://spdx.org/")
    assert bom.run(parse("bom", "mg://platform/nothing/1"), demo_settings) == bom.EXIT_FAILED


def test_evidence_writes_an_html_pack_and_fails_on_an_absent_version(
    demo_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack.html"
    args = parse("evidence", "mg://platform/fraud-detector/1", "--format", "html", "--output", str(out))
    assert evidence.run(args, demo_settings) == evidence.EXIT_OK
    assert "fraud-detector" in out.read_text() and f"wrote {out}" in capsys.readouterr().out
    assert (
        evidence.run(parse("evidence", "mg://platform/nothing/1", "--format", "html"), demo_settings)
        == evidence.EXIT_FAILED
    )
    assert "nothing" in capsys.readouterr().err
