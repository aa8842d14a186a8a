"""The whole contract between modelgate and a registry adapter.

An adapter is an object the gateway builds once per configured registry and
calls from then on; everything it may be asked is declared in this module.

**Discovery.** A package publishes an ``AdapterFactory`` under the
``modelgate.adapters`` entry-point group (``ENTRY_POINT_GROUP``); the entry
point's name is the registry ``kind`` in the config. The gateway calls
``validate`` at startup (offline: raise ``gateway.config.ConfigError`` naming
the bad key) and ``create`` to build the adapter.

**The core.** Every adapter is a ``RegistryAdapter``: ``registry_id``, ``kind``
and nine methods that list, read, diff (``changes_since``), trace lineage, write
a stage (``set_stage``, with a ``PromotionContext``), report health and close.
Reads answer in the domain vocabulary (``gateway.domain``); failures are
``gateway.errors`` ``RegistryError`` values (``adapters.base.error_for_status``
maps HTTP statuses). The gateway puts a deadline and a circuit breaker around every
coroutine declared here (``gateway.resilience``), so an adapter need not.

**Capabilities.** Everything else is optional and detected with ``isinstance``
against the runtime-checkable protocols below; implement a capability by
defining its members (no registration, no base class needed):

- ``BulkVersionLister`` / ``DetailFiller``: faster full syncs;
- ``BatchVersionReader``: many live version reads in one call;
- ``ServingReader``, ``TrafficController``, ``CandidateDeployer``,
  ``ErrorRateReader``: serving endpoints and canary rollouts;
- ``MetricHistoryReader``: training metric curves;
- ``SourceLinker``, ``EndpointDescriber``: links and error context (pure);
- ``VersionRegistrar``: registries that accept uploads (the native one);
- ``WebhookReceiver``: push notifications of changes;
- ``ReferenceParser`` (on the *factory*): recognise this kind's model
  references in lineage.

``tests/adapters/contract.py`` checks the core and each declared capability
against a real or spec-checked fake server; ``docs/writing-an-adapter.md``
walks through writing one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

from gateway.config import RegistrySettings
from gateway.domain import (
    Approval,
    Endpoint,
    LineageEdge,
    MetricPoint,
    Model,
    ModelVersion,
    Stage,
    TrafficShare,
    VersionFile,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from gateway.store.database import Database

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterContext",
    "AdapterFactory",
    "BatchVersionReader",
    "BulkVersionLister",
    "CandidateDeployer",
    "ChangeSet",
    "DetailFiller",
    "EndpointDescriber",
    "ErrorRateReader",
    "Health",
    "MetricHistoryReader",
    "Page",
    "PromotionContext",
    "ReferenceMatch",
    "ReferenceParser",
    "RegistrationRequest",
    "RegistryAdapter",
    "ServingReader",
    "SourceLinker",
    "TrafficController",
    "TransactionHook",
    "VersionRegistrar",
    "WebhookReceiver",
    "WebhookRejected",
    "capability_protocols",
]

T = TypeVar("T")
ENTRY_POINT_GROUP = "modelgate.adapters"


# --- values that cross the seam ---------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``next_token`` (opaque, handed back) is None on the last."""

    items: list[T]
    next_token: str | None = None


@dataclass(frozen=True)
class ChangeSet:
    """What changed in a registry since a cursor.

    ``changed`` lists model names to re-read; ``None`` means the registry cannot
    say, and the caller must compare a full listing. ``cursor`` is opaque and is
    handed back on the next call.
    """

    cursor: str | None
    changed: list[str] | None
    deleted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str | None = None


# Work the gateway must commit atomically with a registry write (e.g. its audit
# event), possible only for registries that live in the gateway's own database.
TransactionHook = Callable[["AsyncConnection", ModelVersion], Awaitable[None]]


@dataclass(frozen=True)
class PromotionContext:
    """Who writes a stage and why: the one argument besides the version and the
    stage that ``set_stage`` takes.

    ``actor`` is the principal the write is for. An approved promotion also
    carries its record (``request_id``, ``reason``, ``approvals``): a registry
    that can keep it with the change (a Git tag's message) writes it there,
    others leave it to modelgate's audit log.

    ``within`` and ``demoted`` are for registries that live in the gateway's own
    database (the native one): in the write's transaction, ``demoted`` runs with
    each version a PRODUCTION write moved out of PRODUCTION, then ``within`` with
    the written version. Every other registry ignores both; the caller commits its
    own work after ``set_stage`` returns (it can tell: ``within`` never ran)."""

    actor: str
    reason: str | None = None
    approvals: tuple[Approval, ...] = ()
    request_id: str | None = None  # None: not an approved promotion (a demo seed, a test)
    within: TransactionHook | None = None
    demoted: TransactionHook | None = None


@dataclass(frozen=True)
class RegistrationRequest:
    model_name: str
    version: ModelVersion  # registry_id/model_name/version are filled in by the registry
    actor: str
    model_description: str | None = None  # used when the model is new
    # A directory version: its files, recorded with it (``version.artifact_uri`` is
    # then the directory); empty for a version that is one artifact.
    files: tuple[VersionFile, ...] = ()


@dataclass(frozen=True)
class AdapterContext:
    """What the gateway lends an adapter when it builds one."""

    database: Database
    artifacts_dir: Path
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReferenceMatch:
    """A registry's own reference (an ARN, ``models:/name/3``, a resource name)
    to one of its models or versions."""

    model_name: str
    version: str | None = None  # None: the reference names the model
    # The name came case-folded (SageMaker package ARNs): the gateway looks up
    # the catalogue's spelling.
    case_insensitive: bool = False
    # The reference names no server (MLflow ``models:/``) or spells it loosely (a
    # Vertex project number): it holds for the referencing version's own
    # registry, or for the only registry that claims it.
    weak: bool = False
    # Holds for the referencing version's own registry only (a Vertex project
    # spelled by its number, which the config cannot confirm).
    context_only: bool = False


class WebhookRejected(Exception):
    """A webhook delivery that fails verification (answered with HTTP 401)."""


# --- the core ------------------------------------------------------------------


@runtime_checkable
class RegistryAdapter(Protocol):
    """What every adapter does. ``registry_id`` is the config's id, ``kind`` the
    entry point's name."""

    registry_id: str
    kind: str

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """One page of models, in a stable order."""

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """One page of a model's versions, oldest first."""

    async def get_model(self, name: str) -> Model | None:
        """The model, or None if the registry does not have it."""

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        """Every detail of one version, or None if it does not exist."""

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """Models changed since ``cursor`` (None: since the beginning)."""

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """Edges the registry itself knows about this version."""

    async def set_stage(self, version: ModelVersion, stage: Stage, context: PromotionContext) -> ModelVersion:
        """Write an approved stage to the registry in its own vocabulary; return the
        version as the registry now reports it. A PRODUCTION write leaves exactly one
        PRODUCTION version of the model. Never retried blindly. ``context``: who
        asked, the promotion's record and the transaction hooks (``PromotionContext``)."""

    async def health(self) -> Health:
        """Whether the registry answers, with a reason when it does not."""

    async def aclose(self) -> None:
        """Release the adapter's clients (reaches no registry)."""


# --- optional capabilities of an adapter -------------------------------------------


@runtime_checkable
class BulkVersionLister(Protocol):
    """Registries that can list every version of every model in one paged listing
    (far fewer round trips for a full sync than one listing per model).

    A model's versions should come one after another (ordered by model): a full
    sync then indexes each model as soon as the listing has moved past it. A
    model whose versions come apart is still indexed whole, re-read at the end."""

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]: ...


@runtime_checkable
class DetailFiller(Protocol):
    """Optional capability of a ``BulkVersionLister`` whose versions carry details
    the listing itself does not return (MLflow: the run's params, metrics and
    datasets, the logged model's files). A full sync then lists without them
    (``list_all_versions_brief``), so the catalogue is complete at the speed of the
    listing, and fills them in place afterwards (``fill_details``), batch by batch.

    ``fill_details`` returns the versions exactly as ``list_all_versions`` would have
    (same order); ``fills_details`` is False when the adapter reads no details at
    all (then the brief listing is the whole listing). The brief listing may be
    asked for pages ahead of the model listing: it waits for whatever model data
    its versions need (MLflow: aliases) itself. Its versions are ``partial``: a
    read of one before its details are in (or after a details pass that failed)
    completes it through the adapter instead of answering without them."""

    @property
    def fills_details(self) -> bool: ...

    async def list_all_versions_brief(self, page_token: str | None = None) -> Page[ModelVersion]: ...

    async def fill_details(self, versions: Sequence[ModelVersion]) -> list[ModelVersion]: ...


@runtime_checkable
class BatchVersionReader(Protocol):
    """Adapters that read many versions in one registry call: the live reads of a
    page of versions cost one call per registry. Keys are ``(model, version)``;
    a version the registry does not have is left out of the answer."""

    async def get_versions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ModelVersion]: ...


@runtime_checkable
class ServingReader(Protocol):
    """The serving endpoints the registry's platform runs and how their traffic
    splits between versions (SageMaker endpoints, Vertex AI endpoints, KServe
    InferenceServices). ``TrafficShare.version_uri`` names the catalogue version
    (``mg://<registry>/<model>/<version>``) when the adapter can tell which one a
    variant serves."""

    async def list_endpoints(self) -> list[Endpoint]: ...


@runtime_checkable
class TrafficController(Protocol):
    """Read and set how one serving endpoint splits its traffic between variants
    (what a canary rollout shifts). ``endpoint`` is ``Endpoint.uri`` or the
    serving system's plain endpoint name. ``set_traffic`` names every variant with
    its new percentage (they sum to 100) and returns the endpoint as the serving
    system now reports it; setting the split it already has is harmless, so a
    resumed rollout may repeat it."""

    async def endpoint_traffic(self, endpoint: str) -> Endpoint: ...

    async def set_traffic(self, endpoint: str, shares: Sequence[TrafficShare]) -> Endpoint: ...


@runtime_checkable
class CandidateDeployer(Protocol):
    """Make ``version`` a variant of a live endpoint with no traffic yet (weight
    0), so a rollout can shift traffic to it. Returns the endpoint as the serving
    system now reports it."""

    async def deploy_candidate(self, endpoint: str, version: ModelVersion) -> Endpoint: ...


@runtime_checkable
class ErrorRateReader(Protocol):
    """The share of one variant's requests that failed with a server error
    between ``start`` and ``end``, from the serving system's own metrics
    (SageMaker: CloudWatch); None when the variant had no traffic."""

    async def error_rate(
        self, endpoint: str, variant: str, start: datetime, end: datetime
    ) -> float | None: ...


@runtime_checkable
class MetricHistoryReader(Protocol):
    """How a version's metrics moved during training (MLflow's metric history of
    the version's run), read live. ``keys`` None: every metric the version
    carries. Keys the registry has no history for are left out; each series is in
    step order, at most ``limit`` points (the latest)."""

    async def metric_history(
        self, version: ModelVersion, keys: Sequence[str] | None, limit: int
    ) -> dict[str, list[MetricPoint]]: ...


@runtime_checkable
class SourceLinker(Protocol):
    """Where a person finds a model (or one version) in the source registry's own
    UI: MLflow's model page, the SageMaker, Vertex AI or Azure ML console, the Git
    repository. Pure: no I/O, no credentials. None when the registry has no page
    the adapter can name (a local emulator, say)."""

    def source_url(self, model_name: str, version: str | None = None) -> str | None: ...


@runtime_checkable
class EndpointDescriber(Protocol):
    """The address the adapter calls (a base URL, an AWS endpoint, a Git remote),
    so an error about the registry can say where the gateway looked. Without
    credentials, never raising, no I/O."""

    def describe_endpoint(self) -> str | None: ...


@runtime_checkable
class VersionRegistrar(Protocol):
    """Registries that accept new versions through modelgate and live in the
    gateway's database (the native one): ``within`` runs in the registration's
    transaction with the stored version. Such a registry runs the hooks of
    ``PromotionContext`` in ``set_stage`` too."""

    async def register_version(
        self, request: RegistrationRequest, *, within: TransactionHook | None = None
    ) -> ModelVersion: ...

    async def recorded_files(self, model_name: str, version: str) -> list[VersionFile]:
        """The files recorded with a directory version, by path; empty for a
        version that is one artifact (or that does not exist)."""
        ...


@runtime_checkable
class WebhookReceiver(Protocol):
    """Registries that push change notifications to ``POST /hooks/<kind>/<registry-id>``."""

    async def handle_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        """Verify a delivery (raise ``WebhookRejected`` if it fails) and return the
        names of the models to refresh now. Must not change anything itself
        (it reaches no registry: it runs without the deadline)."""


# --- the factory -----------------------------------------------------------------


class AdapterFactory(Protocol):
    """What the ``modelgate.adapters`` entry point names."""

    kind: str

    def validate(self, registry: RegistrySettings) -> None:
        """Check the registry's adapter options; raise ``ConfigError`` naming the key."""

    def create(self, registry: RegistrySettings, context: AdapterContext) -> RegistryAdapter:
        """The adapter for ``registry`` (no I/O yet: the first call connects)."""


@runtime_checkable
class ReferenceParser(Protocol):
    """Optional capability of an ``AdapterFactory``: recognise this kind's own
    model references, so lineage resolves them without the core knowing any
    registry's wire format. Pure: no I/O, cheap enough to run per edge.

    ``is_reference`` and ``parse_reference`` make a factory a parser. The four
    members after them refine how references are spelled; a factory that
    subclasses ``ReferenceParser`` inherits the defaults below, and
    ``adapters.base.reference_parser`` supplies them for one that leaves them out."""

    def is_reference(self, text: str) -> bool:
        """Whether ``text`` has the shape of this kind's model reference, resolvable or not."""

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        """The model or version ``text`` names if ``registry`` (configured with this
        kind) can own it, else None."""

    # URI schemes whose locations mean something only inside one registry of this
    # kind (MLflow's ``runs:``, ``mlflow-artifacts:``): never evidence that two
    # registries hold the same bytes.
    relative_schemes: frozenset[str] = frozenset()

    # This kind's references may spell model names case-folded (SageMaker ARNs):
    # the gateway looks the catalogue's spelling up for any reference into such a
    # registry.
    case_insensitive_references: bool = False

    def bare_reference(self, text: str) -> str | None:
        """A bare name this kind's model cards use for a model (the Hub's
        ``org/name`` in ``base_model``) as this kind's full reference; read only
        for card values, never for free text. None: not such a name."""
        return None

    def canonical_reference(self, text: str) -> str | None:
        """The one spelling of this kind's reference when no configured registry
        owns it (an external node), so its spellings meet at one node. None: as given."""
        return None


# Factory-side protocols: what the entry point names, and what it may parse.
_FACTORY_PROTOCOLS = ("AdapterFactory", "ReferenceParser")


def capability_protocols() -> tuple[type, ...]:
    """The core protocol and every optional capability of an adapter (not of its
    factory), read off this module: what ``gateway.resilience`` guards and the
    contract suite checks. A protocol added here is included without a list to keep."""
    found = (globals()[name] for name in __all__ if name not in _FACTORY_PROTOCOLS)
    return tuple(obj for obj in found if isinstance(obj, type) and getattr(obj, "_is_protocol", False))
