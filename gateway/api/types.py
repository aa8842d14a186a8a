"""GraphQL output types: thin views over domain objects.

Leaf fields are plain attributes copied once from the domain object (cheap to
resolve); relations are async resolvers that go through the request's
dataloaders.
"""

import base64
import binascii
import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from strawberry.types import Info

from adapters.base import MetricHistoryReader, source_url_of
from gateway.api.context import Context
from gateway.api.limits import max_page_size
from gateway.catalogue.index import FacetCount, SearchFilter, SearchPage, SortOrder
from gateway.catalogue.state import RegistryState
from gateway.config import RegistrySettings
from gateway.domain import Model, ModelVersion, RegistryKind, Stage
from gateway.errors import BadInput
from gateway.lineage.graph import Edge, Graph
from gateway.lineage.walk import Direction

StageEnum = strawberry.enum(Stage, name="Stage", description="The unified lifecycle stage.")
RegistryKindEnum = strawberry.enum(RegistryKind, name="RegistryKind")
RegistryStateEnum = strawberry.enum(
    RegistryState,
    name="RegistryState",
    description="SYNCING until its first full sync completes; UNAVAILABLE when its last call "
    "failed or timed out (or its last sync failed and nothing answered since); DEGRADED when it "
    "answers but its last sync failed or skipped models it could not read; else HEALTHY.",
)

MAX_PAGE_SIZE = 100  # the default of ``[graphql] max_page_size``


@strawberry.enum(description="Which way to follow lineage edges from a node.")
class LineageDirection(enum.Enum):
    UPSTREAM = "UPSTREAM"
    DOWNSTREAM = "DOWNSTREAM"
    BOTH = "BOTH"


DEFAULT_PAGE_SIZE = 20


def check_page_size(first: int | None) -> int:
    """``first`` of a catalogue connection, within ``[graphql] max_page_size``."""
    if first is None:
        return DEFAULT_PAGE_SIZE
    maximum = max_page_size.get()
    if first < 0 or first > maximum:
        raise BadInput(f"first must be between 0 and {maximum}, got {first}", field="first")
    return first


# --- global ids ------------------------------------------------------------------


def to_global_id(type_name: str, uri: str) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{uri}".encode()).decode())


def from_global_id(global_id: str) -> tuple[str, str]:
    try:
        type_name, _, uri = base64.urlsafe_b64decode(global_id.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadInput(f"invalid node id {global_id!r}", field="id") from None
    if not uri:
        raise BadInput(f"invalid node id {global_id!r}", field="id")
    return type_name, uri


@strawberry.interface(description="An object with a global ID (Relay).")
class Node:
    id: strawberry.ID


# --- small value types --------------------------------------------------------------


@strawberry.type
class Tag:
    key: str
    value: str


@strawberry.type
class Metric:
    key: str
    value: float


@strawberry.type(description="One logged value of a metric during training.")
class MetricPoint:
    step: int = strawberry.field(description="The training step (epoch, iteration) the value was logged at.")
    value: float = strawberry.field(description="The metric's value at that step.")
    at: datetime | None = strawberry.field(description="When it was logged (UTC), if the registry says.")


@strawberry.type(description="How one metric moved during training, in step order.")
class MetricSeries:
    key: str = strawberry.field(description="The metric's name, as in `ModelVersion.metrics`.")
    points: list[MetricPoint] = strawberry.field(
        description="The logged values, oldest step first; at most the latest `limit`."
    )


@strawberry.type
class Param:
    key: str
    value: str


@strawberry.type
class DatasetRef:
    uri: str
    name: str | None
    digest: str | None
    role: str | None = strawberry.field(description="training | validation | evaluation | ...")


@strawberry.type
class Deployment:
    endpoint: str
    traffic_percent: float | None
    updated_at: datetime | None


@strawberry.type
class CodeRef:
    repository: str | None
    commit: str | None
    path: str | None = strawberry.field(default=None, description="The entry point inside the repository.")


@strawberry.type
class ModelCard:
    summary: str | None = None
    intended_use: str | None = None
    limitations: str | None = None
    training_data_summary: str | None = None
    evaluation: str | None = None
    bias_assessment: str | None = None
    warnings: str | None = None


@strawberry.type
class Approval:
    principal: str
    role: str
    comment: str | None
    at: datetime


@strawberry.type
class Review:
    principal: str
    comment: str
    at: datetime


@strawberry.type
class PolicyViolation:
    policy: str
    severity: str
    message: str


@strawberry.type
class Compliance:
    compliant: bool
    violations: list[PolicyViolation]


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Facet:
    value: str
    count: int


@strawberry.type
class Facets:
    registry: list[Facet]
    team: list[Facet]
    stage: list[Facet]
    framework: list[Facet]
    compliance: list[Facet] = strawberry.field(description="Values: compliant, noncompliant.")
    tag: list[Facet] = strawberry.field(description="The most frequent tags, as key=value.")
    conflicts: list[Facet] = strawberry.field(
        description="Results whose registry states something impossible. Values: multipleProduction "
        "(models with more than one PRODUCTION version; for versions, those versions). "
        "A value with no results is left out."
    )


def _tags(tags: Any) -> list[Tag]:
    return [Tag(key=k, value=str(v)) for k, v in sorted(tags.items())]


def _facets(facets: dict[str, list[FacetCount]]) -> Facets:
    def conv(name: str) -> list[Facet]:
        return [Facet(value=f.value, count=f.count) for f in facets.get(name, [])]

    return Facets(
        registry=conv("registry"),
        team=conv("team"),
        stage=conv("stage"),
        framework=conv("framework"),
        compliance=conv("compliance"),
        tag=conv("tag"),
        conflicts=conv("conflicts"),
    )


def _selected(info: Info[Context, None], nodes: Iterable[Any] | None = None) -> dict[str, list[FieldNode]]:
    """The fields selected directly under the current field (or under ``nodes``),
    by name, looking through named and inline fragments. Read from graphql-core's
    AST: strawberry's ``selected_fields`` converts the whole subtree on every call."""
    raw = info._raw_info
    found: dict[str, list[FieldNode]] = {}

    def visit(selection_set: SelectionSetNode | None) -> None:
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                found.setdefault(sel.name.value, []).append(sel)
            elif isinstance(sel, InlineFragmentNode):
                visit(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in raw.fragments:
                visit(raw.fragments[sel.name.value].selection_set)

    for node in raw.field_nodes if nodes is None else nodes:
        visit(node.selection_set)
    return found


def wants(info: Info[Context, None], name: str) -> bool:
    """Whether the client selected this field of the current field's result
    (totals and facets cost queries: skip them when nobody asked)."""
    return name in _selected(info)


def wanted_facets(info: Info[Context, None]) -> frozenset[str]:
    """The facet lists the client selected under ``facets``."""
    facets = _selected(info).get("facets")
    return frozenset(_selected(info, facets)) if facets else frozenset()


SortOrderEnum = strawberry.enum(
    SortOrder, name="SortOrder", description="RELEVANCE applies when a query is given."
)


def page_info(cursors: list[str], has_next: bool, after: str | None) -> PageInfo:
    """Relay's PageInfo for a keyset page (``after`` given: there were earlier rows)."""
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


# --- lineage ----------------------------------------------------------------------


@strawberry.type
class LineageNode:
    uri: str
    kind: str
    label: str | None
    registry: str | None


@strawberry.type(name="LineageEdge")
class LineageEdgeType:
    source: str
    target: str
    relation: str
    evidence: str | None = strawberry.field(
        default=None,
        description="How the edge is known: record (the version's own fields), tag:<key> (a declared "
        "reference), registry (the registry's lineage API) or artifact (same artifact URI or digest).",
    )


@strawberry.type
class LineageGraph:
    nodes: list[LineageNode]
    edges: list[LineageEdgeType]
    truncated: bool = strawberry.field(
        default=False, description="True when the node limit cut the walk short."
    )

    @staticmethod
    def from_graph(graph: Graph) -> "LineageGraph":
        return LineageGraph(
            nodes=[
                LineageNode(uri=n.uri, kind=n.kind, label=n.label, registry=n.registry)
                for n in graph.nodes.values()
            ],
            edges=[_edge(e) for e in graph.edges.values()],
            truncated=graph.truncated,
        )


def _edge(e: Edge) -> LineageEdgeType:
    return LineageEdgeType(
        source=e.source.uri, target=e.target.uri, relation=e.relation.value, evidence=e.evidence
    )


async def lineage_of(
    info: Info[Context, None],
    root: ModelVersion | str,
    direction: "LineageDirection | None",
    depth: int | None,
    *,
    max_nodes: int | None = None,
    registry_lineage: bool | None = True,
) -> LineageGraph:
    """The lineage graph around a version (its record) or any node URI, redacted
    for the caller (``gateway.lineage.visibility``); registry failures are
    reported next to the data. Every lineage answer must come through here."""
    version = root if isinstance(root, ModelVersion) else None
    graph = await info.context.gateway.lineage.visible_graph(
        version.uri if version else str(root),
        info.context.access,
        Direction((direction or LineageDirection.BOTH).value),
        3 if depth is None else depth,
        max_nodes=500 if max_nodes is None else max_nodes,
        version=version,
        registry_lineage=registry_lineage is not False,
        report=info.context.report,
    )
    return LineageGraph.from_graph(graph)


# --- registries, models, versions --------------------------------------------------------


@strawberry.type
class Registry:
    id: str
    kind: RegistryKind
    kind_name: str = strawberry.field(
        description="The registry's kind as configured, verbatim (a plugin's own name when kind is OTHER)."
    )
    team: str | None
    breaker_state: str | None = strawberry.field(
        default=None,
        description="The registry's circuit breaker: closed (calls flow), open (calls fail fast "
        "while it recovers) or half_open (one trial call).",
    )

    # Health comes from a tiny, memoised read; counts need a grouped scan of the
    # index, so they are read only when a client asks for them.
    @strawberry.field(description='The registry\'s state (API.md "Registry state").')
    async def state(self, info: Info[Context, None]) -> RegistryStateEnum:  # type: ignore[valid-type]
        report = (await info.context.registry_states()).get(self.id)
        # Not configured any more (its models stay indexed): nothing can call it.
        return report.state if report is not None else RegistryState.UNAVAILABLE

    @strawberry.field(description="True only when state is HEALTHY.")
    async def healthy(self, info: Info[Context, None]) -> bool:
        report = (await info.context.registry_states()).get(self.id)
        return report is not None and report.state is RegistryState.HEALTHY

    @strawberry.field
    async def synced_at(self, info: Info[Context, None]) -> datetime | None:
        state = (await info.context.gateway.index.registry_health()).get(self.id)
        return state.synced_at if state else None

    @strawberry.field
    async def last_error(self, info: Info[Context, None]) -> str | None:
        state = (await info.context.gateway.index.registry_health()).get(self.id)
        return state.last_error if state else None

    # A count of a registry that is down or never finished syncing may be short: say so.
    @strawberry.field
    async def model_count(self, info: Info[Context, None]) -> int:
        stats = (await info.context.registry_stats()).get(self.id)
        await info.context.note_index_answer([self.id])
        return stats.models if stats else 0

    @strawberry.field
    async def version_count(self, info: Info[Context, None]) -> int:
        stats = (await info.context.registry_stats()).get(self.id)
        await info.context.note_index_answer([self.id])
        return stats.versions if stats else 0


async def registry_view(info: Info[Context, None], settings: RegistrySettings) -> Registry:
    breaker = getattr(info.context.gateway.adapters.get(settings.id), "breaker", None)
    return Registry(
        id=settings.id,
        kind=RegistryKind.of(settings.kind),
        kind_name=settings.kind,
        team=settings.team,
        breaker_state=breaker.state.value if breaker is not None else None,
    )


MAX_HISTORY_POINTS = 10_000
MAX_HISTORY_KEYS = 50
SOURCE_URL_HELP = (
    "Where to open this in its source registry's own UI: MLflow's model page, the SageMaker, "
    "Vertex AI or Azure ML console, the Git repository of a GTO registry. Null when the "
    "registry has no page modelgate can name (the native registry, a local emulator)."
)


@strawberry.type(name="Model")
class ModelType(Node):
    uri: str
    name: str
    description: str | None
    team: str | None
    tags: list[Tag]
    created_at: datetime | None
    updated_at: datetime | None
    registry_id: strawberry.Private[str]

    @staticmethod
    def from_domain(m: Model) -> "ModelType":
        return ModelType(
            id=to_global_id("Model", m.uri),
            uri=m.uri,
            name=m.name,
            description=m.description,
            team=m.team,
            tags=_tags(m.tags),
            created_at=m.created_at,
            updated_at=m.updated_at,
            registry_id=m.registry_id,
        )

    @strawberry.field(description=SOURCE_URL_HELP)
    def source_url(self, info: Info[Context, None]) -> str | None:
        return source_url_of(info.context.gateway.adapters.get(self.registry_id), self.name)

    @strawberry.field
    async def registry(self, info: Info[Context, None]) -> Registry:
        settings = info.context.gateway.settings.registry(self.registry_id)
        if settings is None:  # indexed before the registry was removed from config
            settings = RegistrySettings(id=self.registry_id, kind="native")
        return await registry_view(info, settings)

    @strawberry.field
    async def latest_version(self, info: Info[Context, None]) -> "ModelVersionType | None":
        v = await info.context.latest_versions.load(self.uri)
        if v is None:
            return None
        (v,) = await info.context.complete([v])
        return ModelVersionType.from_domain(v)

    @strawberry.field
    async def versions(
        self,
        info: Info[Context, None],
        stage: StageEnum | None = None,  # type: ignore[valid-type]
        first: int | None = 20,
        after: str | None = None,
    ) -> "ModelVersionConnection":
        f = SearchFilter(stages=(Stage(stage),) if stage else ())
        page = await info.context.gateway.index.search_versions(
            None,
            f,
            check_page_size(first),
            after,
            model_uri=self.uri,
            facets=wanted_facets(info),
            want_total=wants(info, "totalCount"),
            visibility=info.context.visibility,
        )
        page.items = await info.context.complete(page.items)
        return ModelVersionConnection.from_page(page, after)


@strawberry.type(name="ModelVersion")
class ModelVersionType(Node):
    uri: str
    version: str
    semver: str | None
    stage: StageEnum  # type: ignore[valid-type]
    native_stage: str | None
    aliases: list[str]
    description: str | None
    artifact_uri: str | None
    artifact_digest: str | None
    training_data: list[DatasetRef]
    hyperparameters: list[Param]
    metrics: list[Metric]
    training_code: str | None
    training_code_ref: CodeRef | None
    environment: str | None
    preprocessing: str | None
    deployments: list[Deployment]
    tags: list[Tag]
    team: str | None
    created_by: str | None
    created_at: datetime | None
    updated_at: datetime | None
    model_card: ModelCard | None
    reviews: list[Review]
    _version: strawberry.Private[ModelVersion]

    @staticmethod
    def from_domain(v: ModelVersion) -> "ModelVersionType":
        card = v.model_card
        return ModelVersionType(
            id=to_global_id("ModelVersion", v.uri),
            uri=v.uri,
            version=v.version,
            semver=v.semver,
            stage=v.stage,
            native_stage=v.native_stage,
            aliases=list(v.aliases),
            description=v.description,
            artifact_uri=v.artifact_uri,
            artifact_digest=v.artifact_digest,
            training_data=[
                DatasetRef(uri=d.uri, name=d.name, digest=d.digest, role=d.role) for d in v.training_data
            ],
            hyperparameters=[Param(key=k, value=str(val)) for k, val in sorted(v.hyperparameters.items())],
            metrics=[Metric(key=k, value=float(val)) for k, val in sorted(v.metrics.items())],
            training_code=str(v.training_code) if v.training_code else None,
            training_code_ref=(
                CodeRef(
                    repository=v.training_code.repository,
                    commit=v.training_code.commit,
                    path=v.training_code.path,
                )
                if v.training_code
                else None
            ),
            environment=v.environment,
            preprocessing=v.preprocessing,
            deployments=[
                Deployment(endpoint=d.endpoint, traffic_percent=d.traffic_percent, updated_at=d.updated_at)
                for d in v.deployments
            ],
            tags=_tags(v.tags),
            team=v.team,
            created_by=v.created_by,
            created_at=v.created_at,
            updated_at=v.updated_at,
            model_card=None
            if card.is_empty()
            else ModelCard(**{f: getattr(card, f) for f in card.__dataclass_fields__}),
            reviews=[Review(principal=r.principal, comment=r.comment, at=r.at) for r in v.reviews],
            _version=v,
        )

    @strawberry.field(
        description=(
            "How the version's metrics moved during training, read live from its registry "
            "(MLflow: the metric history of the version's run). Empty where the registry "
            "keeps no history; null, with a REGISTRY_UNAVAILABLE error, when it does not answer."
        )
    )
    async def metric_history(
        self,
        info: Info[Context, None],
        keys: Annotated[
            list[str] | None,
            strawberry.argument(description="The metrics to read; null: every metric the version carries."),
        ] = None,
        limit: Annotated[
            int,
            strawberry.argument(description="The most points per series (the latest), 1 to 10000."),
        ] = 500,
    ) -> list[MetricSeries] | None:
        if not 1 <= limit <= MAX_HISTORY_POINTS:
            raise BadInput(f"limit must be between 1 and {MAX_HISTORY_POINTS}, got {limit}", field="limit")
        if keys is not None and len(keys) > MAX_HISTORY_KEYS:
            raise BadInput(f"at most {MAX_HISTORY_KEYS} keys at once, got {len(keys)}", field="keys")
        v = self._version
        adapter = info.context.gateway.adapters.get(v.registry_id)
        if not isinstance(adapter, MetricHistoryReader):
            return []
        series = await adapter.metric_history(v, keys, limit)
        return [
            MetricSeries(key=k, points=[MetricPoint(step=p.step, value=p.value, at=p.at) for p in points])
            for k, points in sorted(series.items())
        ]

    @strawberry.field(description=SOURCE_URL_HELP)
    def source_url(self, info: Info[Context, None]) -> str | None:
        v = self._version
        return source_url_of(info.context.gateway.adapters.get(v.registry_id), v.model_name, v.version)

    @strawberry.field
    async def model(self, info: Info[Context, None]) -> ModelType:
        m = await info.context.models.load(self._version.model_uri)
        if m is None:  # the version was read live and its model is not indexed yet
            m = Model(registry_id=self._version.registry_id, name=self._version.model_name)
        return ModelType.from_domain(m)

    @strawberry.field
    async def parent(self, info: Info[Context, None]) -> "ModelVersionType | None":
        if not self._version.parent:
            return None
        # The record may hold a registry's own reference (an ARN, an MLflow model URI).
        uri = await info.context.gateway.lineage.resolve(
            self._version.parent, context_registry=self._version.registry_id
        )
        p = await info.context.versions.load(uri) if uri else None
        return ModelVersionType.from_domain(p) if p else None

    @strawberry.field(
        description="The registry's approval records, then those of modelgate promotions applied to it."
    )
    async def approvals(self, info: Info[Context, None]) -> list[Approval]:
        recorded = await info.context.promotion_approvals.load(self.uri) or []
        return [
            Approval(principal=a.principal, role=a.role, comment=a.comment, at=a.at)
            for a in (*self._version.approvals, *recorded)
        ]

    @strawberry.field(
        description="Policy evaluation of this version (compliant when no error-severity policy is violated)."
    )
    async def compliance(self, info: Info[Context, None]) -> Compliance:
        stored = await info.context.compliance.load(self.uri)
        if stored is not None:
            compliant, violations = stored.compliant, stored.violations
        else:  # read live and not indexed yet: judge it now
            evaluation = await info.context.gateway.governance.evaluate(self._version)
            compliant, violations = evaluation.compliant, evaluation.violations
        return Compliance(
            compliant=compliant,
            violations=[
                PolicyViolation(policy=v.policy, severity=v.severity, message=v.message) for v in violations
            ],
        )

    @strawberry.field
    async def lineage(
        self,
        info: Info[Context, None],
        direction: LineageDirection | None = LineageDirection.BOTH,
        depth: int | None = 3,
    ) -> LineageGraph:
        return await lineage_of(info, self._version, direction, depth)


# --- connections ---------------------------------------------------------------------


@strawberry.type
class ModelEdge:
    cursor: str
    node: ModelType


@strawberry.type
class ModelConnection:
    edges: list[ModelEdge]
    page_info: PageInfo
    total_count: int
    facets: Facets

    @staticmethod
    def from_page(page: SearchPage[Model], after: str | None) -> "ModelConnection":
        return ModelConnection(
            edges=[
                ModelEdge(cursor=c, node=ModelType.from_domain(m))
                for m, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=page_info(page.cursors, page.has_next, after),
            total_count=page.total,
            facets=_facets(page.facets),
        )


@strawberry.type
class ModelVersionEdge:
    cursor: str
    node: ModelVersionType


@strawberry.type
class ModelVersionConnection:
    edges: list[ModelVersionEdge]
    page_info: PageInfo
    total_count: int
    facets: Facets

    @staticmethod
    def from_page(page: SearchPage[ModelVersion], after: str | None) -> "ModelVersionConnection":
        return ModelVersionConnection(
            edges=[
                ModelVersionEdge(cursor=c, node=ModelVersionType.from_domain(v))
                for v, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=page_info(page.cursors, page.has_next, after),
            total_count=page.total,
            facets=_facets(page.facets),
        )
