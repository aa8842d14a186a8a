"""Typed results: what the gateway answered, as frozen dataclasses with short,
readable ``repr``s for notebooks (the URI and what matters first, never a wall
of nested dicts). Each keeps the answer it was built from in ``raw`` for
``--json`` output and fields this version of the client does not know yet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import pandas

V = TypeVar("V", float, str)


class KeyValues(Mapping[str, V], Generic[V]):
    """A version's metrics or params: a read-only mapping from key to value, with
    ``to_dict()`` and ``to_pandas()`` (pandas is imported only then)."""

    def __init__(self, items: Mapping[str, V] | None = None, *, kind: str = "metrics"):
        self._items: dict[str, V] = dict(items or {})
        self._kind = kind

    def __getitem__(self, key: str) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)

    def __eq__(self, other: object) -> bool:
        return dict(self._items) == (dict(other) if isinstance(other, Mapping) else other)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._items.items())))

    def to_dict(self) -> dict[str, V]:
        return dict(self._items)

    def to_pandas(self) -> pandas.DataFrame:
        """One row per key (the index), one column ``value``."""
        pd = _pandas()
        frame = pd.DataFrame({"value": list(self._items.values())}, index=list(self._items.keys()))
        frame.index.name = "key"
        return frame


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "to_pandas() needs pandas, which modelgate-client does not install: "
            "pip install pandas (or modelgate-client[pandas])"
        ) from None
    return pandas


def _pairs(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {i["key"]: i["value"] for i in items or ()}


@dataclass(frozen=True)
class Violation:
    policy: str
    severity: str
    message: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Violation:
        return cls(data["policy"], data["severity"], data["message"])

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"[{self.severity}] {self.policy}: {self.message}"


@dataclass(frozen=True)
class Compliance:
    uri: str
    compliant: bool
    violations: tuple[Violation, ...] = ()

    @classmethod
    def from_json(cls, uri: str, data: Mapping[str, Any]) -> Compliance:
        return cls(uri, bool(data["compliant"]), tuple(Violation.from_json(v) for v in data["violations"]))

    @property
    def errors(self) -> tuple[Violation, ...]:
        """The error-severity violations: what blocks a promotion."""
        return tuple(v for v in self.violations if v.is_error)


@dataclass(frozen=True)
class DatasetRef:
    uri: str
    name: str | None = None
    digest: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class ArtifactFile:
    path: str
    size: int
    digest: str


@dataclass(frozen=True, repr=False)
class ModelVersion:
    """One version of a model, in any registry."""

    uri: str
    model_uri: str
    registry: str
    model: str
    version: str
    stage: str
    semver: str | None
    native_stage: str | None
    aliases: tuple[str, ...]
    description: str | None
    artifact_uri: str | None
    artifact_digest: str | None
    parent: str | None
    metrics: KeyValues[float]
    params: KeyValues[str]
    tags: dict[str, str]
    datasets: tuple[DatasetRef, ...]
    model_card: dict[str, str | None]
    files: tuple[ArtifactFile, ...]
    compliance: Compliance | None
    created_at: str | None
    raw: dict[str, Any] = field(compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelVersion:
        model = data.get("model") or {}
        compliance = data.get("compliance")
        return cls(
            uri=data["uri"],
            model_uri=model.get("uri", ""),
            registry=(model.get("registry") or {}).get("id", ""),
            model=model.get("name", ""),
            version=data["version"],
            stage=data["stage"],
            semver=data.get("semver"),
            native_stage=data.get("nativeStage"),
            aliases=tuple(data.get("aliases") or ()),
            description=data.get("description"),
            artifact_uri=data.get("artifactUri"),
            artifact_digest=data.get("artifactDigest"),
            parent=(data.get("parent") or {}).get("uri"),
            metrics=KeyValues(_pairs(data.get("metrics")), kind="metrics"),
            params=KeyValues(_pairs(data.get("hyperparameters")), kind="params"),
            tags=_pairs(data.get("tags")),
            datasets=tuple(DatasetRef(**d) for d in data.get("trainingData") or ()),
            model_card=dict(data.get("modelCard") or {}),
            files=tuple(ArtifactFile(**f) for f in data.get("files") or ()),
            compliance=Compliance.from_json(data["uri"], compliance) if compliance else None,
            created_at=data.get("createdAt"),
            raw=data,
        )

    @property
    def hyperparameters(self) -> KeyValues[str]:
        return self.params

    def __repr__(self) -> str:
        parts = [repr(self.uri), f"stage={self.stage}"]
        if self.semver:
            parts.append(f"semver={self.semver!r}")
        if self.aliases:
            parts.append(f"aliases={list(self.aliases)!r}")
        if self.metrics:
            parts.append(f"metrics={self.metrics!r}")
        if self.files:
            parts.append(f"files={len(self.files)}")
        if self.compliance is not None and not self.compliance.compliant:
            parts.append(f"violations={len(self.compliance.errors)}")
        return f"ModelVersion({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class Model:
    uri: str
    registry: str
    name: str
    description: str | None
    team: str | None
    tags: dict[str, str]
    latest_version: str | None
    latest_stage: str | None
    raw: dict[str, Any] = field(compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Model:
        latest = data.get("latestVersion") or {}
        return cls(
            uri=data["uri"],
            registry=(data.get("registry") or {}).get("id", ""),
            name=data["name"],
            description=data.get("description"),
            team=data.get("team"),
            tags=_pairs(data.get("tags")),
            latest_version=latest.get("uri"),
            latest_stage=latest.get("stage"),
            raw=data,
        )

    def __repr__(self) -> str:
        latest = f", latest={self.latest_version!r} ({self.latest_stage})" if self.latest_version else ""
        return f"Model({self.uri!r}, team={self.team!r}{latest})"


@dataclass(frozen=True, repr=False)
class SearchResults:
    """One page of a search, with the total count of the whole search."""

    items: tuple[Model | ModelVersion, ...]
    total: int
    next_cursor: str | None

    def __iter__(self) -> Iterator[Model | ModelVersion]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Model | ModelVersion:
        return self.items[i]

    def __repr__(self) -> str:
        shown = "\n".join(f"  {item!r}" for item in self.items)
        more = f"\n  … {self.total - len(self.items)} more" if self.total > len(self.items) else ""
        return f"SearchResults({len(self.items)} of {self.total})\n{shown}{more}"


@dataclass(frozen=True)
class Approval:
    principal: str
    role: str
    comment: str | None
    at: str


@dataclass(frozen=True, repr=False)
class PromotionRequest:
    id: str
    version_uri: str
    from_stage: str
    target_stage: str
    status: str  # PENDING | BLOCKED | REJECTED | APPLIED | FAILED
    reason: str | None
    requested_by: str
    required_approvals: tuple[str, ...]  # roles still missing
    approvals: tuple[Approval, ...]
    rejection: Approval | None
    violations: tuple[Violation, ...]
    error: str | None
    raw: dict[str, Any] = field(compare=False)

    FINAL = frozenset({"BLOCKED", "REJECTED", "APPLIED", "FAILED"})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromotionRequest:
        rejection = data.get("rejection")
        return cls(
            id=data["id"],
            version_uri=data["versionUri"],
            from_stage=data["fromStage"],
            target_stage=data["targetStage"],
            status=data["status"],
            reason=data.get("reason"),
            requested_by=data["requestedBy"],
            required_approvals=tuple(data.get("requiredApprovals") or ()),
            approvals=tuple(Approval(**a) for a in data.get("approvals") or ()),
            rejection=Approval(**rejection) if rejection else None,
            violations=tuple(Violation.from_json(v) for v in data.get("violations") or ()),
            error=data.get("error"),
            raw=data,
        )

    @property
    def done(self) -> bool:
        """True once the request will not change by itself (FAILED can be retried)."""
        return self.status in self.FINAL

    def explain(self) -> str:
        """Why it ended as it did, in one line."""
        if self.status == "BLOCKED":
            errors = [str(v) for v in self.violations if v.is_error]
            return "blocked by policy: " + "; ".join(errors or [str(v) for v in self.violations])
        if self.status == "REJECTED" and self.rejection is not None:
            return f"rejected by {self.rejection.principal}: {self.rejection.comment or ''}".rstrip(": ")
        if self.status == "FAILED":
            return f"the registry refused the stage change: {self.error or 'no detail'}"
        if self.status == "PENDING":
            return f"waiting for {', '.join(self.required_approvals) or 'the write-through'}"
        return f"{self.status.lower()}: {self.version_uri} is {self.target_stage}"

    def __repr__(self) -> str:
        waiting = f", waiting_for={list(self.required_approvals)!r}" if self.status == "PENDING" else ""
        return (
            f"PromotionRequest({self.id!r}, {self.version_uri!r} {self.from_stage}->{self.target_stage}, "
            f"status={self.status}{waiting})"
        )


@dataclass(frozen=True)
class LineageNode:
    uri: str
    kind: str
    label: str | None = None
    registry: str | None = None


@dataclass(frozen=True)
class LineageEdge:
    source: str
    target: str
    relation: str


@dataclass(frozen=True, repr=False)
class LineageGraph:
    root: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]
    truncated: bool
    raw: dict[str, Any] = field(compare=False)

    @classmethod
    def from_json(cls, root: str, data: dict[str, Any]) -> LineageGraph:
        return cls(
            root=root,
            nodes=tuple(LineageNode(**n) for n in data["nodes"]),
            edges=tuple(LineageEdge(**e) for e in data["edges"]),
            truncated=bool(data.get("truncated")),
            raw=data,
        )

    def __repr__(self) -> str:
        return f"LineageGraph({self.root!r}, nodes={len(self.nodes)}, edges={len(self.edges)})"


@dataclass(frozen=True)
class ImpactPath:
    uri: str
    path: tuple[str, ...]
    relations: tuple[str, ...]
    depth: int
    stage: str | None


@dataclass(frozen=True, repr=False)
class Impact:
    """Every version downstream of a dataset, code, model or version, nearest first."""

    root: str
    versions: tuple[ImpactPath, ...]
    truncated: bool
    raw: dict[str, Any] = field(compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Impact:
        return cls(
            root=data["root"],
            versions=tuple(
                ImpactPath(
                    uri=v["uri"],
                    path=tuple(v["path"]),
                    relations=tuple(v["relations"]),
                    depth=v["depth"],
                    stage=(v.get("version") or {}).get("stage"),
                )
                for v in data["versions"]
            ),
            truncated=bool(data["truncated"]),
            raw=data,
        )

    def __repr__(self) -> str:
        return f"Impact({self.root!r}, versions={[v.uri for v in self.versions]!r})"


@dataclass(frozen=True)
class UploadedFile:
    """One file in the model store: where it really is, its digest and size."""

    path: str  # inside the version
    uri: str
    digest: str
    size: int


@dataclass(frozen=True)
class PulledFile:
    path: str  # where it was written
    digest: str
    size: int


@dataclass(frozen=True)
class RolloutStep:
    percent: float
    started_at: str | None = None
    finished_at: str | None = None
    error_rate: float | None = None
    passed: bool | None = None


@dataclass(frozen=True, repr=False)
class Rollout:
    id: str
    status: str  # PENDING_APPROVAL | RUNNING | SUCCEEDED | ROLLED_BACK | ABORTED | FAILED
    version_uri: str
    endpoint: str
    current_percent: float
    steps: tuple[RolloutStep, ...]
    reason: str | None
    promotion_id: str | None
    raw: dict[str, Any] = field(compare=False)

    FINAL = frozenset({"SUCCEEDED", "ROLLED_BACK", "ABORTED", "FAILED"})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rollout:
        return cls(
            id=data["id"],
            status=data["status"],
            version_uri=data["version"]["uri"],
            endpoint=data["endpoint"]["uri"],
            current_percent=float(data["currentPercent"]),
            steps=tuple(
                RolloutStep(
                    percent=s["percent"],
                    started_at=s.get("startedAt"),
                    finished_at=s.get("finishedAt"),
                    error_rate=s.get("errorRate"),
                    passed=s.get("passed"),
                )
                for s in data["steps"]
            ),
            reason=data.get("reason"),
            promotion_id=(data.get("promotion") or {}).get("id"),
            raw=data,
        )

    @property
    def done(self) -> bool:
        return self.status in self.FINAL

    def __repr__(self) -> str:
        return (
            f"Rollout({self.id!r}, {self.version_uri!r} on {self.endpoint!r}, status={self.status}, "
            f"at={self.current_percent:g}%)"
        )
