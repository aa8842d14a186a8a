"""What every GraphQL view shares: the enums, paging arguments and Relay
paging, global ids and Node, small value types, facets, and what the client
selected."""

import base64
import binascii
import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from strawberry.types import Info

from gateway.api.context import Context
from gateway.api.limits import max_page_size
from gateway.bom.formats import BomFormat
from gateway.catalogue.index import FacetCount, SortOrder
from gateway.catalogue.state import RegistryState
from gateway.domain import RegistryKind, Stage
from gateway.errors import BadInput


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


def tags_view(tags: Any) -> list[Tag]:
    return [Tag(key=k, value=str(v)) for k, v in sorted(tags.items())]


def facets_view(facets: dict[str, list[FacetCount]]) -> Facets:
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
