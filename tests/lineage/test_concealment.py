"""``gateway.lineage.visibility`` on plain graphs: which nodes a hidden version
takes with it, and how a redacted graph keeps its shape but none of their names."""

from __future__ import annotations

from gateway.auth.access import redacted_uri
from gateway.domain import LineageNode, Relation
from gateway.lineage.graph import Edge, Graph
from gateway.lineage.visibility import concealed, redact

SECRET = "mg://r/secret/1"
OPEN = "mg://r/open/1"
SHARED = "s3://lake/shared"
ONLY_SECRET = "s3://lake/only-secret"
RUN = "run://secret-run"


def links() -> list[tuple[str, str]]:
    # OPEN and SECRET share a dataset; SECRET alone uses another, which a run made.
    return [(OPEN, SHARED), (SECRET, SHARED), (SECRET, ONLY_SECRET), (ONLY_SECRET, RUN)]


def test_nothing_hidden_conceals_nothing() -> None:
    assert concealed(OPEN, [OPEN, SHARED], links(), set()) == set()


def test_a_hidden_version_takes_what_only_it_reaches() -> None:
    nodes = [OPEN, SECRET, SHARED, ONLY_SECRET, RUN]
    # From a visible root: the shared dataset stays, the secret's own inputs go,
    # however many hops away they are.
    assert concealed(OPEN, nodes, links(), {SECRET}) == {SECRET, ONLY_SECRET, RUN}
    # From a dataset root the walk starts there: what it reaches without passing
    # the hidden version stays in clear.
    assert concealed(ONLY_SECRET, nodes, links(), {SECRET}) == {SECRET}


def test_a_visible_catalogue_entry_stays_in_clear_wherever_it_is() -> None:
    other = "mg://r/other/1"
    edges = [*links(), (other, RUN)]  # a visible version also names the run
    nodes = [OPEN, SECRET, SHARED, ONLY_SECRET, RUN, other]
    assert concealed(SHARED, nodes, edges, {SECRET}) == {SECRET}


def test_nodes_named_only_by_links_count_too() -> None:
    assert concealed(OPEN, [OPEN], links(), {SECRET}) == {SECRET, ONLY_SECRET, RUN}


def node(uri: str, kind: str) -> LineageNode:
    return LineageNode(
        uri, kind, label=uri.rsplit("/", 1)[-1], registry="r" if uri.startswith("mg://") else None
    )


def test_redaction_keeps_the_shape_and_hides_the_names() -> None:
    graph = Graph(truncated=True)
    graph.add_edge(Edge(node(OPEN, "model_version"), node(SHARED, "dataset"), Relation.TRAINED_ON))
    graph.add_edge(Edge(node(SECRET, "model_version"), node(SHARED, "dataset"), Relation.TRAINED_ON))
    graph.add_edge(Edge(node(SECRET, "model_version"), node(ONLY_SECRET, "dataset"), Relation.TRAINED_ON))
    assert redact(graph, set()) is graph

    out = redact(graph, {SECRET, ONLY_SECRET})
    assert out.truncated and len(out.nodes) == 4 and len(out.edges) == 3
    placeholder = out.nodes[redacted_uri(SECRET)]
    assert (placeholder.kind, placeholder.label, placeholder.registry) == ("model_version", None, None)
    assert out.nodes[OPEN] == graph.nodes[OPEN]  # the rest untouched
    text = repr(out.nodes) + repr(out.edges)
    assert "secret" not in text and "only-secret" not in text
    assert {(e.source.uri, e.target.uri) for e in out.edges.values()} == {
        (OPEN, SHARED),
        (redacted_uri(SECRET), SHARED),
        (redacted_uri(SECRET), redacted_uri(ONLY_SECRET)),
    }
    assert redacted_uri(SECRET) == redacted_uri(SECRET) != redacted_uri(ONLY_SECRET)  # stable, distinct
