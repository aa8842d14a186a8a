"""The one seam between modelgate and a registry: the loader of adapter factories.

The contract itself (the ``RegistryAdapter`` protocol, every optional capability,
the factory) is ``adapters.protocol``; its names are re-exported here. Adapters are
discovered through the ``modelgate.adapters`` entry-point group, so a new registry
kind needs no change to the core: publish a package whose entry point names an
``AdapterFactory``.

Shared plumbing every adapter uses (HTTP, auth, retries, paging, error
translation) lives in ``adapters.toolkit``; its names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from adapters.protocol import (
    ENTRY_POINT_GROUP,
    AdapterContext,
    AdapterFactory,
    BatchVersionReader,
    BulkVersionLister,
    CandidateDeployer,
    ChangeSet,
    DetailFiller,
    EndpointDescriber,
    ErrorRateReader,
    Health,
    MetricHistoryReader,
    Page,
    PromotionContext,
    ReferenceMatch,
    ReferenceParser,
    RegistrationRequest,
    RegistryAdapter,
    ServingReader,
    SourceLinker,
    TrafficController,
    TransactionHook,
    VersionRegistrar,
    WebhookReceiver,
    WebhookRejected,
)

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
    ModelVersion,
    Stage,
)
from gateway.errors import RegistryError

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
]

T = TypeVar("T")


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


def reference_parser(factory: AdapterFactory) -> ReferenceParser | None:
    """The factory's ``ReferenceParser`` capability, or None (also when the kind's
    module cannot load: its references then stay unresolved, as if unknown). A
    factory with ``is_reference`` and ``parse_reference`` but not the protocol's
    optional members gets their defaults."""
    if isinstance(factory, _LazyFactory):
        loaded = factory.loaded()
        if loaded is None:
            return None
        factory = loaded
    if isinstance(factory, ReferenceParser):
        return factory
    if callable(getattr(factory, "is_reference", None)) and callable(
        getattr(factory, "parse_reference", None)
    ):
        return _ParserWithDefaults(factory)
    return None


class _ParserWithDefaults(ReferenceParser):
    """A structural parser completed with ``ReferenceParser``'s defaults for the
    optional members it leaves out."""

    def __init__(self, parser: Any):
        self._parser = parser
        self.relative_schemes = frozenset(getattr(parser, "relative_schemes", frozenset()))
        self.case_insensitive_references = bool(getattr(parser, "case_insensitive_references", False))

    def is_reference(self, text: str) -> bool:
        return bool(self._parser.is_reference(text))

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        match: ReferenceMatch | None = self._parser.parse_reference(text, registry)
        return match

    def bare_reference(self, text: str) -> str | None:
        bare = getattr(self._parser, "bare_reference", None)
        return bare(text) if bare is not None else None

    def canonical_reference(self, text: str) -> str | None:
        canonical = getattr(self._parser, "canonical_reference", None)
        return canonical(text) if canonical is not None else None


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
