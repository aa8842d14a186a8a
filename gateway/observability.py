"""Metrics (Prometheus), structured logs with request ids, optional tracing.

``/metrics`` serves the text format from a registry owned by the app (so two
apps in one process never share counters). Gauges that describe state — sync
lag, index size, registry health, cache hit ratio — are refreshed from the
gateway when scraped; counters and histograms are updated as things happen.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from graphql import OperationDefinitionNode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from strawberry.extensions import SchemaExtension

if TYPE_CHECKING:
    from gateway.catalogue.cache import AsyncCache
    from gateway.catalogue.index import CatalogueIndex
    from gateway.config import Settings
    from gateway.store.database import Database

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class OperationLabels:
    """The ``operation`` label of a GraphQL operation, from a bounded set: client-chosen
    names would otherwise make one series each (20,000 names were 26 MB of /metrics).

    With an allow-list (``[observability] operation_names``) only those names are
    labels. Without one, the first ``limit`` distinct names of operations that ran
    without errors become labels and stay (a label that came and went would break
    ``rate()``); after that, new names count as ``other``. The allow-list is the
    choice for a public endpoint: first come can be filled by anyone. A name the
    document does not define, and one longer than 64 characters, is ``other`` too."""

    OTHER = "other"
    ANONYMOUS = "anonymous"
    MAX_LENGTH = 64

    def __init__(self, allowed: Iterable[str] = (), limit: int = 100):
        self.allowed = frozenset(allowed)
        self.limit = limit
        self._seen: set[str] = set()

    def label(self, name: str | None, defined: bool, ok: bool) -> str:
        """The label for operation ``name`` (``defined``: the document has it; ``ok``:
        it ran without errors)."""
        if not name:
            return self.ANONYMOUS
        if not defined or len(name) > self.MAX_LENGTH:
            return self.OTHER
        if self.allowed:
            return name if name in self.allowed else self.OTHER
        if name in self._seen:
            return name
        if ok and len(self._seen) < self.limit:
            self._seen.add(name)
            return name
        return self.OTHER


class Metrics:
    def __init__(self, operation_labels: OperationLabels | None = None) -> None:
        self.operation_labels = operation_labels or OperationLabels()
        self.registry = CollectorRegistry()
        r = self.registry
        self.graphql_seconds = Histogram(
            "modelgate_graphql_request_seconds",
            "GraphQL operation latency, by operation name",
            ["operation", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "modelgate_http_requests", "HTTP requests, by route and status", ["route", "status"], registry=r
        )
        self.registry_call_seconds = Histogram(
            "modelgate_registry_call_seconds",
            "Latency of calls to registries, by registry and adapter method",
            ["registry", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.registry_call_errors = Counter(
            "modelgate_registry_call_errors",
            "Failed calls to registries, by error code",
            ["registry", "method", "code"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "modelgate_registry_breaker_open",
            "1 while a registry's circuit breaker is open",
            ["registry"],
            registry=r,
        )
        self.registry_healthy = Gauge(
            "modelgate_registry_healthy",
            "1 if the last sync of a registry succeeded",
            ["registry"],
            registry=r,
        )
        self.sync_lag = Gauge(
            "modelgate_registry_sync_lag_seconds",
            "Seconds since a registry last synced",
            ["registry"],
            registry=r,
        )
        self.sync_duration = Gauge(
            "modelgate_registry_last_sync_duration_seconds",
            "How long a registry's last sync took",
            ["registry"],
            registry=r,
        )
        self.sync_models = Counter(
            "modelgate_sync_models_read", "Models read by syncs (progress)", ["registry"], registry=r
        )
        self.index_models = Gauge("modelgate_index_models", "Models in the index", ["registry"], registry=r)
        self.index_versions = Gauge(
            "modelgate_index_versions", "Versions in the index", ["registry"], registry=r
        )
        self.cache_hit_ratio = Gauge("modelgate_cache_hit_ratio", "Live-read cache hit ratio", registry=r)
        self.audit_events = Gauge(
            "modelgate_audit_chain_events", "Events in the audit log's hash chain", registry=r
        )
        self.audit_head = Gauge(
            "modelgate_audit_chain_head_info",
            "1, labelled with the hash of the audit chain's newest event",
            ["hash"],
            registry=r,
        )
        self.cache_lookups = Counter(
            "modelgate_cache_lookups",  # exported as modelgate_cache_lookups_total
            "Live-read cache lookups, by result",
            ["result"],
            registry=r,
        )
        self._sync_seen: dict[str, int] = {}
        self._cache_seen: dict[str, int] = {}

    def observe_registry_call(self, registry: str, method: str, seconds: float, error: str | None) -> None:
        self.registry_call_seconds.labels(registry, method).observe(seconds)
        if error is not None:
            self.registry_call_errors.labels(registry, method, error).inc()

    def sync_progress(self, registry: str, models_done: int) -> None:
        """A sync's progress callback: counts models read per registry."""
        last = self._sync_seen.get(registry, 0)
        if models_done > last:
            self.sync_models.labels(registry).inc(models_done - last)
        self._sync_seen[registry] = models_done

    def sync_finished(self, registry: str) -> None:
        self._sync_seen.pop(registry, None)

    async def render(self, gateway: Observed) -> bytes:
        """Refresh the state gauges from the gateway, then render every metric."""
        now = datetime.now(UTC)
        # /metrics is unauthenticated: its counts are what anyone may see. A
        # restricted registry has no count series at all, and restricted models of
        # open registries are not counted (``gateway.auth.access``).
        from gateway.auth.access import AccessPolicy
        from gateway.governance import audit

        anonymous = AccessPolicy.anonymous(gateway.settings)
        stats = await gateway.index.registry_stats(anonymous.visibility)
        for registry in gateway.settings.registries:
            s = stats.get(registry.id)
            if anonymous.can_see_registry(registry.id):
                self.index_models.labels(registry.id).set(s.models if s else 0)
                self.index_versions.labels(registry.id).set(s.versions if s else 0)
            self.registry_healthy.labels(registry.id).set(1 if (s is None or s.healthy) else 0)
            if s is not None and s.synced_at is not None:
                self.sync_lag.labels(registry.id).set((now - s.synced_at).total_seconds())
            if s is not None and s.sync_seconds is not None:
                self.sync_duration.labels(registry.id).set(s.sync_seconds)
        from gateway.resilience import breaker_states

        for registry_id, state in breaker_states(gateway.adapters).items():
            self.breaker_open.labels(registry_id).set(1 if state.get("state") == "open" else 0)
        # The audit chain's head, published so a truncated or rewritten chain can be
        # caught later: ``modelgate audit verify --expect-head HASH``.
        seq, head = await audit.chain_head(gateway.database)
        self.audit_events.set(seq)
        self.audit_head.clear()
        if head is not None:
            self.audit_head.labels(head).set(1)
        cache = gateway.cache.stats
        self.cache_hit_ratio.set(cache.hit_ratio)
        for result, value in (("hit", cache.hits), ("stale", cache.stale_hits), ("miss", cache.misses)):
            # The cache keeps running totals; the counter moves by what is new since.
            if (new := value - self._cache_seen.get(result, 0)) > 0:
                self.cache_lookups.labels(result).inc(new)
            self._cache_seen[result] = value
        return generate_latest(self.registry)


class Observed(Protocol):
    """What ``Metrics.render`` reads of the running gateway (``gateway.runtime.Gateway``
    is one; the runtime builds on this module, so it is named by shape, not imported)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def index(self) -> CatalogueIndex: ...
    @property
    def adapters(self) -> Mapping[str, Any]: ...
    @property
    def database(self) -> Database: ...
    @property
    def cache(self) -> AsyncCache: ...


class GraphQLMetrics(SchemaExtension):
    """Times every operation, labelled by its name (clients should name them)."""

    def on_operation(self):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        yield
        context = self.execution_context.context
        metrics: Metrics | None = getattr(getattr(context, "gateway", None), "metrics", None)
        if metrics is None:
            return
        result = self.execution_context.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        name = self.execution_context.operation_name
        document = self.execution_context.graphql_document
        defined = document is not None and any(
            isinstance(d, OperationDefinitionNode) and d.name is not None and d.name.value == name
            for d in document.definitions
        )
        label = metrics.operation_labels.label(name, defined, outcome == "ok")
        metrics.graphql_seconds.labels(label, outcome).observe(time.perf_counter() - started)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being served."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := request_id_var.get()) is not None:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record, for text formats that show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter at every start
    # httpx logs every registry call at INFO: that is debugging detail, shown only
    # with --log-level debug (failures reach the log through our own messages).
    registry_calls = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(registry_calls)
    # uvicorn's loggers propagate to ours, so access logs share the format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestContextMiddleware:
    """Outermost ASGI middleware: gives every request an id (the caller's
    ``x-request-id`` if plain and short, else a new one), puts it on the logging
    context and the response, and counts requests by route and status."""

    def __init__(self, app: Any, metrics: Callable[[], Metrics | None] | None = None):
        self.app = app
        self.metrics = metrics  # a getter: the gateway (and its metrics) exists only after start-up

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), ""
        )
        rid = (
            incoming if 0 < len(incoming) <= 64 and incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            metrics = self.metrics() if self.metrics is not None else None
            if metrics is not None:
                segment = scope.get("path", "/").strip("/").split("/", 1)[0]
                route = f"/{segment}" if segment in ROUTE_LABELS else "/other"
                metrics.http_requests.labels(route, str(status)).inc()


# Route labels for the request counter (bounded, whatever paths clients send).
ROUTE_LABELS = frozenset(
    {"", "graphql", "healthz", "readyz", "metrics", "artifacts", "hooks", "reports", "audit", "lineage", "ui"}
)


CallObserver = Callable[[str, str, float, str | None], None]


def fan_out(observers: list[CallObserver]) -> CallObserver:
    """One observer that tells several (metrics, tracing)."""
    if len(observers) == 1:
        return observers[0]

    def observe(registry: str, method: str, seconds: float, error: str | None) -> None:
        for observer in observers:
            observer(registry, method, seconds, error)

    return observe


def start_tracing() -> Callable[[str, str, float, str | None], None]:
    """Set up OpenTelemetry (extra ``otel``) and return a registry-call observer that
    records each call as a span under the current operation's span.

    An SDK already configured (e.g. by ``opentelemetry-instrument``) is kept;
    otherwise spans go over OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    if type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider":  # nothing configured yet
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "modelgate"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("modelgate")

    def observe(registry: str, method: str, seconds: float, error: str | None) -> None:
        end = time.time_ns()
        span = tracer.start_span(
            f"registry {method}",
            start_time=end - int(seconds * 1e9),
            attributes={"modelgate.registry": registry, "modelgate.method": method},
        )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=end)

    return observe
