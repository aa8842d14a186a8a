"""``gateway.evidence.svg``: the evidence pack's lineage picture is well-formed,
self-contained SVG with the version's inputs (transitively) on the left, the
version in the middle and everything else on the right, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from gateway.domain import LineageNode, Relation
from gateway.evidence.svg import BOX_W, COL, lineage_svg
from gateway.lineage.graph import Edge, Graph

NS = {"svg": "http://www.w3.org/2000/svg"}
ROOT = "mg://r/m/2"


def graph() -> Graph:
    g = Graph()
    version = LineageNode(ROOT, "model_version", "m v2")
    parent = LineageNode("mg://r/m/1", "model_version", "m v1")
    data = LineageNode("s3://lake/train", "dataset", '<script>alert("x")</script>')
    endpoint = LineageNode("arn:endpoint/prod", "deployment", "prod")
    g.add_edge(Edge(version, parent, Relation.DERIVED_FROM))
    g.add_edge(Edge(parent, data, Relation.TRAINED_ON))  # an input of an input
    g.add_edge(Edge(version, endpoint, Relation.DEPLOYED_TO))
    return g


def boxes(svg: str) -> dict[str, int]:
    """Each box's kind line (``kind: uri``) by its column's x."""
    root = ET.fromstring(svg)
    texts = root.findall("svg:text", NS)
    return {
        t.text or "": int(float(t.get("x", "0"))) - 8
        for t in texts
        if t.get("font-size") == "8" and ":" in (t.text or "")
    }


def test_inputs_left_the_version_in_the_middle_the_rest_right() -> None:
    svg = lineage_svg(graph(), ROOT)
    placed = boxes(svg)
    assert placed == {
        "model_version: mg://r/m/1": 0,
        "dataset: s3://lake/train": 0,  # reached through the parent: still an input
        f"model_version: {ROOT}": COL,
        "deployment: arn:endpoint/prod": 2 * COL,
    }
    root = ET.fromstring(svg)
    assert int(root.get("width", "0")) == 2 * COL + BOX_W
    assert len(root.findall("svg:line", NS)) == 3  # every edge drawn
    relations = {t.text for t in root.findall("svg:text", NS) if t.get("text-anchor") == "middle"}
    assert relations == {"DERIVED_FROM", "TRAINED_ON", "DEPLOYED_TO"}


def test_text_is_escaped_and_nothing_is_external() -> None:
    svg = lineage_svg(graph(), ROOT)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert "href" not in svg
    ET.fromstring(svg)  # well-formed


def test_a_lone_version_is_one_box() -> None:
    svg = lineage_svg(Graph(), ROOT)
    assert boxes(svg) == {f"model_version: {ROOT}": COL}
    assert 'aria-label="Lineage of mg://r/m/2"' in svg
