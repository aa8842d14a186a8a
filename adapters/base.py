"""Adapter discovery and the helpers every adapter shares.

The contract itself (the ``RegistryAdapter`` protocol, every optional capability,
the factory) is ``adapters.protocol``; its names are re-exported here. This module
loads the factories of the ``modelgate.adapters`` entry-point group and holds the
helpers written once: time normalisation, paging, retrying idempotent reads, the
error taxonomy and a JSON-over-HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

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
from gateway.config import ConfigError, RegistrySettings, SecretSource, did_you_mean
from gateway.domain import ModelVersion, Stage
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

# The contract itself lives in ``adapters.protocol``; its names stay importable from
# here, where adapters found them first.
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
