"""The Cloud Monitoring fake (``tests.fakes.vertex_monitoring``) against Google's own
client built from ``monitoring.v3.json``, and the rules it enforces; every
answer is checked against the discovery document by ``vertex_fake``."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from googleapiclient.errors import HttpError

from adapters.vertex.traffic import RESPONSE_COUNT
from tests.servers.vertex import PROJECT_ID, VertexServer


def series(endpoint_id: str, code: str, start: datetime, end: datetime, value: int) -> dict[str, Any]:
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return {
        "metric": {"type": RESPONSE_COUNT, "labels": {"deployed_model_id": "42", "response_code": code}},
        "resource": {"type": "aiplatform.googleapis.com/Endpoint", "labels": {"endpoint_id": endpoint_id}},
        "metricKind": "DELTA",
        "valueType": "INT64",
        "points": [
            {
                "interval": {"startTime": stamp(start), "endTime": stamp(end)},
                "value": {"int64Value": str(value)},
            }
        ],
    }


def list_series(server: VertexServer, endpoint_id: str, start: datetime, end: datetime, **agg: Any) -> Any:
    with server._google_lock:
        server._drop_idle_connections()
        return (
            server.google_monitoring.projects()
            .timeSeries()
            .list(
                name=f"projects/{PROJECT_ID}",
                filter=f'metric.type = "{RESPONSE_COUNT}" AND resource.labels.endpoint_id = "{endpoint_id}"',
                interval_startTime=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                interval_endTime=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                **agg,
            )
            .execute()
        )


async def test_written_points_are_read_back_raw_and_summed(vertex_fake: VertexServer) -> None:
    endpoint_id = str(secrets.randbelow(10**12))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for minute, (ok, bad) in enumerate([(10, 1), (20, 2), (30, 3)]):
        start, end = t0 + timedelta(minutes=minute), t0 + timedelta(minutes=minute + 1)
        await asyncio.to_thread(
            vertex_fake.write_time_series,
            [series(endpoint_id, "2xx", start, end, ok), series(endpoint_id, "5xx", start, end, bad)],
        )
    # (start, end] excludes the first minute's point, which ends at t0 + 1 min.
    raw = await asyncio.to_thread(
        list_series, vertex_fake, endpoint_id, t0 + timedelta(minutes=1), t0 + timedelta(minutes=3)
    )
    assert sorted(len(s["points"]) for s in raw["timeSeries"]) == [2, 2]
    ends = [p["interval"]["endTime"] for p in raw["timeSeries"][0]["points"]]
    assert ends == sorted(ends, reverse=True)  # newest first
    summed = await asyncio.to_thread(
        list_series,
        vertex_fake,
        endpoint_id,
        t0,
        t0 + timedelta(minutes=3),
        aggregation_alignmentPeriod="180s",
        aggregation_perSeriesAligner="ALIGN_SUM",
        aggregation_crossSeriesReducer="REDUCE_SUM",
        aggregation_groupByFields="metric.labels.response_code",
    )
    totals = {
        s["metric"]["labels"]["response_code"]: [p["value"]["int64Value"] for p in s["points"]]
        for s in summed["timeSeries"]
    }
    assert totals == {"2xx": ["60"], "5xx": ["6"]}


async def test_google_rules_on_writes_and_reads(vertex_fake: VertexServer) -> None:
    endpoint_id = str(secrets.randbelow(10**12))
    t0 = datetime(2026, 2, 1, tzinfo=UTC)
    await asyncio.to_thread(
        vertex_fake.write_time_series, [series(endpoint_id, "2xx", t0, t0 + timedelta(minutes=1), 5)]
    )
    earlier = series(endpoint_id, "2xx", t0 - timedelta(minutes=1), t0 + timedelta(seconds=30), 1)
    with pytest.raises(HttpError) as order:
        await asyncio.to_thread(vertex_fake.write_time_series, [earlier])
    assert order.value.resp.status == 400 and "in order" in str(order.value)
    two_points = series(endpoint_id, "2xx", t0 + timedelta(minutes=2), t0 + timedelta(minutes=3), 1)
    two_points["points"] *= 2
    with pytest.raises(HttpError, match="exactly one point"):
        await asyncio.to_thread(vertex_fake.write_time_series, [two_points])
    unknown = series(endpoint_id, "2xx", t0 + timedelta(minutes=2), t0 + timedelta(minutes=3), 1)
    unknown["metric"]["labels"]["colour"] = "red"
    with pytest.raises(HttpError, match="Unknown metric label"):
        await asyncio.to_thread(vertex_fake.write_time_series, [unknown])
    with pytest.raises(HttpError, match="at least 60 seconds"):
        await asyncio.to_thread(
            list_series, vertex_fake, endpoint_id, t0, t0 + timedelta(minutes=1),
            aggregation_alignmentPeriod="30s", aggregation_perSeriesAligner="ALIGN_SUM",
        )  # fmt: skip


async def test_undeclared_parameters_and_bad_filters_are_refused(vertex_fake: VertexServer) -> None:
    token = await _token(vertex_fake)
    async with httpx.AsyncClient(
        base_url=vertex_fake.base_url, headers={"authorization": f"Bearer {token}"}
    ) as http:
        path = f"/v3/projects/{PROJECT_ID}/timeSeries"
        metric = f'metric.type = "{RESPONSE_COUNT}"'
        at = "2026-01-01T00:00:00Z"
        queries = [
            {"filter": metric, "interval.endTime": at, "colour": "red"},
            {"filter": 'resource.type = "x"', "interval.endTime": at},
            {"filter": metric, "interval.endTime": "yesterday"},
            {"filter": metric, "interval.endTime": at, "aggregation.perSeriesAligner": "ALIGN_SIDEWAYS"},
        ]
        answers = [await http.get(path, params=q) for q in queries]
        unauthenticated = await http.get(
            path, headers={"authorization": "Bearer nope"}, params={"filter": "x"}
        )
    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    assert all(a.json()["error"]["status"] == "INVALID_ARGUMENT" for a in answers)
    assert "Cannot bind query parameter" in answers[0].json()["error"]["message"]
    assert "exactly one metric type" in answers[1].json()["error"]["message"]
    assert unauthenticated.status_code == 401


async def _token(server: VertexServer) -> str:
    from tests.adapters.test_vertex import make_adapter

    adapter = make_adapter(server)
    try:
        return await adapter._api.auth.access_token()
    finally:
        await adapter.aclose()
