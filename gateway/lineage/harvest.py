"""Harvesting lineage into the store beside the index.

``LineageHarvester`` is an ``IndexListener``: for every version the index
writes, inside the same transaction, it replaces that version's edges with

* **record edges**: each ``training_data`` dataset by role (VALIDATED_ON for
  validation/evaluation/test roles, TRAINED_ON otherwise), ``parent``
  (DERIVED_FROM), ``training_code`` (PRODUCED_BY, to a code node
  ``git+<repository>@<commit>#<path>``; none for a ref with neither repository
  nor commit), ``deployments`` (DEPLOYED_TO);
* **declared references** in tags (MLflow tags, SageMaker
  CustomerMetadataProperties, native tags), comma-separated:

  ======================== ===============  ===========================================
  tag                      relation          value
  ======================== ===============  ===========================================
  ``lineage.parent``       DERIVED_FROM      ``mg://`` URI or a registry reference
  ``base_model``           DERIVED_FROM      the same, or a bare name a kind's cards use
  ``lineage.training_data``   TRAINED_ON     dataset URIs, any spelling
  ``lineage.validation_data`` VALIDATED_ON   dataset URIs, any spelling
  ======================== ===============  ===========================================

  (Vertex labels cannot hold these: their keys allow no ``.`` and their values
  no ``:`` or ``/``.)

Dataset URIs are normalised and model references resolved (``uris.py``). Each
version's artifact URI and digest are recorded as ``lineage_artifacts`` keys,
from which walks derive SAME_AS links between registries.

A registry's own lineage API (``adapter.lineage``) costs a call per version, so
it is not read here; see ``remote.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.codec import version_from_dict
from gateway.domain import (
    LineageNode,
    Model,
    ModelVersion,
    Relation,
    code_node,
    dataset_relation,
    utcnow,
)
from gateway.lineage import store
from gateway.lineage.graph import Edge, version_node
from gateway.lineage.uris import ReferenceResolver, artifact_key, digest_key, normalize_dataset_uri
from gateway.store.database import Database, ReadConnection
from gateway.store.sql import upsert
from gateway.store.statistics import estimated_rows
from gateway.store.tables import catalogue_versions as cv
from gateway.store.tables import lineage_artifacts, lineage_edges, lineage_state
from gateway.upkeep import UpkeepProgress

log = logging.getLogger(__name__)

PARENT_TAG = "lineage.parent"
# The model-card convention for what a model was fine-tuned from (Hugging Face cards,
# and teams that copy the card into native or MLflow tags); its values may be bare
# names a kind's cards use (``ReferenceResolver.qualify``).
BASE_MODEL_TAG = "base_model"
TRAINING_DATA_TAG = "lineage.training_data"
VALIDATION_DATA_TAG = "lineage.validation_data"
DECLARED_TAGS: Mapping[str, Relation] = {
    PARENT_TAG: Relation.DERIVED_FROM,
    BASE_MODEL_TAG: Relation.DERIVED_FROM,
    TRAINING_DATA_TAG: Relation.TRAINED_ON,
    VALIDATION_DATA_TAG: Relation.VALIDATED_ON,
}
# Bump when harvesting changes meaning: stored edges are then rebuilt at start.
HARVEST_REVISION = "3"  # 2: code nodes are repository + commit + path; 3: base_model, external spellings
FINGERPRINT_KEY = "fingerprint"
REBUILD_BATCH = 2000


def dataset_node(uri: str, name: str | None = None) -> LineageNode:
    return LineageNode(normalize_dataset_uri(uri), "dataset", name or None, None)


def reference_node(
    ref: str, resolver: ReferenceResolver, context_registry: str | None
) -> tuple[LineageNode, bool]:
    """The node a model reference names (the owning registry's ``mg://`` URI, or
    the reference itself as an external node), and whether its model name came
    case-folded (a SageMaker ARN) and needs the catalogue's spelling."""
    resolved = resolver.resolve(ref, context_registry=context_registry)
    if resolved is None:
        return LineageNode(resolver.external(ref), "model_version", None, None), False
    node = LineageNode(resolved.uri, resolved.kind, resolved.label, resolved.registry_id)
    return node, resolved.case_insensitive


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def harvest_edges(version: ModelVersion, resolver: ReferenceResolver) -> list[Edge]:
    """Every edge the version's record and declared tags imply, normalised and
    resolved, each once (the record wins over a tag saying the same)."""
    me = version_node(version)
    origin = version.uri
    edges: dict[tuple[str, str, Relation], Edge] = {}

    def add(target: LineageNode, relation: Relation, evidence: str, folded: bool = False) -> None:
        if target.uri and target.uri != me.uri:
            edge = Edge(
                me, target, relation, evidence, origin, frozenset({target.uri}) if folded else frozenset()
            )
            edges.setdefault(edge.key, edge)

    for ds in version.training_data:
        add(dataset_node(ds.uri, ds.name), dataset_relation(ds.role), "record")
    if version.parent:
        parent, folded = reference_node(version.parent, resolver, version.registry_id)
        add(parent, Relation.DERIVED_FROM, "record", folded)
    if (code := code_node(version.training_code)) is not None:
        add(code, Relation.PRODUCED_BY, "record")
    for d in version.deployments:
        add(LineageNode(d.endpoint, "deployment", d.endpoint, None), Relation.DEPLOYED_TO, "record")
    for tag, relation in DECLARED_TAGS.items():
        for value in _split(str(version.tags.get(tag) or "")):
            if tag == BASE_MODEL_TAG:
                value = resolver.qualify(value)
            if relation is Relation.DERIVED_FROM:
                target, folded = reference_node(value, resolver, version.registry_id)
            else:
                target, folded = dataset_node(value), False
            add(target, relation, f"tag:{tag}", folded)
    return list(edges.values())


def artifact_rows(
    version: ModelVersion, relative_schemes: frozenset[str] = frozenset()
) -> list[tuple[str, str, str]]:
    """(version URI, key, registry) for the version's artifact URI and digest."""
    keys = [artifact_key(version.artifact_uri, relative_schemes), digest_key(version.artifact_digest)]
    return [(version.uri, k, version.registry_id) for k in keys if k]


def _model_parts(node: LineageNode) -> tuple[str, str, str] | None:
    if not node.uri.startswith("mg://") or not node.registry:
        return None
    parts = node.uri[len("mg://") :].split("/")
    return (node.registry, parts[1], "/".join(parts[2:])) if len(parts) in (2, 3) else None


async def canonical_names(conn: ReadConnection, edges: list[Edge]) -> list[Edge]:
    """SageMaker ARNs spell group names in lowercase: give the nodes resolved from
    them (``Edge.folded``) the catalogue's spelling, where it has the model."""
    wanted = {
        parts
        for e in edges
        for node in (e.source, e.target)
        if node.uri in e.folded and (parts := _model_parts(node))
    }
    if not wanted:
        return edges
    names = await store.canonical_model_names(conn, {(r, n.lower()) for r, n, _ in wanted})

    def fix(node: LineageNode, folded: frozenset[str]) -> LineageNode:
        parts = _model_parts(node) if node.uri in folded else None
        if parts is None:
            return node
        registry, name, version = parts
        real = names.get((registry, name.lower()))
        if not real or real == name:
            return node
        uri = f"mg://{registry}/{real}" + (f"/{version}" if version else "")
        return replace(node, uri=uri, label=f"{real} v{version}" if version else real)

    return [
        replace(e, source=fix(e.source, e.folded), target=fix(e.target, e.folded), folded=frozenset())
        if e.folded
        else e
        for e in edges
    ]


class LineageHarvester:
    """Keeps ``lineage_edges``/``lineage_artifacts`` current as the index changes."""

    # Edges come from run details (datasets, code): harvested once they are in.
    reads_details = True

    def __init__(self, resolver: ReferenceResolver):
        self.resolver = resolver

    async def model_indexed(
        self,
        conn: AsyncConnection,
        model: Model,
        before: Mapping[str, ModelVersion],
        after: Sequence[ModelVersion],
    ) -> None:
        current = {v.uri for v in after}
        changed = [v for v in after if before.get(v.uri) != v]
        removed = [uri for uri in before if uri not in current]
        if changed or removed:
            # A model new to the index has nothing stored yet (models_removed cleaned up
            # after any earlier model of that name): skip the deletes, half the statements.
            await self.harvest(conn, changed, also_remove=removed, fresh=not before)
        if not before and self._case_insensitive(model.registry_id) and model.name != model.name.lower():
            # Edges written before this model was indexed named it as its ARN spells it.
            await store.recase_targets(conn, model.registry_id, model.name, [v.version for v in after])

    async def models_indexed(
        self,
        conn: AsyncConnection,
        changes: Sequence[tuple[Model, Mapping[str, ModelVersion], Sequence[ModelVersion]]],
        records: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """A whole indexing batch in one harvest: a few set-based statements per batch
        (``records``, the stored codec records, are not needed here)."""
        fresh: list[ModelVersion] = []
        known: list[ModelVersion] = []
        removed: list[str] = []
        for _model, before, after in changes:
            current = {v.uri for v in after}
            (known if before else fresh).extend(v for v in after if before.get(v.uri) != v)
            removed += [uri for uri in before if uri not in current]
        if fresh:
            await self.harvest(conn, fresh, fresh=True)
        if known or removed:
            await self.harvest(conn, known, also_remove=removed)
        for model, before, after in changes:
            if not before and self._case_insensitive(model.registry_id) and model.name != model.name.lower():
                await store.recase_targets(conn, model.registry_id, model.name, [v.version for v in after])

    async def models_removed(self, conn: AsyncConnection, model_uris: Sequence[str]) -> None:
        await store.remove_models(conn, model_uris)

    async def harvest(
        self,
        conn: AsyncConnection,
        versions: Sequence[ModelVersion],
        *,
        also_remove: Sequence[str] = (),
        fresh: bool = False,
    ) -> None:
        """Replace the stored edges of ``versions`` (and drop those of ``also_remove``);
        ``fresh``: nothing is stored for them yet."""
        edges = [e for v in versions for e in harvest_edges(v, self.resolver)]
        edges = await canonical_names(conn, edges)
        artifacts = [row for v in versions for row in artifact_rows(v, self.resolver.relative_schemes)]
        origins = [] if fresh else [*(v.uri for v in versions), *also_remove]
        await store.replace_versions(conn, origins, edges, artifacts)

    def _case_insensitive(self, registry_id: str | None) -> bool:
        return self.resolver.folds_case(registry_id)

    # --- rebuild -----------------------------------------------------------------

    def fingerprint(self) -> str:
        return f"{HARVEST_REVISION}#{self.resolver.fingerprint()}"

    async def is_current(self, db: Database) -> bool:
        """Were the stored edges made with the registries and harvest configured now?"""
        async with db.read() as conn:
            stored = (
                await conn.execute(
                    select(lineage_state.c.value).where(lineage_state.c.key == FINGERPRINT_KEY)
                )
            ).scalar()
        return bool(stored == self.fingerprint())

    async def ensure_current(self, db: Database, progress: UpkeepProgress | None = None) -> int | None:
        """Re-harvest every indexed version when the registries that references
        resolve against (or the harvest itself) changed since the stored edges were
        made, e.g. on the first start after an upgrade. Returns how many versions
        were harvested, or None when nothing had to be done. ``progress`` counts
        the versions harvested."""
        wanted = self.fingerprint()
        if await self.is_current(db):
            return None
        count = await self.rebuild(db, progress=progress)
        async with db.write() as conn:  # recorded only once the rebuild is done: a crash redoes it
            await upsert(
                conn,
                lineage_state,
                [{"key": FINGERPRINT_KEY, "value": wanted, "updated_at": utcnow()}],
                key=["key"],
            )
        return count

    async def rebuild(
        self, db: Database, *, batch: int = REBUILD_BATCH, progress: UpkeepProgress | None = None
    ) -> int:
        """Harvest every indexed version again, ``batch`` versions per transaction
        (keyset-paged by id: each batch an index range scan)."""
        async with db.write() as conn:
            if conn.dialect.name == "postgresql":  # no scan of a million rows to empty them
                await conn.execute(text("TRUNCATE lineage_edges, lineage_artifacts"))
            else:
                await conn.execute(delete(lineage_edges))
                await conn.execute(delete(lineage_artifacts))
            if progress is not None:
                progress.begin(await estimated_rows(conn, cv.name))
        last_id, total = 0, 0
        while True:
            async with db.write() as conn:
                rows = (
                    await conn.execute(
                        select(cv.c.id, cv.c.record).where(cv.c.id > last_id).order_by(cv.c.id).limit(batch)
                    )
                ).all()
                if not rows:
                    break
                versions = [version_from_dict(r.record) for r in rows]
                await self.harvest(conn, versions)
            last_id, total = rows[-1].id, total + len(rows)
            if progress is not None:
                progress.advance(len(rows))
        if total:
            log.info("lineage: harvested %d indexed versions again", total)
        return total
