"""GraphQL output types: thin views over domain objects.

Leaf fields are plain attributes copied once from the domain object (cheap to
resolve); relations are async resolvers that go through the request's
dataloaders.
"""

import base64
import binascii
import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from gateway.api.context import Context
from gateway.catalogue.index import FacetCount, SearchFilter, SearchPage
from gateway.config import RegistrySettings
from gateway.domain import LineageEdge, Model, ModelVersion, RegistryKind, Stage
from gateway.errors import BadInput
from gateway.lineage.graph import Graph, walk_upstream

StageEnum = strawberry.enum(Stage, name="Stage", description="The unified lifecycle stage.")
RegistryKindEnum = strawberry.enum(RegistryKind, name="RegistryKind")

MAX_PAGE_SIZE = 100


@strawberry.enum(description="Which way to follow lineage edges from a node.")
class LineageDirection(enum.Enum):
    UPSTREAM = "UPSTREAM"
    DOWNSTREAM = "DOWNSTREAM"
    BOTH = "BOTH"


DEFAULT_PAGE_SIZE = 20


def check_page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0 or first > MAX_PAGE_SIZE:
        raise BadInput(f"first must be between 0 and {MAX_PAGE_SIZE}, got {first}", field="first")
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


def _tags(tags: Any) -> list[Tag]:
    return [Tag(key=k, value=str(v)) for k, v in sorted(tags.items())]


def _facets(facets: dict[str, list[FacetCount]]) -> Facets:
    def conv(name: str) -> list[Facet]:
        return [Facet(value=f.value, count=f.count) for f in facets.get(name, [])]

    return Facets(registry=conv("registry"), team=conv("team"), stage=conv("stage"))


def _page_info(page: SearchPage[Any], after: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=after is not None,
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.cursors[-1] if page.cursors else None,
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
            edges=[_edge(e) for e in graph.edges],
            truncated=graph.truncated,
        )


def _edge(e: LineageEdge) -> LineageEdgeType:
    return LineageEdgeType(source=e.source.uri, target=e.target.uri, relation=e.relation.value)


async def lineage_of(info: Info[Context, None], version: ModelVersion, depth: int | None) -> LineageGraph:
    depth = 3 if depth is None else depth
    if depth < 0 or depth > 10:
        raise BadInput(f"depth must be between 0 and 10, got {depth}", field="depth")
    graph = await walk_upstream(version, depth, info.context.versions.load)
    return LineageGraph.from_graph(graph)


# --- registries, models, versions --------------------------------------------------------


@strawberry.type
class Registry:
    id: str
    kind: RegistryKindEnum
    team: str | None
    healthy: bool
    synced_at: datetime | None
    last_error: str | None
    model_count: int
    version_count: int


async def registry_view(info: Info[Context, None], settings: RegistrySettings) -> Registry:
    stats = (await info.context.gateway.index.registry_stats()).get(settings.id)
    return Registry(
        id=settings.id,
        kind=RegistryKind(settings.kind)
        if settings.kind in RegistryKind._value2member_map_
        else RegistryKind.NATIVE,
        team=settings.team,
        healthy=stats.healthy if stats else True,
        synced_at=stats.synced_at if stats else None,
        last_error=stats.last_error if stats else None,
        model_count=stats.models if stats else 0,
        version_count=stats.versions if stats else 0,
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

    @strawberry.field
    async def registry(self, info: Info[Context, None]) -> Registry:
        settings = info.context.gateway.settings.registry(self.registry_id)
        if settings is None:  # indexed before the registry was removed from config
            settings = RegistrySettings(id=self.registry_id, kind="native")
        return await registry_view(info, settings)

    @strawberry.field
    async def latest_version(self, info: Info[Context, None]) -> "ModelVersionType | None":
        v = await info.context.latest_versions.load(self.uri)
        return ModelVersionType.from_domain(v) if v else None

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
            None, f, check_page_size(first), after, model_uri=self.uri, facets=True
        )
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
    approvals: list[Approval]
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
                CodeRef(repository=v.training_code.repository, commit=v.training_code.commit)
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
            approvals=[
                Approval(principal=a.principal, role=a.role, comment=a.comment, at=a.at) for a in v.approvals
            ],
            reviews=[Review(principal=r.principal, comment=r.comment, at=r.at) for r in v.reviews],
            _version=v,
        )

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
        p = await info.context.versions.load(self._version.parent)
        return ModelVersionType.from_domain(p) if p else None

    @strawberry.field(description="Policy evaluation of this version (compliant when no policy applies).")
    def compliance(self) -> Compliance:
        return Compliance(compliant=True, violations=[])

    @strawberry.field
    async def lineage(
        self,
        info: Info[Context, None],
        direction: LineageDirection | None = LineageDirection.BOTH,
        depth: int | None = 3,
    ) -> LineageGraph:
        return await lineage_of(info, self._version, depth)


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
            page_info=_page_info(page, after),
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
            page_info=_page_info(page, after),
            total_count=page.total,
            facets=_facets(page.facets),
        )
