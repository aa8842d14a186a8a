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
from urllib.parse import quote

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from strawberry.scalars import JSON
from strawberry.types import Info

from adapters.base import MetricHistoryReader, VersionRegistrar, source_url_of
from gateway.api.context import Context
from gateway.api.limits import max_page_size
from gateway.artifacts.store import StoredFile, signed_url, version_files
from gateway.bom.facts import gather_facts
from gateway.bom.formats import BomFormat, document
from gateway.catalogue.index import FacetCount, SearchFilter, SearchPage, SortOrder
from gateway.catalogue.state import RegistryState
from gateway.config import RegistrySettings
from gateway.domain import Model, ModelVersion, RegistryKind, Stage
from gateway.errors import BadInput
from gateway.governance.annex_iv import annex_iv_map
from gateway.lineage.graph import Edge, Graph
from gateway.lineage.walk import MAX_DEPTH, Direction


def describe_values(enum_type: type[enum.Enum], descriptions: dict[str, str]) -> None:
    """Describe each value of an enum (strawberry takes value descriptions only from
    ``strawberry.enum_value``, which a domain enum cannot use). Every value needs one."""
    for value in enum_type.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = descriptions[value.name]


StageEnum = strawberry.enum(
    Stage,
    name="Stage",
    description="The unified lifecycle stage, mapped from each registry's own words "
    "(nativeStage keeps them).",
)
describe_values(
    Stage,
    {
        "DRAFT": "Registered, not yet promoted anywhere.",
        "STAGING": "Being validated before production.",
        "PRODUCTION": "Serving, or approved to serve.",
        "ARCHIVED": "Retired: kept for the record, not to be used.",
    },
)
RegistryKindEnum = strawberry.enum(
    RegistryKind,
    name="RegistryKind",
    description="The kind of registry, from the config's kind (OTHER for a plugin's own kind; "
    "Registry.kindName then carries it verbatim).",
)
describe_values(
    RegistryKind,
    {
        "MLFLOW": "An MLflow Model Registry.",
        "SAGEMAKER": "Amazon SageMaker Model Registry (model package groups).",
        "VERTEX": "Google Vertex AI Model Registry.",
        "NATIVE": "modelgate's own registry, in its database.",
        "GTO": "DVC GTO: models, versions and stages as Git tags of a repository.",
        "KUBEFLOW": "Kubeflow Model Registry.",
        "AZUREML": "Azure Machine Learning (a workspace or a registry).",
        "WANDB": "Weights & Biases model registry.",
        "HUGGINGFACE": "Hugging Face Hub.",
        "UNITY_CATALOG": "Databricks Unity Catalog models.",
        "OTHER": "A kind installed as a plugin (see Registry.kindName).",
    },
)
RegistryStateEnum = strawberry.enum(
    RegistryState,
    name="RegistryState",
    description="SYNCING until its first full sync completes; UNAVAILABLE when its last call "
    "failed or timed out (or its last sync failed and nothing answered since); DEGRADED when it "
    "answers but its last sync failed, skipped models it could not read, or held removals past "
    "max_removal_share; else HEALTHY.",
)

describe_values(
    RegistryState,
    {
        "SYNCING": "Its first full sync has not completed: answers may lack its models.",
        "HEALTHY": "It answers and its last sync succeeded.",
        "DEGRADED": "It answers, but its last sync failed, skipped models it could not read, or held "
        "removals past max_removal_share (lastError says how to confirm them).",
        "UNAVAILABLE": "Its last call failed or timed out: answers come from the index.",
    },
)

BomFormatEnum = strawberry.enum(
    BomFormat,
    name="BomFormat",
    description="A machine-readable bill of materials standard (AI/ML profile).",
)
describe_values(
    BomFormat,
    {
        "CYCLONEDX_1_6": "CycloneDX 1.6 JSON (ECMA-424): a machine-learning-model component "
        "with its modelCard.",
        "SPDX_3_0": "SPDX 3.0.1 JSON-LD: an AIPackage with its datasets as DatasetPackages.",
    },
)

MAX_PAGE_SIZE = 100  # the default of ``[graphql] max_page_size``


@strawberry.enum(description="Which way to follow lineage edges from a node.")
class LineageDirection(enum.Enum):
    UPSTREAM = "UPSTREAM"
    DOWNSTREAM = "DOWNSTREAM"
    BOTH = "BOTH"


describe_values(
    LineageDirection,
    {
        "UPSTREAM": "Towards what the node came from: datasets, code, runs, parent versions.",
        "DOWNSTREAM": "Towards what came from the node: derived versions, deployments.",
        "BOTH": "Both ways.",
    },
)


DEFAULT_PAGE_SIZE = 20
FIRST = strawberry.argument(
    description="How many results to return (0 to max_page_size, 100 unless configured; default 20)."
)
AFTER = strawberry.argument(
    description="Return results after this cursor (an endCursor from an earlier page)."
)


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
    id: strawberry.ID = strawberry.field(
        description="Opaque global ID; pass it to Query.node to fetch the object again."
    )


# --- small value types --------------------------------------------------------------


@strawberry.type(
    name="ArtifactFile", description="One file of a native version, as the artifact store keeps it."
)
class ArtifactFileType:
    path: str = strawberry.field(description="Its path inside the version (model.bin, tokenizer/vocab.txt).")
    size: int = strawberry.field(description="Its size in bytes.")
    digest: str = strawberry.field(description="sha256:<hex> of its bytes: check a download against it.")


@strawberry.type(name="ArtifactDownload", description="Where to fetch one file of a native version.")
class ArtifactDownloadType:
    url: str = strawberry.field(
        description="A URL signed by the store (S3, GCS, Azure) when it signs and "
        "artifacts.presigned_seconds is above 0; else the gateway's own GET /artifacts/... route "
        "(send the same credentials)."
    )
    expires_at: datetime | None = strawberry.field(
        description="When a signed URL stops working (UTC); null for the gateway's route."
    )
    digest: str = strawberry.field(description="sha256:<hex> of the file's bytes.")
    size: int = strawberry.field(description="Its size in bytes.")


async def _stored_files(info: Info[Context, None], version: ModelVersion) -> list[StoredFile]:
    """A native version's files in the artifact store; none for remote registries'
    versions (their registry holds the bytes)."""
    gateway = info.context.gateway
    if not isinstance(gateway.adapters.get(version.registry_id), VersionRegistrar):
        return []
    return await version_files(
        gateway.artifacts, version.registry_id, version.model_name, version.artifact_uri
    )


@strawberry.type(description="A key/value tag as the registry stores it (values are text).")
class Tag:
    key: str = strawberry.field(description="The tag's key.")
    value: str = strawberry.field(description="The tag's value, as text.")


@strawberry.type(
    description="A metric recorded with a version (its last value when the registry keeps a history)."
)
class Metric:
    key: str = strawberry.field(description="The metric's name, as the registry records it (e.g. auc).")
    value: float = strawberry.field(description="The metric's value; units are the metric's own.")


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


@strawberry.type(description="A training hyperparameter of a version.")
class Param:
    key: str = strawberry.field(description="The hyperparameter's name.")
    value: str = strawberry.field(description="Its value, as text (registries store parameters as strings).")


@strawberry.type(description="A dataset a version was trained, validated or evaluated on.")
class DatasetRef:
    uri: str = strawberry.field(
        description="The dataset's URI as recorded (s3://, gs://, a table name, ...)."
    )
    name: str | None = strawberry.field(description="A readable name, when the registry records one.")
    digest: str | None = strawberry.field(
        description="A content digest of the dataset (e.g. sha256:...), when recorded; null when unknown."
    )
    role: str | None = strawberry.field(description="training | validation | evaluation | ...")


@strawberry.type(
    description="Where a version serves now: one endpoint (and variant) and its share of traffic."
)
class Deployment:
    endpoint: str = strawberry.field(description="The endpoint's URI (Endpoint.uri).")
    traffic_percent: float | None = strawberry.field(
        description="The share of the endpoint's traffic this version takes, 0 to 100 (null: not reported)."
    )
    updated_at: datetime | None = strawberry.field(
        description="When the serving system last changed this deployment; null when not reported."
    )
    registry: str | None = strawberry.field(
        default=None,
        description="The registry whose endpoint it is, or that the deployment was reported for.",
    )
    variant: str | None = strawberry.field(
        default=None,
        description="The serving system's name for this slice: a SageMaker production variant, a Vertex "
        "deployed-model ID, a reported variant.",
    )
    status: str | None = strawberry.field(
        default=None, description="The serving system's own status word (InService, Updating, ...)."
    )


@strawberry.type(description="Where a version's training code lives (any part may be unknown).")
class CodeRef:
    repository: str | None = strawberry.field(description="The repository's URL, when recorded.")
    commit: str | None = strawberry.field(description="The commit the code was trained from, when recorded.")
    path: str | None = strawberry.field(default=None, description="The entry point inside the repository.")


@strawberry.type(
    description="A version's model card: free text written by its authors (each part may be null)."
)
class ModelCard:
    summary: str | None = strawberry.field(default=None, description="What the model does, in brief.")
    intended_use: str | None = strawberry.field(
        default=None, description="The uses it was built and tested for."
    )
    limitations: str | None = strawberry.field(
        default=None, description="Known limits: where it should not be used."
    )
    training_data_summary: str | None = strawberry.field(
        default=None, description="What it was trained on, in words."
    )
    evaluation: str | None = strawberry.field(
        default=None, description="How it was evaluated, and the results."
    )
    bias_assessment: str | None = strawberry.field(default=None, description="Fairness and bias findings.")
    warnings: str | None = strawberry.field(default=None, description="Anything a user must know before use.")


@strawberry.type(description="One approval (or a rejection) of a version or a promotion request.")
class Approval:
    principal: str = strawberry.field(description="Who approved: the principal's name.")
    role: str = strawberry.field(description="The role they approved as.")
    comment: str | None = strawberry.field(description="Their comment; null when none was given.")
    at: datetime = strawberry.field(description="When (UTC).")


@strawberry.type(description="A review comment a registry recorded on a version.")
class Review:
    principal: str = strawberry.field(description="Who wrote it.")
    comment: str = strawberry.field(description="The review's text.")
    at: datetime = strawberry.field(description="When (UTC).")
    outcome: str | None = strawberry.field(
        default=None,
        description="APPROVED, CHANGES_REQUESTED or REJECTED for reviews recorded by addReview; "
        "null for a review the registry itself holds.",
    )


@strawberry.type(description="A model's risk tier and where it comes from.")
class RiskTier:
    tier: str | None = strawberry.field(description="The tier's name (null: no tier rule matched).")
    source: str = strawberry.field(
        description="rule (the policy file's tier rules) or override (setRiskTier)."
    )
    reason: str | None = strawberry.field(default=None, description="Why the tier was overridden.")
    set_by: str | None = strawberry.field(default=None, description="Who overrode the tier.")
    set_at: datetime | None = strawberry.field(default=None, description="When the tier was overridden.")


def risk_tier_view(assigned: Any) -> RiskTier:
    o = assigned.override
    return RiskTier(
        tier=assigned.tier,
        source=assigned.source,
        reason=o.reason if o else None,
        set_by=o.set_by if o else None,
        set_at=o.set_at if o else None,
    )


def review_view(r: Any) -> Review:
    return Review(principal=r.principal, comment=r.comment, at=r.at, outcome=r.outcome)


@strawberry.type(name="AnnexIVFact", description="A recorded fact that fills part of an Annex IV section.")
class AnnexIvFact:
    label: str = strawberry.field(description="What it documents (e.g. Intended purpose).")
    value: str = strawberry.field(description="The recorded value.")


@strawberry.type(name="AnnexIVGap", description="A fact an Annex IV section lacks, and where to record it.")
class AnnexIvGap:
    label: str = strawberry.field(description="What is missing (e.g. Training code).")
    field: str = strawberry.field(
        description="The field or tag that would hold it (e.g. trainingCode, tag annex_iv.standards)."
    )


@strawberry.type(
    name="AnnexIVSection",
    description="One of the nine sections of the EU AI Act's Annex IV (technical documentation): the "
    "recorded facts that fill it and the ones missing. Documentation support, not legal advice.",
)
class AnnexIvSection:
    number: int = strawberry.field(description="The section's number in Annex IV, 1 to 9.")
    title: str = strawberry.field(description="What the section asks for, in short.")
    filled: list[AnnexIvFact] = strawberry.field(description="The recorded facts that fill it.")
    missing: list[AnnexIvGap] = strawberry.field(description="The facts it lacks; empty when none.")


@strawberry.type(description="A governance policy a version does not satisfy.")
class PolicyViolation:
    policy: str = strawberry.field(description="The policy's id, from the policies file.")
    severity: str = strawberry.field(
        description="error (blocks promotion, makes the version non-compliant) or warning (reported only)."
    )
    message: str = strawberry.field(description="What is wrong, in words.")


@strawberry.type(description="A version's policy evaluation.")
class Compliance:
    compliant: bool = strawberry.field(description="True when no error-severity policy is violated.")
    violations: list[PolicyViolation] = strawberry.field(
        description="Every violated policy, warnings included; empty when all are satisfied."
    )


@strawberry.type(description="Where a page of a connection lies (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when more results follow: pass endCursor as after."
    )
    has_previous_page: bool = strawberry.field(
        description="True when this page was asked for with after (results came before it)."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first edge; null when empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last edge (the next page's after); null when empty."
    )


@strawberry.type(description="One value of a facet and how many results have it.")
class Facet:
    value: str = strawberry.field(description="The value (a registry id, team, stage, framework, ...).")
    count: int = strawberry.field(description="How many results of the whole search (not the page) have it.")


@strawberry.type(
    description="Counts of the whole search's results by registry, team, stage, framework, compliance, "
    "tag and conflict; computed only for the lists selected."
)
class Facets:
    registry: list[Facet] = strawberry.field(description="By registry id.")
    team: list[Facet] = strawberry.field(description="By owning team.")
    stage: list[Facet] = strawberry.field(
        description="By unified stage (a model counts once under each stage one of its versions is in)."
    )
    framework: list[Facet] = strawberry.field(
        description="By ML framework (a framework tag, or what the registry records), lower case."
    )
    compliance: list[Facet] = strawberry.field(description="Values: compliant, noncompliant.")
    tag: list[Facet] = strawberry.field(description="The most frequent tags, as key=value.")
    conflicts: list[Facet] = strawberry.field(
        description="Results whose registry states something impossible. Values: multipleProduction "
        "(models with more than one PRODUCTION version; for versions, those versions). "
        "A value with no results is left out."
    )
    serving: list[Facet] = strawberry.field(
        description="Values: serving (takes a share of some endpoint's traffic now; models: any of "
        "their versions does), notServing. A value with no results is left out."
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
        serving=conv("serving"),
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
    SortOrder,
    name="SortOrder",
    description="The order of search results. Without one: RELEVANCE when a query is given, else NAME. "
    "RELEVANCE without a query is NAME.",
)
describe_values(
    SortOrder,
    {
        "RELEVANCE": "Best full-text match first (needs a query).",
        "NAME": "By model name (versions: newest version of each model first).",
        "UPDATED": "Most recently updated first.",
    },
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

DIRECTION = strawberry.argument(description="Which way to walk from the node.")
DEPTH = strawberry.argument(
    description=f"How many edges to walk from the node (0 to {MAX_DEPTH}; 0 is the node alone)."
)


@strawberry.type(description="A node of the lineage graph: a version, model, dataset, code, run or endpoint.")
class LineageNode:
    uri: str = strawberry.field(
        description="The node's identity: an mg:// URI for models and versions, else the dataset's, "
        "code's (git+...), run's or endpoint's own URI (docs/uris.md)."
    )
    kind: str = strawberry.field(description="model_version | model | dataset | run | code | deployment")
    label: str | None = strawberry.field(description="A readable name for display; null when none is known.")
    registry: str | None = strawberry.field(
        description="The registry the node belongs to; null for nodes outside every registry "
        "(datasets, code)."
    )


@strawberry.type(
    name="LineageEdge",
    description="A directed lineage relation: source RELATION target (a version TRAINED_ON a dataset).",
)
class LineageEdgeType:
    source: str = strawberry.field(description="The URI of the node the relation is stated of.")
    target: str = strawberry.field(description="The URI of the node it points to.")
    relation: str = strawberry.field(
        description="TRAINED_ON | VALIDATED_ON | PRODUCED_BY | DERIVED_FROM | DEPLOYED_TO | SAME_AS"
    )
    evidence: str | None = strawberry.field(
        default=None,
        description="How the edge is known: record (the version's own fields), tag:<key> (a declared "
        "reference), registry (the registry's lineage API) or artifact (same artifact URI or digest).",
    )


@strawberry.type(description="The lineage around a node, as far as depth (and the node limit) reach.")
class LineageGraph:
    nodes: list[LineageNode] = strawberry.field(description="Every node reached, the root included.")
    edges: list[LineageEdgeType] = strawberry.field(description="Every relation between the nodes reached.")
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


@strawberry.type(description="A configured model registry ([[registries]] in the config).")
class Registry:
    id: str = strawberry.field(
        description="The registry's id from the config (the first part of its mg:// URIs)."
    )
    kind: RegistryKind = strawberry.field(description="What kind of registry it is.")
    kind_name: str = strawberry.field(
        description="The registry's kind as configured, verbatim (a plugin's own name when kind is OTHER)."
    )
    team: str | None = strawberry.field(
        description="The team that owns it (may write to it); null when none."
    )
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

    @strawberry.field(description="When its last sync finished (UTC); null before the first.")
    async def synced_at(self, info: Info[Context, None]) -> datetime | None:
        state = (await info.context.gateway.index.registry_health()).get(self.id)
        return state.synced_at if state else None

    @strawberry.field(
        description="The error of its last failed or partial sync; null when it last succeeded. "
        "What the registry said (which may name models) is shown to its team and admins; others "
        "read a summary in the gateway's words."
    )
    async def last_error(self, info: Info[Context, None]) -> str | None:
        return await info.context.registry_error(self.id)

    @strawberry.field(
        description="True while the registry's first full sync, its catalogue in, is still reading "
        "its versions' details (run params, metrics, datasets, code), or when that read failed "
        "(lastError says so) and no full sync has read them since. Meanwhile a read of such a "
        "version completes it from the registry, and its compliance is not evaluated yet "
        "(reports count it as compliant until it is)."
    )
    async def details_pending(self, info: Info[Context, None]) -> bool:
        state = (await info.context.gateway.index.registry_health()).get(self.id)
        return state.details_pending if state else False

    # A count of a registry that is down or never finished syncing may be short: say so.
    @strawberry.field(
        description="Models of it in the index that the caller may see (short while it is SYNCING "
        "or UNAVAILABLE)."
    )
    async def model_count(self, info: Info[Context, None]) -> int:
        stats = (await info.context.registry_stats()).get(self.id)
        await info.context.note_index_answer([self.id])
        return stats.models if stats else 0

    @strawberry.field(
        description="Versions of it in the index that the caller may see (short while it is SYNCING "
        "or UNAVAILABLE)."
    )
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


@strawberry.type(
    name="Model",
    description="A registered model: an MLflow registered model, a SageMaker model package group, "
    "a Vertex model, a native model, ...; its versions are ModelVersions.",
)
class ModelType(Node):
    uri: str = strawberry.field(description="mg://<registry>/<model>")
    name: str = strawberry.field(description="The model's name in its registry.")
    description: str | None = strawberry.field(description="The registry's description; null when none.")
    team: str | None = strawberry.field(
        description="The owning team: the one the model names in its registry, else its registry's "
        "team; null when neither."
    )
    tags: list[Tag] = strawberry.field(description="The model's tags, by key.")
    created_at: datetime | None = strawberry.field(
        description="When it was created (UTC); null when not reported."
    )
    updated_at: datetime | None = strawberry.field(
        description="When it last changed (UTC); null when not reported."
    )
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

    @strawberry.field(description="The registry that holds it.")
    async def registry(self, info: Info[Context, None]) -> Registry:
        settings = info.context.gateway.settings.registry(self.registry_id)
        if settings is None:  # indexed before the registry was removed from config
            settings = RegistrySettings(id=self.registry_id, kind="native")
        return await registry_view(info, settings)

    @strawberry.field(
        description="The model's risk tier: set by setRiskTier, else by the policy file's tier rules "
        "(null when the file defines no tiers)."
    )
    async def risk_tier(self, info: Info[Context, None]) -> RiskTier | None:
        if not info.context.gateway.governance.policies.tiers.tiers:
            return None
        assigned = await info.context.risk_tiers.load(self.uri)
        return risk_tier_view(assigned) if assigned is not None else None

    @strawberry.field(description="Its newest version the caller may see; null when there is none.")
    async def latest_version(self, info: Info[Context, None]) -> "ModelVersionType | None":
        v = await info.context.latest_versions.load(self.uri)
        if v is None:
            return None
        (v,) = await info.context.complete([v])
        return ModelVersionType.from_domain(v)

    @strawberry.field(description="Its versions, newest first.")
    async def versions(
        self,
        info: Info[Context, None],
        stage: Annotated[
            StageEnum | None,  # type: ignore[valid-type]
            strawberry.argument(description="Only versions in this stage."),
        ] = None,
        first: Annotated[int | None, FIRST] = 20,
        after: Annotated[str | None, AFTER] = None,
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


@strawberry.type(name="ModelVersion", description="One version of a model, with every field of its record.")
class ModelVersionType(Node):
    uri: str = strawberry.field(description="mg://<registry>/<model>/<version>")
    version: str = strawberry.field(description="The registry's own version id (always text: 3, v2, a hash).")
    semver: str | None = strawberry.field(description="A semantic version, when one is recorded; else null.")
    stage: StageEnum = strawberry.field(  # type: ignore[valid-type]
        description="The unified stage, mapped from the registry's own (see nativeStage)."
    )
    native_stage: str | None = strawberry.field(
        description="The registry's own word for the stage, verbatim (Production, Approved, an alias, ...); "
        "null when it has none."
    )
    aliases: list[str] = strawberry.field(description="The registry's aliases that point at this version.")
    description: str | None = strawberry.field(description="The registry's description; null when none.")
    artifact_uri: str | None = strawberry.field(
        description="Where the model's files are (s3://, gs://, runs:/, file URIs); null when not recorded."
    )
    artifact_digest: str | None = strawberry.field(
        description="A digest of the artifact (sha256:...), when recorded; null when unknown."
    )
    training_data: list[DatasetRef] = strawberry.field(
        description="Every dataset it was trained, validated or evaluated on, each with its role."
    )
    hyperparameters: list[Param] = strawberry.field(description="Its training hyperparameters, by key.")
    metrics: list[Metric] = strawberry.field(description="Its recorded metrics, by key.")
    training_code: str | None = strawberry.field(
        description="The training code as <repository>@<commit>#<path> (see trainingCodeRef); "
        "null when unknown."
    )
    training_code_ref: CodeRef | None = strawberry.field(
        description="The training code's repository, commit and path; null when unknown."
    )
    environment: str | None = strawberry.field(
        description="Its runtime environment: a container image or requirements reference; null when unknown."
    )
    preprocessing: str | None = strawberry.field(
        description="A reference to its preprocessing (code or artifact); null when unknown."
    )
    deployments: list[Deployment] = strawberry.field(
        description="Where it serves now, as the registry or serving system reports; empty when nowhere."
    )
    tags: list[Tag] = strawberry.field(description="The version's tags, by key.")
    team: str | None = strawberry.field(
        description="The owning team: the one the version names, else its registry's; null when neither."
    )
    created_by: str | None = strawberry.field(description="Who registered it, when the registry says.")
    created_at: datetime | None = strawberry.field(
        description="When it was registered (UTC); null when not reported."
    )
    updated_at: datetime | None = strawberry.field(
        description="When it last changed (UTC); null when not reported."
    )
    model_card: ModelCard | None = strawberry.field(description="Its model card; null when it has none.")
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
                Deployment(
                    endpoint=d.endpoint,
                    traffic_percent=d.traffic_percent,
                    updated_at=d.updated_at,
                    registry=d.registry,
                    variant=d.variant,
                    status=d.status,
                )
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

    @strawberry.field(description="The model it is a version of.")
    async def model(self, info: Info[Context, None]) -> ModelType:
        m = await info.context.models.load(self._version.model_uri)
        if m is None:  # the version was read live and its model is not indexed yet
            m = Model(registry_id=self._version.registry_id, name=self._version.model_name)
        return ModelType.from_domain(m)

    @strawberry.field(
        description="The version it was fine-tuned or derived from, when that is in the catalogue; else null."
    )
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
        description="Review comments: the registry's own, then those recorded by addReview, oldest first."
    )
    async def reviews(self, info: Info[Context, None]) -> list[Review]:
        recorded = await info.context.reviews.load(self.uri) or []
        return [review_view(r) for r in (*self._version.reviews, *recorded)]

    @strawberry.field(
        description="When this PRODUCTION version is next due for its tier's periodic review "
        "(null: not in PRODUCTION, or its tier has no review_every_days)."
    )
    async def next_review_due(self, info: Info[Context, None]) -> datetime | None:
        states = await info.context.gateway.governance.review_states([self._version])
        return states[self.uri].due

    @strawberry.field(description="True when this PRODUCTION version is past its review due date.")
    async def review_overdue(self, info: Info[Context, None]) -> bool:
        states = await info.context.gateway.governance.review_states([self._version])
        return states[self.uri].overdue

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

    @strawberry.field(description="The lineage graph around this version.")
    async def lineage(
        self,
        info: Info[Context, None],
        direction: Annotated[LineageDirection | None, DIRECTION] = LineageDirection.BOTH,
        depth: Annotated[int | None, DEPTH] = 3,
    ) -> LineageGraph:
        return await lineage_of(info, self._version, direction, depth)

    @strawberry.field(
        name="annexIV",
        description="Its EU AI Act Annex IV map: for each of the nine sections, the recorded facts that "
        "fill it and the missing ones with the field to add. Documentation support, not legal advice.",
    )
    async def annex_iv(self, info: Info[Context, None]) -> list[AnnexIvSection]:
        assigned = await info.context.risk_tiers.load(self._version.model_uri)
        found = annex_iv_map(self._version, assigned.tier if assigned else None)
        return [
            AnnexIvSection(
                number=section.number,
                title=section.title,
                filled=[AnnexIvFact(label=f.label, value=f.value) for f in section.filled],
                missing=[AnnexIvGap(label=g.label, field=g.field) for g in section.missing],
            )
            for section in found.sections
        ]

    @strawberry.field(
        description="The files of a native version in the artifact store, each with its size and digest; "
        "empty for remote registries' versions and artifacts kept elsewhere."
    )
    async def files(self, info: Info[Context, None]) -> list[ArtifactFileType]:
        found = await _stored_files(info, self._version)
        return [ArtifactFileType(path=f.path, size=f.size, digest=f.digest) for f in found]

    @strawberry.field(
        description="A URL that serves the version's artifact (its one file), or with path one file of it; "
        "null for remote registries' versions, artifacts kept elsewhere and paths it does not have."
    )
    async def download(
        self,
        info: Info[Context, None],
        path: Annotated[
            str | None, strawberry.argument(description="A file of the version, as files lists it.")
        ] = None,
    ) -> ArtifactDownloadType | None:
        found = await _stored_files(info, self._version)
        if path is not None:
            found = [f for f in found if f.path == path]
        if len(found) != 1:
            return None
        (file,) = found
        signed = await signed_url(info.context.gateway.artifacts, file)
        if signed is not None:
            url, expires_at = signed
        else:
            v = self._version
            route = f"/artifacts/{v.registry_id}/{v.model_name}/{quote(v.version, safe='')}/{file.path}"
            url = info.context.base_url + route
            expires_at = None
        return ArtifactDownloadType(url=url, expires_at=expires_at, digest=file.digest, size=file.size)

    @strawberry.field(
        description="Its AI bill of materials as a JSON document of the standard asked for: the model, its "
        "datasets with digests and roles, metrics, model card, parent and training code (a parent the "
        "caller may not see is left out)."
    )
    async def bom(
        self,
        info: Info[Context, None],
        format: Annotated[
            BomFormatEnum,  # type: ignore[valid-type]
            strawberry.argument(description="The standard: CYCLONEDX_1_6 or SPDX_3_0."),
        ],
    ) -> JSON:
        facts = await gather_facts(info.context.gateway, self._version, info.context.access)
        return document(facts, BomFormat(format))  # type: ignore[return-value]  # JSON is a dict


# --- connections ---------------------------------------------------------------------

# Fields every connection has: a factory each, as a field object belongs to one class.


def _cursor() -> Any:
    return strawberry.field(
        description="This result's cursor: pass it as after for the results that follow it."
    )


def _total_count() -> Any:
    return strawberry.field(
        description="How many results the whole search has (all pages); computed only when selected."
    )


def _facets_field() -> Any:
    return strawberry.field(
        description="Counts of the whole search's results by value; computed only when selected."
    )


@strawberry.type(description="One model of a page of search results.")
class ModelEdge:
    cursor: str = _cursor()
    node: ModelType = strawberry.field(description="The model.")


@strawberry.type(
    description="A page of models (Relay connection), with totals and facets of the whole search."
)
class ModelConnection:
    edges: list[ModelEdge] = strawberry.field(description="The page's models, in the search's order.")
    page_info: PageInfo = strawberry.field(description="Where the page lies: whether more follow.")
    total_count: int = _total_count()
    facets: Facets = _facets_field()

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


@strawberry.type(description="One version of a page of results.")
class ModelVersionEdge:
    cursor: str = _cursor()
    node: ModelVersionType = strawberry.field(description="The version.")


@strawberry.type(
    description="A page of versions (Relay connection), with totals and facets of the whole search."
)
class ModelVersionConnection:
    edges: list[ModelVersionEdge] = strawberry.field(
        description="The page's versions, in the search's order."
    )
    page_info: PageInfo = strawberry.field(description="Where the page lies: whether more follow.")
    total_count: int = _total_count()
    facets: Facets = _facets_field()

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
