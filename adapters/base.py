"""The one seam between modelgate and a registry.

Every registry kind implements ``RegistryAdapter``; the catalogue, lineage and
governance layers only talk to this protocol, and a fake registry plugs in here.
Adapters are discovered through the ``modelgate.adapters`` entry-point group, so
a new registry kind needs no change to the core: publish a package whose entry
point names an ``AdapterFactory``.

Shared helpers every adapter uses live here once: time normalisation, paging,
retrying idempotent reads, and a JSON-over-HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from gateway.config import ConfigError, RegistrySettings, SecretSource, did_you_mean
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
from gateway.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryForbidden,
    RegistryNotFound,
    RegistryRejected,
    RegistryUnavailable,
)
from gateway.tokens import decode_token as decode_token  # re-exported: adapters page with these
from gateway.tokens import encode_token as encode_token

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


# --- time ------------------------------------------------------------------


def to_utc(value: datetime | str | int | float | None, *, epoch_unit: str = "ms") -> datetime | None:
    """Normalise a registry timestamp to an aware UTC datetime.

    Registries disagree: MLflow sends epoch milliseconds, Vertex RFC 3339 text
    (with ``Z`` and up to nanosecond fractions), boto3 aware datetimes.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        seconds = float(value) / (1000.0 if epoch_unit == "ms" else 1.0)
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # Python parses at most microseconds; RFC 3339 allows nanoseconds
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --- paging ----------------------------------------------------------------


async def iterate_pages(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> AsyncIterator[T]:
    """Every item of a paged listing, following next tokens until the end."""
    async for items in iterate_page_items(fetch):
        for item in items:
            yield item


async def iterate_page_items(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> AsyncIterator[list[T]]:
    """Each page's items of a paged listing as it arrives (for consumers that work a
    page at a time, e.g. a sync that indexes while the next page is read)."""
    token: str | None = None
    seen_tokens: set[str] = set()
    while True:
        page = await fetch(token)
        yield page.items
        if not page.next_token:
            return
        if page.next_token in seen_tokens:  # a registry that loops would hang a sync forever
            raise RegistryError("?", f"paging token repeated: {page.next_token!r}")
        seen_tokens.add(page.next_token)
        token = page.next_token


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


# --- retries ---------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff inside an overall deadline, for idempotent reads."""

    attempts: int = 4
    deadline_seconds: float = 10.0
    initial_wait: float = 0.1
    max_wait: float = 2.0


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RegistryError):
        return exc.retryable
    return isinstance(exc, httpx.TransportError)


def _backoff(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    """Jittered exponential waits, or longer when the registry said how long
    (``retryAfterSeconds``, from ``Retry-After`` or a rate-limit header): a throttled
    registry is asked again only once its window reopens, never past the deadline."""
    jittered = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        pause = jittered(state)
        failure = state.outcome.exception() if state.outcome is not None else None
        hinted = failure.extensions.get("retryAfterSeconds") if isinstance(failure, RegistryError) else None
        if isinstance(hinted, int | float) and hinted > pause:
            remaining = policy.deadline_seconds - (state.seconds_since_start or 0.0)
            pause = min(float(hinted), max(remaining, 0.0))
        return pause

    return wait


async def retry_read(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run an idempotent read, retrying transient failures. Writes must not use this."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=_backoff(policy),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline_seconds),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover


# --- errors ----------------------------------------------------------------


def error_for_status(
    registry_id: str,
    status: int,
    text: str,
    *,
    registry_code: str | None = None,
    retry_after: float | None = None,
    **extensions: Any,
) -> RegistryError:
    """The one error taxonomy every adapter maps its registry's answers to, with
    the same extension keys (``registry``, ``registryCode``: the registry's own
    error code, ``retryAfterSeconds``) and ``status`` (the HTTP status) on the
    error itself: 401 → ``RegistryAuthError``, 403 →
    ``RegistryForbidden``, 404 → ``RegistryNotFound``, 408/429/5xx →
    ``RegistryUnavailable`` (retryable), any other 4xx → ``RegistryRejected``.
    Timeouts and refused connections are ``RegistryUnavailable`` too
    (``JsonHttpClient`` raises those itself)."""
    extra: dict[str, Any] = dict(extensions)
    if registry_code:
        extra["registryCode"] = registry_code
    if retry_after is not None:
        extra["retryAfterSeconds"] = retry_after
    if status == 401:
        return RegistryAuthError(registry_id, text, status=status, **extra)
    if status == 403:
        return RegistryForbidden(registry_id, text, status=status, **extra)
    if status == 404:
        return RegistryNotFound(registry_id, text, status=status, **extra)
    if status in (408, 429) or status >= 500:
        return RegistryUnavailable(registry_id, text, status=status, **extra)
    return RegistryRejected(registry_id, text, status=status, **extra)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (delta-seconds; an HTTP date counts as unknown)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


# --- OAuth tokens --------------------------------------------------------------


def _with_httpx2(name: str) -> tuple[type[Any], ...]:
    """``httpx.<name>`` and, when installed, ``httpx2.<name>``: authlib's httpx
    integration switches to the ``httpx2`` fork whenever it is importable (the
    ``huggingface-hub`` client brings it), and then raises that fork's errors."""
    own = getattr(httpx, name)
    try:
        import httpx2  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return (own,)
    return (own, getattr(httpx2, name))


# What an OAuth client built on authlib raises, whichever httpx it runs on; catch
# these in this order (a timeout is a transport error too).
HTTP_STATUS_ERRORS: tuple[type[httpx.HTTPStatusError], ...] = _with_httpx2("HTTPStatusError")
HTTP_TIMEOUTS: tuple[type[httpx.TimeoutException], ...] = _with_httpx2("TimeoutException")
HTTP_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = _with_httpx2("TransportError")


def token_from_response(
    registry_id: str, who: str, token: Mapping[str, Any], started: float, margin_seconds: float
) -> tuple[str, float]:
    """The access token of an OAuth token-endpoint answer and when to refresh it:
    ``margin_seconds`` (at most a tenth of its life) before ``expires_in`` runs out,
    counted from ``started``. An answer without a token is ``RegistryAuthError``."""
    access_token = token.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise RegistryAuthError(registry_id, f"{who} answered without an access_token")
    try:
        lifetime = float(token.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600.0
    return access_token, started + lifetime - min(margin_seconds, lifetime / 10)


# --- answers of the documented shape ------------------------------------------


def listing(
    registry_id: str, body: Any, key: str, *, what: str, always_sent: bool = False
) -> list[dict[str, Any]]:
    """The items of a listing answer ``{"<key>": [{...}, ...], ...}``.

    Registries that omit empty fields (MLflow, Google APIs) leave ``key`` out when
    there is nothing to list, so a missing key is an empty page unless the registry
    documents it as ``always_sent``. Anything else off the documented shape (a body
    that is not an object, ``key`` not a list, an item not an object) is
    ``RegistryUnavailable``, never an empty page: a sync takes an empty page to mean
    the registry's models were deleted."""
    if not isinstance(body, dict):
        raise _off_shape(registry_id, what, f"a JSON {type(body).__name__} instead of an object")
    if key not in body:
        if always_sent:
            raise _off_shape(registry_id, what, f"an object without {key!r}")
        return []
    items = body[key]
    if items is None and not always_sent:
        return []
    if not isinstance(items, list):
        raise _off_shape(registry_id, what, f"{key!r} as a JSON {type(items).__name__} instead of a list")
    if not all(isinstance(item, dict) for item in items):
        raise _off_shape(registry_id, what, f"{key!r} holding something other than objects")
    return items


def record(registry_id: str, body: Any, key: str, *, what: str) -> dict[str, Any]:
    """The one object a get answer ``{"<key>": {...}}`` always carries."""
    if not isinstance(body, dict):
        raise _off_shape(registry_id, what, f"a JSON {type(body).__name__} instead of an object")
    found = body.get(key)
    if not isinstance(found, dict):
        raise _off_shape(registry_id, what, f"no {key!r} object")
    return found


def listing_token(registry_id: str, body: Mapping[str, Any], key: str, *, what: str) -> str | None:
    """The next page's token of a listing answer (absent or empty: the last page)."""
    token = body.get(key)
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise _off_shape(registry_id, what, f"{key!r} as a JSON {type(token).__name__} instead of a string")
    return token


def _off_shape(registry_id: str, what: str, found: str) -> RegistryUnavailable:
    return RegistryUnavailable(
        registry_id, f"answered {what} with {found}: not the documented shape", shape="unexpected"
    )


# --- response size -----------------------------------------------------------

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# The cap of the registry whose adapter is being built: its HTTP clients take it
# when they are made (``response_cap``), so no adapter has to pass it along.
_RESPONSE_CAP: ContextVar[int] = ContextVar("modelgate_response_cap", default=DEFAULT_MAX_RESPONSE_BYTES)


@contextlib.contextmanager
def response_cap(max_bytes: int) -> Iterator[None]:
    """Clients made inside read at most ``max_bytes`` of any one response body."""
    reset = _RESPONSE_CAP.set(max_bytes)
    try:
        yield
    finally:
        _RESPONSE_CAP.reset(reset)


def current_response_cap() -> int:
    return _RESPONSE_CAP.get()


class ResponseTooLarge(RegistryUnavailable):
    """A body past the registry's ``max_response_bytes``: reading stopped there.
    Not retried: the registry would send the same again."""

    retryable = False


async def send_capped(
    client: httpx.AsyncClient, registry_id: str, request: httpx.Request, max_bytes: int
) -> httpx.Response:
    """Send ``request`` and read its body while it stays within ``max_bytes``
    (decoded), so an outsized answer never sits in memory whole."""
    response = await client.send(request, stream=True)
    try:
        declared = response.headers.get("Content-Length", "")
        too_large = declared.isdigit() and int(declared) > max_bytes
        chunks: list[bytes] = []
        size = 0
        if not too_large:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    too_large = True
                    break
                chunks.append(chunk)
    finally:
        await response.aclose()
    if too_large:
        url = str(request.url.copy_with(query=None))
        raise ResponseTooLarge(
            registry_id,
            f"answered {request.method} {request.url.path} with more than {max_bytes} bytes "
            "(max_response_bytes); reading stopped there",
            status=response.status_code,
            url=url,
        )
    # The body as read (decoded): headers that describe the wire form no longer apply.
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(chunks),
        request=request,
        extensions=response.extensions,
    )


# --- JSON over HTTP ----------------------------------------------------------

ErrorTranslator = Callable[[httpx.Response], RegistryError]


def message_error_translator(registry_id: str, service: str, code_key: str) -> ErrorTranslator:
    """A server whose error body is ``{"<code_key>": …, "message": …}`` (Kubeflow's
    ``code``, Unity Catalog's ``error_code``) → the shared taxonomy, naming the
    call that failed."""

    def translate(response: httpx.Response) -> RegistryError:
        code: str | None = None
        message = response.text[:300] or response.reason_phrase
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message = body["message"]
            code = str(body.get(code_key) or "") or None
        method, path = response.request.method, response.request.url.path
        text = f"{service} answered {method} {path} with {response.status_code}: {message}"
        retry = retry_after_seconds(response.headers.get("Retry-After"))
        return error_for_status(
            registry_id, response.status_code, text, registry_code=code, retry_after=retry
        )

    return translate


class BearerTokenAuth(httpx.Auth):
    """``Authorization: Bearer`` from a fixed value or a token file, re-read when the
    file changes (Kubernetes rotates projected service-account tokens in place; a
    personal access token file is replaced on rotation)."""

    def __init__(self, source: SecretSource):
        self._source = source
        self._cached: tuple[float, str] | None = None

    def token(self) -> str | None:
        if self._source.value:
            return self._source.value
        if self._source.path is None:
            return None
        try:
            mtime = self._source.path.stat().st_mtime
            if self._cached is None or self._cached[0] != mtime:
                self._cached = (mtime, self._source.path.read_text(encoding="utf-8").strip())
        except OSError:
            return self._cached[1] if self._cached else None  # keep the last token we could read
        return self._cached[1]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if token := self.token():
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


class JsonHttpClient:
    """httpx with the habits every HTTP registry needs: timeouts, retried GETs,
    never-retried writes, bodies read no further than ``max_response_bytes``, and
    the registry's error bodies turned into ``RegistryError`` values that name the
    registry."""

    def __init__(
        self,
        registry_id: str,
        base_url: str,
        translate_error: ErrorTranslator,
        *,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int | None = None,
    ):
        self.registry_id = registry_id
        self._translate = translate_error
        self.max_response_bytes = max_response_bytes or current_response_cap()
        self._retry = retry or RetryPolicy(deadline_seconds=timeout * 2)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            auth=auth,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await retry_read(lambda: self._send("GET", path, params=params), self._retry)

    async def get_linked(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, str | None]:
        """A retried GET of one page of a listing paged by ``Link: <url>; rel="next"``
        (RFC 8288, as GitHub and the Hugging Face Hub page): the body and the next
        page's URL, or None on the last page."""

        async def once() -> tuple[Any, str | None]:
            response = await self._request("GET", path, params=params)
            next_url = response.links.get("next", {}).get("url")
            return self._json_of(response, "GET", path), next_url or None

        return await retry_read(once, self._retry)

    async def send(self, method: str, path: str, *, json_body: Any = None, params: Any = None) -> Any:
        """A write: sent once. A transport failure is reported, not retried, because
        the registry may have applied it."""
        return await self._send(method, path, params=params, json_body=json_body)

    async def _send(self, method: str, path: str, *, params: Any = None, json_body: Any = None) -> Any:
        response = await self._request(method, path, params=params, json_body=json_body)
        return self._json_of(response, method, path)

    async def _request(
        self, method: str, path: str, *, params: Any = None, json_body: Any = None
    ) -> httpx.Response:
        try:
            request = self._client.build_request(method, path, params=params, json=json_body)
            response = await send_capped(self._client, self.registry_id, request, self.max_response_bytes)
        except httpx.TimeoutException as exc:
            raise RegistryUnavailable(
                self.registry_id, f"timed out ({type(exc).__name__})", url=self._url_of(path)
            ) from exc
        except httpx.TransportError as exc:
            raise RegistryUnavailable(
                self.registry_id, f"unreachable ({exc})", url=self._url_of(path)
            ) from exc
        if response.status_code >= 400:
            raise self._translate(response)
        return response

    def _json_of(self, response: httpx.Response, method: str, path: str) -> Any:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise RegistryUnavailable(
                self.registry_id,
                f"answered {method} {path} with a body that is not JSON",
                status=response.status_code,
            ) from exc

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def _url_of(self, path: str) -> str:
        """The URL a request went to, without its query (which may carry filters)."""
        return str(self._client.base_url.join(path).copy_with(query=None))

    async def aclose(self) -> None:
        await self._client.aclose()


async def run_blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client call (e.g. boto3) off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)
