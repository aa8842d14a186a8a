"""Harvesting into the store and walking it, on SQLite and PostgreSQL: what the
index writes becomes edges (normalised, resolved, replaced on change), walks
follow directions, stop at depth, survive cycles and respect node limits."""

from __future__ import annotations

import dataclasses

from gateway.domain import CodeRef, DatasetRef, Deployment, LineageNode, Relation
from gateway.lineage.graph import Graph
from gateway.lineage.harvest import LineageHarvester
from gateway.lineage.uris import ReferenceResolver
from gateway.lineage.walk import Direction, impact, walk
from tests.lineage.conftest import REGISTRIES, LineageStore, version


def edges_of(graph: Graph) -> set[tuple[str, str, str]]:
    return {(s, t, r.value) for s, t, r in graph.edges}


async def around(store: LineageStore, uri: str, direction: Direction, depth: int = 3, **kw: object) -> Graph:
    return await walk(store.db, LineageNode(uri, "unknown"), direction, depth, **kw)  # type: ignore[arg-type]


async def test_record_and_declared_edges_are_normalised_and_resolved(lineage_store: LineageStore) -> None:
    tuned = version(
        "platform",
        "tuned",
        data=[
            DatasetRef("S3A://Acme-Data/tx/2026/", name="tx", role="training"),
            DatasetRef("s3://acme-data/holdout/", role="evaluation"),
        ],
        parent="models:/base/1",
        training_code=CodeRef("https://git.example.com/fraud", "9f2c1e7"),
        deployments=(Deployment("endpoints/fraud-prod"),),
        tags={
            "lineage.training_data": "gcs://extra/set/ , s3://acme-data/tx/2026",
            "lineage.parent": "arn:aws:sagemaker:us-east-1:1:model-package/teacher/2",
        },
    )
    await lineage_store.put(tuned)
    graph = await around(lineage_store, tuned.uri, Direction.BOTH, depth=1)
    me = tuned.uri
    assert edges_of(graph) == {
        (me, "s3://acme-data/tx/2026", "TRAINED_ON"),
        (me, "s3://acme-data/holdout", "VALIDATED_ON"),
        (me, "gs://extra/set", "TRAINED_ON"),
        (me, "mg://fraud-mlflow/base/1", "DERIVED_FROM"),
        (me, "mg://ads-sm/teacher/2", "DERIVED_FROM"),
        (me, "git+https://git.example.com/fraud@9f2c1e7", "PRODUCED_BY"),
        (me, "endpoints/fraud-prod", "DEPLOYED_TO"),
    }
    evidence = {(e.target.uri, e.evidence) for e in graph.edges.values()}
    # The record and the tag name the same dataset: one edge, known from the record.
    assert ("s3://acme-data/tx/2026", "record") in evidence
    assert ("gs://extra/set", "tag:lineage.training_data") in evidence
    assert graph.nodes["mg://fraud-mlflow/base/1"].registry == "fraud-mlflow"
    assert graph.nodes["s3://acme-data/tx/2026"].kind == "dataset"


async def test_a_changed_version_replaces_its_edges_and_a_removed_model_drops_them(
    lineage_store: LineageStore,
) -> None:
    v1 = version("platform", "m", data=["s3://d/old"])
    other = version("research", "o", data=["s3://d/old"])
    await lineage_store.put(v1, other)
    await lineage_store.put(dataclasses.replace(v1, training_data=(DatasetRef("s3://d/new"),)))
    old = await around(lineage_store, "s3://d/old", Direction.DOWNSTREAM, depth=1)
    assert {s for s, _, _ in edges_of(old)} == {other.uri}
    new = await around(lineage_store, "s3://d/new", Direction.DOWNSTREAM, depth=1)
    assert {s for s, _, _ in edges_of(new)} == {v1.uri}
    await lineage_store.index.remove_models("platform", ["m"])
    gone = await around(lineage_store, "s3://d/new", Direction.DOWNSTREAM, depth=1)
    assert gone.edges == {}


async def test_directions_and_depth(lineage_store: LineageStore) -> None:
    base = version("research", "base", data=["s3://d/public"])
    tuned = version("platform", "tuned", data=["s3://d/support"], parent=base.uri)
    child = version("platform", "child", parent=tuned.uri, deployments=(Deployment("ep/child"),))
    await lineage_store.put(base, tuned, child)

    up = await around(lineage_store, tuned.uri, Direction.UPSTREAM)
    assert edges_of(up) == {
        (tuned.uri, "s3://d/support", "TRAINED_ON"),
        (tuned.uri, base.uri, "DERIVED_FROM"),
        (base.uri, "s3://d/public", "TRAINED_ON"),
    }
    down = await around(lineage_store, tuned.uri, Direction.DOWNSTREAM)
    assert edges_of(down) == {(child.uri, tuned.uri, "DERIVED_FROM"), (child.uri, "ep/child", "DEPLOYED_TO")}
    both = await around(lineage_store, tuned.uri, Direction.BOTH)
    assert edges_of(both) == edges_of(up) | edges_of(down)
    # BOTH is not undirected: the dataset's other users are siblings, not lineage.
    assert edges_of(await around(lineage_store, tuned.uri, Direction.UPSTREAM, depth=1)) == {
        (tuned.uri, "s3://d/support", "TRAINED_ON"),
        (tuned.uri, base.uri, "DERIVED_FROM"),
    }
    assert (await around(lineage_store, tuned.uri, Direction.BOTH, depth=0)).edges == {}
    # An endpoint's upstream is the version deployed on it, and what that came from.
    endpoint = await around(lineage_store, "ep/child", Direction.UPSTREAM, depth=2)
    assert (child.uri, tuned.uri, "DERIVED_FROM") in edges_of(endpoint)


async def test_cycles_end_and_node_limits_truncate(lineage_store: LineageStore) -> None:
    a = version("platform", "a", parent="mg://platform/b/1")
    b = version("platform", "b", parent="mg://platform/a/1")
    await lineage_store.put(a, b)
    graph = await around(lineage_store, a.uri, Direction.BOTH, depth=10)
    assert edges_of(graph) == {(a.uri, b.uri, "DERIVED_FROM"), (b.uri, a.uri, "DERIVED_FROM")}
    assert not graph.truncated
    hit = await impact(lineage_store.db, a.uri)
    assert [h.node.uri for h in hit.hits] == [b.uri] and not hit.truncated

    fan = [version("research", f"user{i}", data=["s3://d/popular"]) for i in range(12)]
    await lineage_store.put(*fan)
    limited = await around(lineage_store, "s3://d/popular", Direction.DOWNSTREAM, max_nodes=5)
    assert limited.truncated and len(limited.nodes) == 5
    # Deterministic: the same five nodes every time, on every database.
    again = await around(lineage_store, "s3://d/popular", Direction.DOWNSTREAM, max_nodes=5)
    assert set(again.nodes) == set(limited.nodes)


async def test_same_artifact_in_two_registries_is_same_as(lineage_store: LineageStore) -> None:
    digest = "sha256:" + "c" * 64
    native = version("platform", "fraud", artifact_uri="s3://models/fraud/model.tar.gz", data=["s3://d/tx"])
    copy = version("ads-sm", "Fraud", artifact_uri="s3a://Models/fraud//model.tar.gz/")
    by_digest = version("vision", "42", artifact_uri="gs://elsewhere/model", artifact_digest=digest)
    native_digest = version("research", "fraud", artifact_uri="file:///tmp/x", artifact_digest=digest.upper())
    same_registry = version("platform", "fraud-again", artifact_uri="s3://models/fraud/model.tar.gz")
    await lineage_store.put(native, copy, by_digest, native_digest, same_registry)
    graph = await around(lineage_store, copy.uri, Direction.UPSTREAM, depth=2)
    assert (copy.uri, native.uri, "SAME_AS") in edges_of(graph)
    assert (native.uri, "s3://d/tx", "TRAINED_ON") in edges_of(graph)  # a copy shares its lineage
    direct = edges_of(await around(lineage_store, native.uri, Direction.BOTH, depth=1))
    assert (native.uri, copy.uri, "SAME_AS") in direct
    # The issue links versions in two registries: a second version of the same registry is not
    # linked directly (only through the copy in the other registry).
    assert not {e for e in direct if same_registry.uri in e}
    linked = await around(lineage_store, by_digest.uri, Direction.BOTH, depth=1)
    assert (by_digest.uri, native_digest.uri, "SAME_AS") in edges_of(linked)
    assert {e.evidence for e in linked.edges.values()} == {"artifact"}


async def test_impact_follows_training_fine_tuning_and_copies_with_paths(lineage_store: LineageStore) -> None:
    base = version("research", "base", data=["s3a://acme/tx/"], artifact_uri="s3://models/base")
    tuned = version("platform", "tuned", parent=base.uri)
    tuned2 = version("platform", "tuned", "2", parent="mg://platform/tuned/1")
    mirror = version("ads-sm", "base-copy", artifact_uri="s3://models/base/")
    validated = version("platform", "checker", data=[DatasetRef("s3://acme/tx", role="validation")])
    unrelated = version("platform", "other", data=["s3://acme/other"])
    await lineage_store.put(base, tuned, tuned2, mirror, validated, unrelated)

    result = await impact(lineage_store.db, "s3://acme/tx")
    paths = {h.node.uri: (h.path, h.relations) for h in result.hits}
    assert set(paths) == {base.uri, validated.uri, tuned.uri, tuned2.uri, mirror.uri}
    assert paths[tuned2.uri] == (
        ("s3://acme/tx", base.uri, tuned.uri, tuned2.uri),
        ("TRAINED_ON", "DERIVED_FROM", "DERIVED_FROM"),
    )
    assert paths[mirror.uri][1] == ("TRAINED_ON", "SAME_AS")
    assert [h.depth for h in result.hits] == sorted(h.depth for h in result.hits)  # nearest first
    assert not result.truncated

    shallow = await impact(lineage_store.db, "s3://acme/tx", depth=2)
    assert tuned2.uri not in {h.node.uri for h in shallow.hits} and shallow.truncated
    capped = await impact(lineage_store.db, "s3://acme/tx", limit=2)
    assert len(capped.hits) == 2 and capped.truncated

    of_model = await impact(lineage_store.db, "mg://platform/tuned", starts=[tuned.uri, tuned2.uri])
    assert of_model.hits == []  # v2 is one of the model's own versions, not downstream of the model
    of_base = await impact(lineage_store.db, base.uri)
    assert {h.node.uri for h in of_base.hits} == {tuned.uri, tuned2.uri, mirror.uri}


async def test_sagemaker_names_get_the_catalogues_spelling(lineage_store: LineageStore) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraudmodel/1"
    early = version("platform", "early", parent=arn)  # harvested before the package is indexed
    await lineage_store.put(early)
    await lineage_store.put(version("ads-sm", "FraudModel", data=["s3://d/sm"]))
    late = version("platform", "late", tags={"lineage.parent": arn})  # harvested after
    await lineage_store.put(late)
    for uri in (early.uri, late.uri):
        graph = await around(lineage_store, uri, Direction.UPSTREAM, depth=2)
        assert (uri, "mg://ads-sm/FraudModel/1", "DERIVED_FROM") in edges_of(graph)
        assert ("mg://ads-sm/FraudModel/1", "s3://d/sm", "TRAINED_ON") in edges_of(graph)


async def test_edges_are_harvested_again_when_the_registries_change(lineage_store: LineageStore) -> None:
    without_mlflow = LineageHarvester(ReferenceResolver([r for r in REGISTRIES if r.kind != "mlflow"]))
    lineage_store.index.listeners[:] = [without_mlflow]
    tuned = version("platform", "tuned", parent="models:/base/1")
    await lineage_store.put(tuned)
    assert await without_mlflow.ensure_current(lineage_store.db) == 1  # first start: harvest everything
    assert await without_mlflow.ensure_current(lineage_store.db) is None  # nothing changed since
    graph = await around(lineage_store, tuned.uri, Direction.UPSTREAM, depth=1)
    assert (tuned.uri, "models:/base/1", "DERIVED_FROM") in edges_of(graph)  # external: nobody owns it

    # An MLflow registry is configured: the same reference now resolves.
    assert await lineage_store.harvester.ensure_current(lineage_store.db) == 1
    graph = await around(lineage_store, tuned.uri, Direction.UPSTREAM, depth=1)
    assert edges_of(graph) == {(tuned.uri, "mg://fraud-mlflow/base/1", "DERIVED_FROM")}
    assert Relation.DERIVED_FROM in {e.relation for e in graph.edges.values()}


async def test_two_transactions_harvesting_the_same_new_version_do_not_collide(
    lineage_store: LineageStore,
) -> None:
    """A registration and a sync pass may both index a version that neither saw
    stored (PostgreSQL runs them side by side): the second harvest must not fail
    on the first one's rows, and the graph shows each edge once."""
    tuned = version("platform", "tuned", parent="models:/base/1", artifact_uri="s3://models/tuned/1")
    for _ in range(2):
        async with lineage_store.db.write() as conn:
            await lineage_store.harvester.harvest(conn, [tuned], fresh=True)
    graph = await around(lineage_store, tuned.uri, Direction.UPSTREAM, depth=1)
    assert edges_of(graph) == {(tuned.uri, "mg://fraud-mlflow/base/1", "DERIVED_FROM")}


async def test_code_nodes_are_repository_commit_and_path_never_a_bare_script_name(
    lineage_store: LineageStore,
) -> None:
    """Two teams' unrelated ``train.py`` must not become one node whose impact lists both."""
    fraud = version(
        "platform", "fraud", training_code=CodeRef("https://git.example.com/fraud", "9f2c1e7", "train.py")
    )
    ads = version(
        "research", "ads", training_code=CodeRef("https://git.example.com/ads", "77aa01b", "train.py")
    )
    bare = version("platform", "bare", training_code=CodeRef(None, None, "train.py"))
    await lineage_store.put(fraud, ads, bare)

    fraud_code = "git+https://git.example.com/fraud@9f2c1e7#train.py"
    graph = await around(lineage_store, fraud.uri, Direction.UPSTREAM, depth=1)
    assert edges_of(graph) == {(fraud.uri, fraud_code, "PRODUCED_BY")}
    assert graph.nodes[fraud_code].kind == "code"
    assert graph.nodes[fraud_code].label == "train.py @ 9f2c1e7"
    hit = await impact(lineage_store.db, fraud_code)
    assert [h.node.uri for h in hit.hits] == [fraud.uri]
    assert edges_of(await around(lineage_store, bare.uri, Direction.UPSTREAM, depth=1)) == set()
    assert (await impact(lineage_store.db, "train.py")).hits == []
