"""Metrics, request ids and structured logs."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.observability import JsonFormatter, configure_logging, request_id_var
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.support import data_of, gql, make_settings


async def test_metrics_describe_requests_registries_and_the_index(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    mutation = 'mutation Register { registerModelVersion(input: {registry: "platform", model: "m", artifactUri: "s3://b/m"}) { uri } }'
    data_of(await gql(client, mutation))
    data_of(await gql(client, 'query CatalogueSearch { models(query: "m") { totalCount } }'))
    await gateway.sync.sync_all(full=True)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'modelgate_index_models{registry="platform"} 1.0' in text
    assert 'modelgate_index_versions{registry="platform"} 1.0' in text
    assert 'modelgate_graphql_request_seconds_count{operation="CatalogueSearch",outcome="ok"} 1.0' in text
    assert 'modelgate_registry_call_seconds_count{method="list_models",registry="platform"}' in text
    assert 'modelgate_registry_healthy{registry="research"} 1.0' in text
    assert 'modelgate_registry_breaker_open{registry="platform"} 0.0' in text
    assert "modelgate_registry_sync_lag_seconds" in text
    assert "modelgate_cache_hit_ratio" in text
    assert 'modelgate_http_requests_total{route="/graphql",status="200"}' in text


async def test_metrics_pass_promtool_and_name_their_types(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    """promtool (Prometheus' own linter) finds nothing to say, and the parser reads
    lookups as a counter and the last sync's duration under a duration's name."""
    import shutil
    import subprocess

    from prometheus_client.parser import text_string_to_metric_families

    from tests.conftest import service_missing

    await gateway.sync.sync_all(full=True)
    data_of(await gql(client, 'query Find { models(query: "m") { totalCount } }'))
    text = (await client.get("/metrics")).text
    promtool = shutil.which("promtool")
    if promtool is None:
        service_missing("promtool (apt-get install prometheus)", FileNotFoundError("promtool"))
    assert promtool is not None
    lint = await asyncio.to_thread(
        subprocess.run, [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["modelgate_cache_lookups"].type == "counter"
    assert "modelgate_cache_lookups_total" in text
    assert families["modelgate_registry_last_sync_duration_seconds"].type == "gauge"
    assert "modelgate_registry_last_sync_seconds" not in text


async def test_request_ids_are_given_echoed_and_attached_to_errors(client: httpx.AsyncClient) -> None:
    generated = (await client.get("/healthz")).headers["x-request-id"]
    assert len(generated) == 32
    assert (await client.get("/healthz", headers={"x-request-id": "abc-123"})).headers[
        "x-request-id"
    ] == "abc-123"
    hostile = (await client.get("/healthz", headers={"x-request-id": "x" * 500})).headers["x-request-id"]
    assert hostile != "x" * 500
    response = await client.post(
        "/graphql",
        json={"query": "{ models(first: 1000) { totalCount } }"},
        headers={"x-request-id": "trace-7"},
    )
    assert response.json()["errors"][0]["extensions"]["requestId"] == "trace-7"


def test_json_logs_carry_the_request_id() -> None:
    record = logging.LogRecord(
        "modelgate.test", logging.WARNING, __file__, 1, "registry %s failed", ("r",), None
    )
    token = request_id_var.set("req-42")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "registry r failed"
    assert entry["level"] == "warning" and entry["request_id"] == "req-42"
    assert entry["logger"] == "modelgate.test" and entry["ts"].endswith("+00:00")


@pytest.mark.parametrize(("level", "shown"), [("info", False), ("debug", True)])
def test_registry_calls_are_logged_only_at_debug(level: str, shown: bool) -> None:
    """httpx writes a line per registry call at INFO; at the server's default level
    that drowned the log, so it shows only with --log-level debug."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("text", level)
        assert logging.getLogger("httpx").isEnabledFor(logging.INFO) is shown
        assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
        assert logging.getLogger("modelgate.sync").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        logging.getLogger("httpx").setLevel(logging.NOTSET)


async def test_tracing_records_operations_and_registry_calls(tmp_path: Path) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the first test to trace sets it up
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]

    settings = make_settings(f"sqlite:///{tmp_path}/t.db", tmp_path, observability={"tracing": True})
    gw = await Gateway.open(settings)
    app = create_app(settings, gateway=gw, background_sync=False)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            data_of(
                await gql(
                    c,
                    'mutation { registerModelVersion(input: {registry: "platform", model: "m", artifactUri: "s3://b/m"}) { uri } }',
                )
            )
            data_of(await gql(c, 'query Live { modelVersion(uri: "mg://platform/m/1", live: true) { uri } }'))
    finally:
        await gw.aclose()
    names = [s.name for s in exporter.get_finished_spans()]
    assert any("Live" in n or "GraphQL" in n for n in names), names
    registry_spans = [s for s in exporter.get_finished_spans() if s.name.startswith("registry ")]
    assert {s.attributes["modelgate.registry"] for s in registry_spans} == {"platform"}
    assert "registry get_versions" in {s.name for s in registry_spans}


def test_tracing_without_the_extra_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from gateway.config import ConfigError
    from gateway.runtime import validate_settings

    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    settings = make_settings(f"sqlite:///{tmp_path}/t.db", tmp_path, observability={"tracing": True})
    with pytest.raises(ConfigError, match=r"observability.tracing: needs the 'otel' extra"):
        validate_settings(settings)


async def test_a_server_process_exempts_its_start_up_state_from_garbage_collection(tmp_path: Path) -> None:
    """Full collections walking every long-lived object were the load test's
    worst pauses; a server freezes what start-up built (tests do not)."""
    settings = make_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path)
    assert gc.get_freeze_count() == 0
    try:
        async with LifespanManager(create_app(settings, background_sync=False, freeze_gc=True)):
            assert gc.get_freeze_count() > 10_000  # the schema, the engine, the adapters...
    finally:
        gc.unfreeze()
    async with LifespanManager(create_app(settings, background_sync=False)):
        assert gc.get_freeze_count() == 0
