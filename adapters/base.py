"""The one seam between modelgate and a registry.

Every registry kind implements ``RegistryAdapter``; the catalogue, lineage and
governance layers only talk to this protocol, and a fake registry plugs in here.
Adapters are discovered through the ``modelgate.adapters`` entry-point group, so
a new registry kind needs no change to the core: publish a package whose entry
point names an ``AdapterFactory``.

Shared plumbing every adapter uses (HTTP, auth, retries, paging, error
translation) lives in ``adapters.toolkit``; its names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

# The shared helpers moved to adapters.toolkit; re-exported for plugins written
# against this module.
from adapters.toolkit.auth import (
    HTTP_STATUS_ERRORS as HTTP_STATUS_ERRORS,
)
from adapters.toolkit.auth import (
    HTTP_TIMEOUTS as HTTP_TIMEOUTS,
)
from adapters.toolkit.auth import (
    HTTP_TRANSPORT_ERRORS as HTTP_TRANSPORT_ERRORS,
)
from adapters.toolkit.auth import (
    BearerTokenAuth as BearerTokenAuth,
)
from adapters.toolkit.auth import (
    token_from_response as token_from_response,
)
from adapters.toolkit.blocking import run_blocking as run_blocking
from adapters.toolkit.errors import (
    error_for_status as error_for_status,
)
from adapters.toolkit.errors import (
    retry_after_seconds as retry_after_seconds,
)
from adapters.toolkit.http import (
    DEFAULT_MAX_RESPONSE_BYTES as DEFAULT_MAX_RESPONSE_BYTES,
)
from adapters.toolkit.http import (
    ErrorTranslator as ErrorTranslator,
)
from adapters.toolkit.http import (
    JsonHttpClient as JsonHttpClient,
)
from adapters.toolkit.http import (
    ResponseTooLarge as ResponseTooLarge,
)
from adapters.toolkit.http import (
    current_response_cap as current_response_cap,
)
from adapters.toolkit.http import (
    message_error_translator as message_error_translator,
)
from adapters.toolkit.http import (
    response_cap as response_cap,
)
from adapters.toolkit.http import (
    send_capped as send_capped,
)
from adapters.toolkit.paging import (
    decode_token as decode_token,
)
from adapters.toolkit.paging import (
    encode_token as encode_token,
)
from adapters.toolkit.paging import (
    iterate_page_items as iterate_page_items,
)
from adapters.toolkit.paging import (
    iterate_pages as iterate_pages,
)
from adapters.toolkit.paging import (
    listing as listing,
)
from adapters.toolkit.paging import (
    listing_token as listing_token,
)
from adapters.toolkit.paging import (
    record as record,
)
from adapters.toolkit.retry import (
    RetryPolicy as RetryPolicy,
)
from adapters.toolkit.retry import (
    is_retryable as is_retryable,
)
from adapters.toolkit.retry import (
    retry_read as retry_read,
)
from adapters.toolkit.timestamps import to_utc as to_utc
from gateway.config import ConfigError, RegistrySettings, did_you_mean
from gateway.domain import (
    Approval,
    Endpoint,
    LineageEdge,
    MetricPoint,
    Model,
    ModelVersion,
    Stage,
    TrafficShare,
)
from gateway.errors import RegistryError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from gateway.store.database import Database

T = TypeVar("T")
ENTRY_POINT_GROUP = "modelgate.adapters"


@dataclass(frozen=True)
class Page(Generic[T]):
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


@runtime_checkable
class RegistryAdapter(Protocol):
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

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """Write an approved stage to the registry in its own vocabulary; return the
        version as the registry now reports it. Never retried blindly."""

    async def health(self) -> Health: ...

    async def aclose(self) -> None: ...


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
class ServingReader(Protocol):
    """Optional capability: the serving endpoints the registry's platform runs and
    how their traffic splits between versions (SageMaker endpoints, Vertex AI
    endpoints, KServe InferenceServices). ``TrafficShare.version_uri`` names the
    catalogue version (``mg://<registry>/<model>/<version>``) when the adapter can
    tell which one a variant serves."""

    async def list_endpoints(self) -> list[Endpoint]: ...


@runtime_checkable
class TrafficController(Protocol):
    """Optional capability: read and set how one serving endpoint splits its traffic
    between variants (what a canary rollout shifts). ``endpoint`` is
    ``Endpoint.uri`` or the serving system's plain endpoint name. ``set_traffic``
    names every variant with its new percentage (they sum to 100) and returns
    the endpoint as the serving system now reports it; setting the split it
    already has is harmless, so a resumed rollout may repeat it."""

    async def endpoint_traffic(self, endpoint: str) -> Endpoint: ...

    async def set_traffic(self, endpoint: str, shares: Sequence[TrafficShare]) -> Endpoint: ...


@runtime_checkable
class CandidateDeployer(Protocol):
    """Optional capability: make ``version`` a variant of a live endpoint with no
    traffic yet (weight 0), so a rollout can shift traffic to it. Returns the
    endpoint as the serving system now reports it."""

    async def deploy_candidate(self, endpoint: str, version: ModelVersion) -> Endpoint: ...


@runtime_checkable
class ErrorRateReader(Protocol):
    """Optional capability: the share of one variant's requests that failed with
    a server error between ``start`` and ``end``, from the serving system's own
    metrics (SageMaker: CloudWatch); None when the variant had no traffic."""

    async def error_rate(
        self, endpoint: str, variant: str, start: datetime, end: datetime
    ) -> float | None: ...


@runtime_checkable
class MetricHistoryReader(Protocol):
    """Optional capability: how a version's metrics moved during training (MLflow's
    metric history of the version's run), read live. ``keys`` None: every metric the
    version carries. Keys the registry has no history for are left out; each series
    is in step order, at most ``limit`` points (the latest)."""

    async def metric_history(
        self, version: ModelVersion, keys: Sequence[str] | None, limit: int
    ) -> dict[str, list[MetricPoint]]: ...


@runtime_checkable
class SourceLinker(Protocol):
    """Optional capability: where a person finds a model (or one version) in the
    source registry's own UI: MLflow's model page, the SageMaker, Vertex AI or Azure
    ML console, the Git repository. Pure: no I/O, no credentials. None when the
    registry has no page the adapter can name (a local emulator, say)."""

    def source_url(self, model_name: str, version: str | None = None) -> str | None: ...


def source_url_of(adapter: object, model_name: str, version: str | None = None) -> str | None:
    """The adapter's link into its registry's UI, if it gives one (``SourceLinker``)."""
    link = getattr(adapter, "source_url", None)
    if link is None:
        return None
    try:
        url = link(model_name, version)
    except Exception:  # a link is a convenience: it must never break an answer
        return None
    return str(url) if url else None


@runtime_checkable
class EndpointDescriber(Protocol):
    """Optional capability: the address the adapter calls (a base URL, an AWS
    endpoint, a Git remote), so an error about the registry can say where the
    gateway looked. Without credentials, never raising, no I/O."""

    def describe_endpoint(self) -> str | None: ...


def endpoint_of(adapter: object) -> str | None:
    """The endpoint an adapter calls, if it says (``EndpointDescriber``)."""
    describe = getattr(adapter, "describe_endpoint", None)
    if describe is None:
        return None
    try:
        endpoint = describe()
    except Exception:  # a description must never turn an error report into a fault
        return None
    return str(endpoint) if endpoint else None


@dataclass(frozen=True)
class RegistrationRequest:
    model_name: str
    version: ModelVersion  # registry_id/model_name/version are filled in by the registry
    actor: str
    model_description: str | None = None  # used when the model is new


# Work the gateway must commit atomically with a registry write (e.g. its audit
# event), possible only for registries that live in the gateway's own database.
TransactionHook = Callable[["AsyncConnection", ModelVersion], Awaitable[None]]


@runtime_checkable
class VersionRegistrar(Protocol):
    """Registries that accept new versions through modelgate and live in the
    gateway's database (the native one): their writes can carry a hook that runs
    in the same transaction."""

    async def register_version(
        self, request: RegistrationRequest, *, within: TransactionHook | None = None
    ) -> ModelVersion: ...

    async def set_stage(
        self,
        version: ModelVersion,
        stage: Stage,
        *,
        actor: str,
        within: TransactionHook | None = None,
        demoted: TransactionHook | None = None,
    ) -> ModelVersion:
        """In the write's transaction, ``demoted`` runs with each version a PRODUCTION
        write moved out of PRODUCTION (one PRODUCTION version per model), then
        ``within`` with the written version."""


@dataclass(frozen=True)
class PromotionContext:
    """The governance record behind a write-through: which request, who asked,
    who approved. Registries that can keep it with the change (a Git tag's
    message) receive it through ``PromotionRecorder``."""

    request_id: str
    requested_by: str
    reason: str | None = None
    approvals: tuple[Approval, ...] = ()


@runtime_checkable
class PromotionRecorder(Protocol):
    """Optional: write an approved promotion's stage together with its record."""

    async def set_stage_for_promotion(
        self, version: ModelVersion, stage: Stage, *, context: PromotionContext
    ) -> ModelVersion: ...


class WebhookRejected(Exception):
    """A webhook delivery that fails verification (answered with HTTP 401)."""


@runtime_checkable
class WebhookReceiver(Protocol):
    """Registries that push change notifications to ``POST /hooks/<kind>/<registry-id>``."""

    async def handle_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        """Verify a delivery (raise ``WebhookRejected`` if it fails) and return the
        names of the models to refresh now. Must not change anything itself."""


@dataclass(frozen=True)
class AdapterContext:
    """What the gateway lends an adapter when it builds one."""

    database: Database
    artifacts_dir: Path
    environ: Mapping[str, str] = field(default_factory=dict)


class AdapterFactory(Protocol):
    kind: str

    def validate(self, registry: RegistrySettings) -> None:
        """Check the registry's adapter options; raise ``ConfigError`` naming the key."""

    def create(self, registry: RegistrySettings, context: AdapterContext) -> RegistryAdapter: ...


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


@runtime_checkable
class ReferenceParser(Protocol):
    """Optional capability of an ``AdapterFactory``: recognise this kind's own
    model references, so lineage resolves them without the core knowing any
    registry's wire format. Pure: no I/O, cheap enough to run per edge."""

    def is_reference(self, text: str) -> bool:
        """Whether ``text`` has the shape of this kind's model reference, resolvable or not."""

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        """The model or version ``text`` names if ``registry`` (configured with this
        kind) can own it, else None."""


# Further optional attributes of a ``ReferenceParser`` factory, read with getattr
# so that factories without them keep working:
#   relative_schemes: frozenset[str]  URI schemes whose locations mean something
#       only inside one registry of this kind (MLflow's ``runs:``,
#       ``mlflow-artifacts:``): never evidence that two registries hold the same bytes.
#   case_insensitive_references: bool  this kind's references may spell model
#       names case-folded (SageMaker ARNs): the gateway looks the catalogue's
#       spelling up for any reference into such a registry.
#   bare_reference(text) -> str | None  a bare name this kind's model cards use for
#       a model (the Hub's ``org/name`` in ``base_model``) as this kind's full
#       reference; read only for card values, never for free text.
#   canonical_reference(text) -> str | None  the one spelling of this kind's
#       reference when no configured registry owns it (an external node), so its
#       spellings meet at one node.


def reference_parser(factory: AdapterFactory) -> ReferenceParser | None:
    """The factory's ``ReferenceParser`` capability, or None (also when the kind's
    module cannot load: its references then stay unresolved, as if unknown)."""
    if isinstance(factory, _LazyFactory):
        loaded = factory.loaded()
        if loaded is None:
            return None
        factory = loaded
    return factory if isinstance(factory, ReferenceParser) else None


def load_factories() -> dict[str, AdapterFactory]:
    """Every adapter kind installed, by name, from the ``modelgate.adapters`` group.

    A kind whose module fails to import (e.g. its optional extra is not
    installed) is reported only when a registry of that kind is configured.
    """
    return {ep.name: _LazyFactory(ep.name, ep.load) for ep in entry_points(group=ENTRY_POINT_GROUP)}


class _LazyFactory:
    def __init__(self, kind: str, load: Callable[[], Any]):
        self.kind = kind
        self._load = load
        self._factory: AdapterFactory | None = None

    def _resolve(self, registry: RegistrySettings) -> AdapterFactory:
        if self._factory is None:
            try:
                self._factory = self._load()
            except ImportError as exc:
                raise ConfigError(
                    f"{registry.key}.kind",
                    f"the {self.kind!r} adapter cannot load ({exc}); "
                    f"install its extra: pip install 'modelgate[{self.kind}]'",
                ) from None
        assert self._factory is not None
        return self._factory

    def loaded(self) -> AdapterFactory | None:
        """The real factory, or None when its module cannot be imported."""
        if self._factory is None:
            try:
                self._factory = self._load()
            except ImportError:
                return None
        return self._factory

    def validate(self, registry: RegistrySettings) -> None:
        self._resolve(registry).validate(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> RegistryAdapter:
        return self._resolve(registry).create(registry, context)


def factory_for(registry: RegistrySettings, factories: Mapping[str, AdapterFactory]) -> AdapterFactory:
    factory = factories.get(registry.kind)
    if factory is None:
        known = ", ".join(sorted(factories)) or "none installed"
        hint = did_you_mean(registry.kind, factories)
        raise ConfigError(
            f"{registry.key}.kind", f"unknown registry kind {registry.kind!r}{hint} (known: {known})"
        )
    return factory


def create_adapter(
    registry: RegistrySettings, factories: Mapping[str, AdapterFactory], context: AdapterContext
) -> RegistryAdapter:
    """The registry's adapter, its HTTP clients capped at its ``max_response_bytes``."""
    with response_cap(registry.max_response_bytes):
        return factory_for(registry, factories).create(registry, context)


async def archive_other_production(
    adapter: RegistryAdapter, promoted: ModelVersion, archive: Callable[[ModelVersion], Awaitable[object]]
) -> None:
    """Keep one PRODUCTION version per model in a registry that would hold several
    (any number of Approved SageMaker packages, a stage property per version): after
    ``promoted`` was written PRODUCTION, ``archive`` every other version of its model
    that still reads PRODUCTION, as MLflow's ``archive_existing_versions`` does. If
    one of those writes fails, the error's ``extensions.applied`` says that the
    promotion itself took effect (promoting it again finishes the job)."""
    listing = iterate_pages(lambda t: adapter.list_versions(promoted.model_name, t))
    others = [v async for v in listing if v.version != promoted.version and v.stage is Stage.PRODUCTION]
    try:
        for other in others:
            await archive(other)
    except RegistryError as exc:
        exc.extensions["applied"] = [f"{promoted.uri} {Stage.PRODUCTION.value}"]
        raise
