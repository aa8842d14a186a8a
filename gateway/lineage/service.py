"""The lineage feature as the rest of the gateway sees it: harvesting wired to
the index, reference resolution, walks, impact analysis and OpenLineage export.
GraphQL resolvers, the HTTP export and the CLI call this and nothing below it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.protocol import AdapterFactory, RegistryAdapter
from gateway.auth.access import AccessPolicy
from gateway.catalogue.cache import AsyncCache
from gateway.catalogue.index import CatalogueIndex
from gateway.config import Settings
from gateway.domain import URI_SCHEME, DatasetRef, ModelVersion, Relation, parse_uri
from gateway.errors import BadInput, NotFound
from gateway.lineage import openlineage, store
from gateway.lineage.graph import INPUT_RELATIONS, MAX_NODES, Graph, node_for_uri
from gateway.lineage.harvest import LineageHarvester, harvest_edges
from gateway.lineage.remote import RegistryLineage, Report
from gateway.lineage.uris import ReferenceResolver, normalize_dataset_uri
from gateway.lineage.visibility import concealed, redact
from gateway.lineage.walk import (
    MAX_DEPTH,
    MAX_IMPACT_DEPTH,
    SAME,
    Direction,
    ExtraEdges,
    ImpactResult,
    impact,
    is_version_uri,
    walk,
)
from gateway.store.database import Database
from gateway.upkeep import UpkeepProgress

log = logging.getLogger(__name__)

MAX_NODES_LIMIT = 5000
MAX_IMPACT_LIMIT = 10_000
IMPACT_MAX_NODES = 100_000
DATASET_RELATIONS = frozenset({Relation.TRAINED_ON, Relation.VALIDATED_ON})


def absent(root: str) -> NotFound:
    """The answer for a node that is not in the graph, and for one the caller may
    not see: the two must read the same, or NOT_FOUND becomes an existence oracle."""
    if is_version_uri(root):
        return NotFound(f"no version {root} in the catalogue", field="uri")
    return NotFound(f"no lineage node {root} (in any spelling)", field="uri")


def check_range(value: int, low: int, high: int, field: str) -> int:
    if not low <= value <= high:
        raise BadInput(f"{field} must be between {low} and {high}, got {value}", field=field)
    return value


class LineageService:
    def __init__(
        self,
        database: Database,
        index: CatalogueIndex,
        adapters: Mapping[str, RegistryAdapter],
        cache: AsyncCache,
        settings: Settings,
        *,
        factories: Mapping[str, AdapterFactory] | None = None,
        deadline_seconds: float = 3.0,
        max_registry_versions: int = 25,
    ):
        self.db = database
        self.index = index
        self.settings = settings
        self.resolver = ReferenceResolver(settings.registries, factories)
        self.harvester = LineageHarvester(self.resolver)
        self.remote = RegistryLineage(
            database,
            index,
            adapters,
            cache,
            self.resolver,
            deadline_seconds=deadline_seconds,
            max_versions=max_registry_versions,
        )

    def attach(self) -> None:
        """Harvest inside every indexing transaction from now on."""
        if self.harvester not in self.index.listeners:
            self.index.listeners.append(self.harvester)

    async def start(self, progress: UpkeepProgress | None = None) -> None:
        """Re-harvest the index if the configured registries (which references
        resolve against) changed since the stored edges were made (a server does
        this in the background: ``gateway.upkeep``)."""
        count = await self.harvester.ensure_current(self.db, progress)
        if count is not None:
            log.info("lineage: stored edges rebuilt for %d versions", count)

    async def aclose(self) -> None:
        await self.remote.drain()

    # --- naming ----------------------------------------------------------------

    async def resolve(self, ref: str, *, context_registry: str | None = None) -> str | None:
        """The ``mg://`` URI a model reference names (in the catalogue's spelling),
        or None when no configured registry owns it."""
        resolved = self.resolver.resolve(ref, context_registry=context_registry)
        return await self._spelled(resolved.uri) if resolved else None

    async def parent_reference(self, ref: str, registry_id: str) -> str:
        """What a new version of ``registry_id`` records as its parent: the owning
        registry's ``mg://`` URI when a configured registry owns the reference,
        else the reference as given (an external parent). Text that is no model
        reference at all is bad input."""
        text = ref.strip()
        if text.startswith(URI_SCHEME):
            try:
                parse_uri(text)
            except ValueError as exc:
                raise BadInput(str(exc), field="parent") from None
        elif not self.resolver.is_reference(text):
            kinds = ", ".join(sorted(self.resolver.parsers)) or "none installed"
            raise BadInput(
                f"parent {ref!r} is not a modelgate URI (mg://<registry>/<model>/<version>) nor a "
                f"registry reference an installed registry kind recognises as its own ({kinds})",
                field="parent",
            )
        return await self.resolve(text, context_registry=registry_id) or text

    async def _spelled(self, uri: str) -> str:
        parsed = parse_uri(uri)
        if not self.resolver.folds_case(parsed.registry_id):
            return uri
        async with self.db.read() as conn:
            names = await store.canonical_model_names(conn, {(parsed.registry_id, parsed.model_name.lower())})
        real = names.get((parsed.registry_id, parsed.model_name.lower()))
        if not real:
            return uri
        return f"{URI_SCHEME}{parsed.registry_id}/{real}" + (f"/{parsed.version}" if parsed.version else "")

    async def canonical(self, uri: str) -> str:
        """The graph's URI for what a caller names: an ``mg://`` URI as is, a
        registry reference resolved, a dataset URI normalised (unless only its
        given spelling is in the graph, e.g. an ``https`` URL stored verbatim)."""
        text = uri.strip()
        if not text:
            raise BadInput("uri must not be empty", field="uri")
        if text.startswith(URI_SCHEME):
            try:
                parse_uri(text)
            except ValueError as exc:
                raise BadInput(str(exc), field="uri") from None
            return await self._spelled(text)
        if self.resolver.is_reference(text):
            if resolved := await self.resolve(text):
                return resolved
            if (external := self.resolver.external(text)) != text:
                return external
        normalized = normalize_dataset_uri(text)
        if normalized == text:
            return text
        async with self.db.read() as conn:
            known = await store.known_uris(conn, [normalized, text])
        return text if text in known and normalized not in known else normalized

    # --- walks -----------------------------------------------------------------

    async def _graph(
        self,
        uri: str,
        direction: Direction = Direction.BOTH,
        depth: int = 3,
        *,
        max_nodes: int = MAX_NODES,
        version: ModelVersion | None = None,
        registry_lineage: bool = True,
        report: Report | None = None,
        access: AccessPolicy | None = None,
    ) -> Graph:
        """The lineage graph around a node. ``version`` is the root's record when
        the caller has it (its edges count even before it is indexed);
        ``registry_lineage`` merges what the registries' lineage APIs know about the
        versions visited (bounded; failures go to ``report``). A root ``access``
        may not see is answered as if absent, before any walk or registry call.
        The graph is not redacted: ``visible_graph`` is, and it is the only way
        out (GraphQL, the evidence pack, the CLI), so no answer skips the gate."""
        check_range(depth, 0, MAX_DEPTH, "depth")
        check_range(max_nodes, 1, MAX_NODES_LIMIT, "maxNodes")
        root = version.uri if version is not None else await self.canonical(uri)
        if access is not None and await access.hidden_uris(self.index, [root]):
            raise absent(root)
        root_node = node_for_uri(root)
        if version is None:
            async with self.db.read() as conn:
                known = await store.known_uris(conn, [root])
                if root in known:
                    root_node = await store.describe(conn, root)
            if root not in known:
                raise absent(root)
            if access is not None and not root.startswith(URI_SCHEME):
                await self._check_seen(root, access)
        seed = harvest_edges(version, self.resolver) if version is not None else []
        extra: ExtraEdges | None = None
        if registry_lineage:
            budget = self.remote.budget()

            async def extra_edges(uris: Sequence[str]) -> list[Any]:
                return await self.remote.edges(uris, budget, report)

            extra = extra_edges
        return await walk(self.db, root_node, direction, depth, max_nodes=max_nodes, seed=seed, extra=extra)

    async def _check_seen(self, root: str, access: AccessPolicy) -> None:
        """A dataset, run, commit or endpoint only hidden versions name exists, for
        the caller, no more than an unknown one does: its neighbours decide."""
        if access.sees_everything:
            return
        every = frozenset(Relation)
        async with self.db.read() as conn:
            edges = await store.hop(conn, [root], every, every)
        neighbours = {u for e in edges for u in (e.source.uri, e.target.uri)} - {root}
        if neighbours and neighbours <= await access.hidden_uris(self.index, neighbours):
            raise absent(root)

    async def visible_graph(
        self,
        uri: str,
        access: AccessPolicy,
        direction: Direction = Direction.BOTH,
        depth: int = 3,
        *,
        max_nodes: int = MAX_NODES,
        version: ModelVersion | None = None,
        registry_lineage: bool = True,
        report: Report | None = None,
    ) -> Graph:
        """``graph`` as ``access`` may see it (``gateway.lineage.visibility``)."""
        graph = await self._graph(
            uri,
            direction,
            depth,
            max_nodes=max_nodes,
            version=version,
            registry_lineage=registry_lineage,
            report=report,
            access=access,
        )
        root = next(iter(graph.nodes))  # a walk adds its root first
        hidden = await access.hidden_uris(self.index, graph.nodes)
        links = [(s, t) for s, t, _ in graph.edges]
        return redact(graph, concealed(root, graph.nodes, links, hidden))

    async def impact(
        self,
        uri: str,
        *,
        depth: int = MAX_DEPTH,
        limit: int = 1000,
        max_nodes: int = IMPACT_MAX_NODES,
        access: AccessPolicy | None = None,
    ) -> ImpactResult:
        """Every version downstream of a dataset, code, a model or a version (any
        spelling), transitively through fine-tuning and SAME_AS, with paths. Answered
        from the store: registry lineage counts once a walk has fetched it. With
        ``access``, a hidden root answers as an absent one does (nothing downstream)
        and ``nodes_visited`` counts only the nodes the caller could be shown."""
        check_range(depth, 1, MAX_IMPACT_DEPTH, "depth")
        check_range(limit, 1, MAX_IMPACT_LIMIT, "limit")
        root = await self.canonical(uri)
        if access is not None and await access.hidden_uris(self.index, [root]):
            return ImpactResult(root, nodes_visited=1)  # what an unknown node gets
        starts: list[str] = []
        if root.startswith(URI_SCHEME) and parse_uri(root).version is None:
            async with self.db.read() as conn:
                starts = await store.model_versions(conn, root)
        result = await impact(self.db, root, starts=starts, depth=depth, limit=limit, max_nodes=max_nodes)
        if access is not None and not access.sees_everything:
            hidden = await access.hidden_uris(self.index, result.visited)
            links = [(child, step[0]) for child, step in result.visited.items() if step is not None]
            result.nodes_visited -= len(concealed(root, result.visited, links, hidden))
        return result

    # --- datasets ---------------------------------------------------------------

    async def datasets_of(
        self,
        versions: Sequence[ModelVersion],
        access: AccessPolicy | None,
        *,
        registry_lineage: bool = True,
        report: Report | None = None,
    ) -> dict[str, tuple[DatasetRef, ...]]:
        """The datasets lineage says each version was trained (TRAINED_ON) or validated
        (VALIDATED_ON) on: the stored edges, and for a version none are stored for,
        its registry's lineage API within a walk's budget (SageMaker and Vertex keep
        datasets only there). Through the lineage gate (``visibility.concealed``): a
        version ``access`` may not see has none, and a node its answer would redact is
        left out. Roles are ``training`` and ``validation``; lineage knows no digest."""
        uris = [v.uri for v in versions]
        if not uris:
            return {}
        async with self.db.read() as conn:
            edges = await store.hop(conn, uris, DATASET_RELATIONS, frozenset())
        stored = {e.source.uri for e in edges}
        asked = [u for u in uris if u not in stored]
        if registry_lineage and asked:
            fetched = await self.remote.edges(asked, self.remote.budget(), report)
            edges += [e for e in fetched if e.relation in DATASET_RELATIONS]
        by_version: dict[str, dict[str, DatasetRef]] = {u: {} for u in uris}
        for e in edges:
            found = by_version.get(e.source.uri)
            if found is not None and e.target.uri not in found:
                role = "training" if e.relation is Relation.TRAINED_ON else "validation"
                found[e.target.uri] = DatasetRef(e.target.uri, e.target.label, None, role)
        if access is not None and not access.sees_everything:
            hidden = await access.hidden_uris(
                self.index, [*uris, *(t for d in by_version.values() for t in d)]
            )
            for uri, found in by_version.items():
                secret = concealed(uri, found, [(uri, t) for t in found], hidden)
                by_version[uri] = {} if uri in secret else {t: d for t, d in found.items() if t not in secret}
        return {uri: tuple(found.values()) for uri, found in by_version.items()}

    # --- export ----------------------------------------------------------------

    async def openlineage_events(
        self,
        uri: str,
        direction: Direction = Direction.BOTH,
        depth: int = 3,
        *,
        max_nodes: int = MAX_NODES,
        registry_lineage: bool = True,
        report: Report | None = None,
        access: AccessPolicy | None = None,
    ) -> list[dict[str, Any]]:
        """OpenLineage RunEvents for every version in the lineage graph around
        ``uri``; each event carries all of its version's inputs, not only those
        inside the walk's depth. Versions ``visibility`` hides get no event and
        appear only as redacted placeholders."""
        graph = await self._graph(
            uri,
            direction,
            depth,
            max_nodes=max_nodes,
            registry_lineage=registry_lineage,
            report=report,
            access=access,
        )
        versions = [u for u in graph.nodes if is_version_uri(u)]
        root = await self.canonical(uri)
        if root.startswith(URI_SCHEME) and not is_version_uri(root):
            # A model is the runs of its versions: export each, with its own inputs.
            async with self.db.read() as conn:
                versions = list(dict.fromkeys([*await store.model_versions(conn, root), *versions]))
        records = await self.index.get_versions(versions) if versions else {}
        async with self.db.read() as conn:
            own = await store.hop(conn, versions, INPUT_RELATIONS | SAME, SAME)
        edges = [*graph.edges.values(), *own]
        mentioned = {u for e in edges for u in (e.source.uri, e.target.uri)}
        hidden = await access.hidden_uris(self.index, mentioned | set(versions)) if access else set()
        root = next(iter(graph.nodes))  # a walk adds its root first
        links = [(e.source.uri, e.target.uri) for e in edges]
        return openlineage.events(versions, records, edges, concealed(root, mentioned, links, hidden))
