"""The shared vocabulary of modelgate: registry-neutral models and versions.

Adapters translate each registry's wire format into these types and back; the
catalogue, lineage, governance and GraphQL layers only ever see these. Every
value a registry reports that has no unified field survives in ``native`` so
nothing is lost in translation.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

URI_SCHEME = "mg://"


class Stage(enum.StrEnum):
    """The one lifecycle every registry's own vocabulary is mapped onto."""

    DRAFT = "DRAFT"
    STAGING = "STAGING"
    PRODUCTION = "PRODUCTION"
    ARCHIVED = "ARCHIVED"


class RegistryKind(enum.StrEnum):
    """The registry kinds the API names (API.md). The set is open: a kind
    installed as a plugin is ``OTHER``, and ``Registry.kindName`` carries the
    config's ``kind`` verbatim for every registry."""

    MLFLOW = "mlflow"
    SAGEMAKER = "sagemaker"
    VERTEX = "vertex"
    NATIVE = "native"
    GTO = "gto"
    KUBEFLOW = "kubeflow"
    AZUREML = "azureml"
    WANDB = "wandb"
    HUGGINGFACE = "huggingface"
    UNITY_CATALOG = "unity_catalog"
    OTHER = "other"

    @classmethod
    def of(cls, kind: str) -> RegistryKind:
        """The API's name for a configured ``kind``; ``OTHER`` for a plugin's own."""
        try:
            return cls(kind)
        except ValueError:
            return cls.OTHER


def model_uri(registry_id: str, model_name: str) -> str:
    return f"{URI_SCHEME}{registry_id}/{model_name}"


def version_uri(registry_id: str, model_name: str, version: str) -> str:
    return f"{URI_SCHEME}{registry_id}/{model_name}/{version}"


# ``@<ref>`` after a model's name: a unified stage in lower case or a registry's
# alias (docs/references.md). A ref holds no ``/`` or ``@`` and no white space.
REF_MARK = "@"
_REF = re.compile(r"[^/@\s]+")


@dataclass(frozen=True, slots=True)
class ParsedUri:
    """A model (``version`` and ``ref`` None), a version, or a reference by stage or
    alias (``ref`` set, ``version`` None): the version holding ``ref`` now, which
    only the catalogue can name (``gateway.catalogue.refs``)."""

    registry_id: str
    model_name: str
    version: str | None = None
    ref: str | None = None

    @property
    def model_uri(self) -> str:
        return model_uri(self.registry_id, self.model_name)

    @property
    def names_version(self) -> bool:
        """A concrete version or a reference to one."""
        return self.version is not None or self.ref is not None


def ref_uri(registry_id: str, model_name: str, ref: str) -> str:
    return f"{URI_SCHEME}{registry_id}/{model_name}{REF_MARK}{ref}"


def is_ref_uri(uri: str) -> bool:
    """Whether ``uri`` is meant as a reference (``mg://…@…``): cheap, no parsing; a
    malformed one is still one (``parse_uri`` then says what is wrong)."""
    return uri.startswith(URI_SCHEME) and REF_MARK in uri


def version_segment_uri(registry_id: str, model_name: str, segment: str) -> str:
    """The URI a REST path's version segment names: ``@production`` is a reference,
    anything else a version (``/artifacts/r/m/@production/...``)."""
    if segment.startswith(REF_MARK):
        return ref_uri(registry_id, model_name, segment[len(REF_MARK) :])
    return version_uri(registry_id, model_name, segment)


def parse_uri(uri: str) -> ParsedUri:
    """Split ``mg://registry/model[/version]`` or ``mg://registry/model@ref``; raises
    ValueError on anything else.

    Model names may not contain ``/`` in any supported registry, so the split is
    unambiguous. ``@`` is valid in neither a model name nor a version: it marks a
    reference, which follows the model's name and holds no ``/``.
    """
    if not uri.startswith(URI_SCHEME):
        raise ValueError(
            f"not a modelgate URI (expected {URI_SCHEME}<registry>/<model>[/<version>]): {uri!r}"
        )
    rest = uri[len(URI_SCHEME) :]
    if REF_MARK in rest:
        path, _, ref = rest.partition(REF_MARK)
        parts = path.split("/")
        if len(parts) != 2 or not all(parts) or not _REF.fullmatch(ref):
            raise ValueError(
                f"malformed modelgate reference (expected {URI_SCHEME}<registry>/<model>@<stage or alias>, "
                f"e.g. @production): {uri!r}"
            )
        return ParsedUri(parts[0], parts[1], ref=ref)
    parts = rest.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"malformed modelgate URI: {uri!r}")
    return ParsedUri(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A dataset a version was trained, validated or evaluated on."""

    uri: str
    name: str | None = None
    digest: str | None = None
    role: str | None = None  # training | validation | evaluation | ...


@dataclass(frozen=True, slots=True)
class CodeRef:
    """Where the training code lives: a repository, a commit and the path of the
    entry point inside it (any may be missing)."""

    repository: str | None = None
    commit: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        """``<repository>@<commit>#<path>``; "" when neither repository nor commit is
        known (a path alone identifies no code)."""
        if self.repository and self.commit:
            text = f"{self.repository}@{self.commit}"
        else:
            text = self.repository or self.commit or ""
        return f"{text}#{self.path}" if text and self.path else text

    @property
    def node_uri(self) -> str | None:
        """The lineage node's URI: ``git+<repository>@<commit>#<path>`` (parts that are
        missing left out). None without a repository and a commit alike: a bare
        script name (``train.py``) names no code, and two unrelated scripts of the
        same name must never become one node."""
        if not self.repository and not self.commit:
            return None
        uri = f"git+{self.repository or ''}"
        if self.commit:
            uri += f"@{self.commit}"
        return f"{uri}#{self.path}" if self.path else uri

    @property
    def label(self) -> str:
        """Readable: ``train.py @ 9f2c1e7`` or ``<repository> @ 9f2c1e7``."""
        what = self.path.rsplit("/", 1)[-1] if self.path else (self.repository or "")
        return f"{what} @ {self.commit[:12]}" if self.commit and what else what or (self.commit or "")


@dataclass(frozen=True, slots=True)
class VersionFile:
    """One file of a native version that is a directory, as recorded with it."""

    path: str  # inside the directory: "MLmodel", "tokenizer/vocab.txt"
    digest: str  # "sha256:<hex>" of its bytes
    size: int


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where a version serves now: one endpoint (and variant) and its share of traffic."""

    endpoint: str  # Endpoint.uri
    traffic_percent: float | None = None
    updated_at: datetime | None = None
    registry: str | None = None  # the registry that reported it
    variant: str | None = None  # SageMaker production variant, Vertex deployed-model id, ...
    status: str | None = None  # the serving system's own word (InService, Updating, ...)


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logged value of a metric over training: its step and when it was logged."""

    step: int
    value: float
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TrafficShare:
    """One slice of an endpoint's traffic: a version (when the gateway knows which
    catalogue version it is) or only the serving system's variant name."""

    percent: float
    version_uri: str | None = None
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A serving endpoint as its registry or serving system reports it.

    ``uri`` is the serving system's own name for it (a SageMaker endpoint ARN, a
    Vertex endpoint resource name, the name a serving system reported)."""

    uri: str
    name: str
    registry_id: str
    status: str | None = None
    traffic: tuple[TrafficShare, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelCard:
    summary: str | None = None
    intended_use: str | None = None
    limitations: str | None = None
    training_data_summary: str | None = None
    evaluation: str | None = None
    bias_assessment: str | None = None
    warnings: str | None = None

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in _CARD_FIELDS)

    def text(self) -> str:
        """All card text joined, for free-text search."""
        return " ".join(v for name in _CARD_FIELDS if (v := getattr(self, name)))


_CARD_FIELDS = tuple(f.name for f in dataclasses.fields(ModelCard))  # read for every indexed version


@dataclass(frozen=True, slots=True)
class Approval:
    principal: str
    role: str
    at: datetime
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Review:
    principal: str
    comment: str
    at: datetime
    outcome: str | None = None  # APPROVED | CHANGES_REQUESTED | REJECTED (modelgate's reviews)


@dataclass(frozen=True, slots=True)
class Model:
    """A registered model: an MLflow registered model, a SageMaker model package
    group, a Vertex model (all its versions), or a native model."""

    registry_id: str
    name: str
    description: str | None = None
    team: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    native: Mapping[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return model_uri(self.registry_id, self.name)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a model, carrying every field of the version record."""

    registry_id: str
    model_name: str
    version: str  # the registry's own version id, always a string
    stage: Stage = Stage.DRAFT
    native_stage: str | None = None  # the registry's own word for the stage, verbatim
    aliases: tuple[str, ...] = ()
    semver: str | None = None
    description: str | None = None
    artifact_uri: str | None = None
    artifact_digest: str | None = None
    training_code: CodeRef | None = None
    environment: str | None = None  # container image or requirements reference
    training_data: tuple[DatasetRef, ...] = ()  # every dataset, each with its role
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    parent: str | None = None  # URI or registry reference of the version it derives from
    preprocessing: str | None = None
    # The model's input schema as the registry records it (JSON text when it is
    # structured), for versioning rules; filled by the adapter that knows where.
    input_signature: str | None = None
    approvals: tuple[Approval, ...] = ()
    reviews: tuple[Review, ...] = ()
    deployments: tuple[Deployment, ...] = ()
    model_card: ModelCard = field(default_factory=ModelCard)
    tags: Mapping[str, str] = field(default_factory=dict)
    team: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    native: Mapping[str, Any] = field(default_factory=dict)
    # True when the registry's listing omits details that ``get_version`` reads
    # (the gateway then reads them live, through the cache, when asked).
    partial: bool = False

    @property
    def uri(self) -> str:
        return version_uri(self.registry_id, self.model_name, self.version)

    @property
    def model_uri(self) -> str:
        return model_uri(self.registry_id, self.model_name)

    def datasets(self, role: str) -> list[DatasetRef]:
        return [d for d in self.training_data if d.role == role]


def utcnow() -> datetime:
    return datetime.now(UTC)


INSTANT_EXAMPLE = "2026-01-31T00:00:00Z"


def parse_instant(text: str) -> datetime:
    """A client's ISO 8601 time, which must carry a zone: a naive time has no one
    meaning, and stored times are all aware. ``ValueError`` says what is wrong."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 time such as {INSTANT_EXAMPLE}, got {text[:64]!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"needs a time zone (e.g. {INSTANT_EXAMPLE}), got {text[:64]!r}")
    return value


def version_sort_key(version: str) -> tuple[int, str]:
    """Numeric versions order numerically, anything else after them by text."""
    return (int(version), "") if version.isdigit() else (2**62, version)


class Relation(enum.StrEnum):
    TRAINED_ON = "TRAINED_ON"
    VALIDATED_ON = "VALIDATED_ON"
    PRODUCED_BY = "PRODUCED_BY"
    DERIVED_FROM = "DERIVED_FROM"
    DEPLOYED_TO = "DEPLOYED_TO"
    SAME_AS = "SAME_AS"


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A node of the lineage graph, identified by URI (``mg://`` for versions,
    the dataset/run/commit/endpoint's own URI otherwise)."""

    uri: str
    kind: str  # model_version | model | dataset | run | code | deployment
    label: str | None = None
    registry: str | None = None


@dataclass(frozen=True, slots=True)
class LineageEdge:
    source: LineageNode
    target: LineageNode
    relation: Relation


# Dataset roles that mean "checked against", not "learned from". One rule for
# every registry: adapters and the gateway's harvest both derive edges with it.
VALIDATION_ROLES = frozenset({"validation", "validate", "eval", "evaluation", "test", "testing"})


def dataset_relation(role: str | None) -> Relation:
    """The lineage relation a dataset of this role gives its version."""
    return Relation.VALIDATED_ON if (role or "").lower() in VALIDATION_ROLES else Relation.TRAINED_ON


def code_node(code: CodeRef | None) -> LineageNode | None:
    """The lineage node of training code, or None when it identifies no code."""
    if code is None or (uri := code.node_uri) is None:
        return None
    return LineageNode(uri, "code", code.label, None)


def version_node(version: ModelVersion) -> LineageNode:
    return LineageNode(
        version.uri, "model_version", f"{version.model_name} v{version.version}", version.registry_id
    )


def record_edges(version: ModelVersion) -> list[LineageEdge]:
    """Edges that follow from the version record alone, verbatim (adapters use this
    for ``lineage()``; the gateway's harvest normalises and resolves them)."""
    me = version_node(version)
    edges = []
    for ds in version.training_data:
        edges.append(LineageEdge(me, LineageNode(ds.uri, "dataset", ds.name), dataset_relation(ds.role)))
    if version.parent:
        edges.append(LineageEdge(me, LineageNode(version.parent, "model_version"), Relation.DERIVED_FROM))
    if (code := code_node(version.training_code)) is not None:
        edges.append(LineageEdge(me, code, Relation.PRODUCED_BY))
    for d in version.deployments:
        edges.append(LineageEdge(me, LineageNode(d.endpoint, "deployment", d.endpoint), Relation.DEPLOYED_TO))
    return edges
