"""A registry's own lineage (``adapter.lineage``), merged into walks at query time.

Sync never asks for it: it costs one or more registry calls per version (MLflow
``runs/get`` and LoggedModel reads, SageMaker ListArtifacts/QueryLineage/
ListAssociations, Vertex ``queryArtifactLineageSubgraph``). Instead a walk asks
for the versions it visits, at most ``max_versions`` per request:

* through the gateway's cache (key ``lineage:<version uri>``: TTL, coalescing,
  stale-if-error), grouped per registry, within ``deadline`` seconds;
* a registry that fails or is slow is reported like the catalogue reports it
  (``REGISTRY_UNAVAILABLE`` in GraphQL ``errors``) and the walk goes on with
  the stored graph;
* what a registry said is also written to the store (evidence ``registry``) in
  the background, so later ``impact`` queries, which walk the store only, see
  it too ("harvest on demand"). A version's registry edges are dropped when
  the version changes and fetched again when next asked for.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.protocol import RegistryAdapter
from gateway.catalogue.cache import AsyncCache
from gateway.catalogue.index import CatalogueIndex
from gateway.domain import LineageEdge, LineageNode, ModelVersion, Relation, parse_uri
from gateway.errors import GatewayError, RegistryError, RegistryUnavailable
from gateway.lineage import store
from gateway.lineage.graph import Edge
from gateway.lineage.harvest import canonical_names, harvest_edges
from gateway.lineage.uris import ReferenceResolver, normalize_dataset_uri
from gateway.store.database import Database

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_SECONDS = 3.0
DEFAULT_MAX_VERSIONS = 25
CONCURRENCY = 4  # lineage calls in flight per registry
DATA_KINDS = frozenset({"dataset", "artifact"})
MODEL_KINDS = frozenset({"model_version", "model"})
Report = Callable[[RegistryError], object]  # what it returns is ignored


def _node_to_list(node: LineageNode) -> list[Any]:
    return [node.uri, node.kind, node.label, node.registry]


def edge_to_dict(edge: Edge) -> dict[str, Any]:
    return {
        "s": _node_to_list(edge.source),
        "t": _node_to_list(edge.target),
        "r": edge.relation.value,
        "o": edge.origin,
    }


def edge_from_dict(d: Mapping[str, Any]) -> Edge:
    return Edge(LineageNode(*d["s"]), LineageNode(*d["t"]), Relation(d["r"]), "registry", d.get("o"))


@dataclass
class Budget:
    """How many more versions one request may ask registries about."""

    remaining: int


class RegistryLineage:
    def __init__(
        self,
        database: Database,
        index: CatalogueIndex,
        adapters: Mapping[str, RegistryAdapter],
        cache: AsyncCache,
        resolver: ReferenceResolver,
        *,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        max_versions: int = DEFAULT_MAX_VERSIONS,
    ):
        self.db = database
        self.index = index
        self.adapters = adapters
        self.cache = cache
        self.resolver = resolver
        self.deadline = deadline_seconds
        self.max_versions = max_versions
        self._writes: set[asyncio.Task[None]] = set()

    def budget(self) -> Budget:
        return Budget(self.max_versions)

    async def edges(self, uris: Sequence[str], budget: Budget, report: Report | None) -> list[Edge]:
        """Registry lineage of these versions (as many as the budget allows),
        normalised and resolved like harvested edges."""
        wanted = [u for u in dict.fromkeys(uris) if _registry_of(u) in self.adapters]
        wanted = wanted[: max(budget.remaining, 0)]
        budget.remaining -= len(wanted)
        by_registry: dict[str, list[str]] = defaultdict(list)
        for uri in wanted:
            by_registry[parse_uri(uri).registry_id].append(uri)
        parts = await asyncio.gather(*(self._registry(rid, batch) for rid, batch in by_registry.items()))
        out: list[Edge] = []
        for edges, error in parts:
            out += edges
            if error is not None and report is not None:
                report(error)
        return out

    async def _registry(self, registry_id: str, uris: list[str]) -> tuple[list[Edge], RegistryError | None]:
        adapter = self.adapters[registry_id]

        async def load(keys: list[str]) -> dict[str, Any]:
            versions = await self.index.get_versions([k.removeprefix("lineage:") for k in keys])
            found = await asyncio.wait_for(self._read(adapter, list(versions.values())), self.deadline)
            self._persist_later(versions, found)
            return {f"lineage:{uri}": [edge_to_dict(e) for e in edges] for uri, edges in found.items()}

        keys = [f"lineage:{u}" for u in uris]
        try:
            cached = await asyncio.wait_for(self.cache.get_many(keys, load), self.deadline + 0.5)
        except TimeoutError:
            return [], RegistryUnavailable(registry_id, f"no lineage answer within {self.deadline:.1f}s")
        edges: list[Edge] = []
        error: RegistryError | None = None
        for key in keys:
            entry = cached[key]
            if entry.error is not None and error is None:
                error = _registry_error(registry_id, entry.error, self.deadline)
            edges += [edge_from_dict(d) for d in entry.value or ()]
        return edges, error

    async def _read(self, adapter: RegistryAdapter, versions: list[ModelVersion]) -> dict[str, list[Edge]]:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(version: ModelVersion) -> list[LineageEdge]:
            async with limit:
                return await adapter.lineage(version)

        answers = await asyncio.gather(*(one(v) for v in versions), return_exceptions=True)
        failures = [a for a in answers if isinstance(a, BaseException)]
        if failures:  # nothing cached: stale-if-error keeps serving the last good answer
            raise failures[0]
        found: dict[str, list[Edge]] = {}
        async with self.db.read() as conn:
            for version, edges in zip(versions, answers, strict=True):
                assert not isinstance(edges, BaseException)
                converted = [self.convert(e, version) for e in edges]
                found[version.uri] = await canonical_names(conn, converted)
        return found

    def convert(self, edge: LineageEdge, version: ModelVersion) -> Edge:
        """An adapter's edge in the store's terms: datasets and artifacts normalised,
        model references resolved with the version's registry as context."""

        folded: set[str] = set()

        def node(n: LineageNode) -> LineageNode:
            if n.uri == version.uri:
                return n
            if n.kind in DATA_KINDS:
                return LineageNode(normalize_dataset_uri(n.uri), n.kind, n.label, n.registry)
            if n.kind in MODEL_KINDS:
                resolved = self.resolver.resolve(n.uri, context_registry=version.registry_id)
                if resolved is not None:
                    if resolved.case_insensitive:
                        folded.add(resolved.uri)
                    return LineageNode(
                        resolved.uri, resolved.kind, n.label or resolved.label, resolved.registry_id
                    )
            return n

        source, target = node(edge.source), node(edge.target)
        return Edge(source, target, edge.relation, "registry", version.uri, frozenset(folded))

    def _persist_later(self, versions: Mapping[str, ModelVersion], found: Mapping[str, list[Edge]]) -> None:
        async def write() -> None:
            try:
                async with self.db.write() as conn:
                    for uri, edges in found.items():
                        version = versions.get(uri)
                        known = {e.key for e in harvest_edges(version, self.resolver)} if version else set()
                        await store.replace_registry_edges(
                            conn, uri, [e for e in edges if e.key not in known]
                        )
            except Exception:  # an optimisation: the walk already has the edges
                log.warning("storing registry lineage of %d versions failed", len(found), exc_info=True)

        task = asyncio.create_task(write())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def drain(self) -> None:
        """Wait for background writes (tests, shutdown)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)


def _registry_of(uri: str) -> str | None:
    try:
        return parse_uri(uri).registry_id
    except ValueError:
        return None


def _registry_error(registry_id: str, exc: Exception, deadline: float) -> RegistryError:
    if isinstance(exc, RegistryError):
        return exc
    if isinstance(exc, TimeoutError):
        return RegistryUnavailable(registry_id, f"no lineage answer within {deadline:.1f}s")
    if isinstance(exc, GatewayError):
        return RegistryUnavailable(registry_id, exc.message)
    return RegistryUnavailable(registry_id, f"lineage read failed ({type(exc).__name__})")
