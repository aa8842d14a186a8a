"""``gateway.rollouts.prometheus`` over HTTP against a small server answering
Prometheus's documented ``/api/v1/query`` shapes (the end-to-end gate against a
real Prometheus is ``test_prometheus_gate.py``): placeholders, the evaluation
time, one number or "no traffic", and every other answer unavailable."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.errors import RegistryUnavailable
from gateway.rollouts.prometheus import PrometheusGate
from tests.security.conftest import ServerThread, free_port

QUERY = 'sum(rate(errors{endpoint="$endpoint",variant="$variant",version="$version"}[$window]))'
END = datetime(2026, 3, 1, 12, tzinfo=UTC)
START = END - timedelta(minutes=5)


class FakePrometheus:
    """Answers the next query with ``answer`` (a body, or a (status, body) pair)."""

    def __init__(self) -> None:
        self.answer: Any = vector(0.0)
        self.asked: list[dict[str, str]] = []

        async def query(request: Request) -> Response:
            self.asked.append(dict(request.query_params))
            status, body = self.answer if isinstance(self.answer, tuple) else (200, self.answer)
            return JSONResponse(body, status_code=status)

        self.app = Starlette(routes=[Route("/api/v1/query", query)])


def vector(*rates: float | str) -> dict[str, Any]:
    result = [{"metric": {}, "value": [END.timestamp(), str(r)]} for r in rates]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[tuple[FakePrometheus, str]]:
    fake = FakePrometheus()
    with ServerThread(fake.app) as server:
        yield fake, server.url


async def rate(prometheus: tuple[FakePrometheus, str], answer: Any) -> float | None:
    fake, url = prometheus
    fake.answer = answer
    gate = PrometheusGate(url + "/", QUERY)
    return await gate.error_rate(
        "arn:aws:sagemaker:r:1:endpoint/ranker", "candidate", "mg://a/m/2", START, END
    )


def test_placeholders_name_the_endpoint_variant_version_and_window() -> None:
    gate = PrometheusGate("http://p", QUERY + " $unknown")
    rendered = gate.render("arn:aws:sagemaker:r:1:endpoint/ranker", "candidate", "mg://a/m/2", START, END)
    assert rendered == (
        'sum(rate(errors{endpoint="ranker",variant="candidate",version="mg://a/m/2"}[300s])) $unknown'
    )
    assert "[1s]" in gate.render("e", "v", "u", END, END)  # never an empty window


async def test_the_query_is_evaluated_at_the_steps_end(prometheus: tuple[FakePrometheus, str]) -> None:
    fake, _ = prometheus
    fake.asked.clear()
    assert await rate(prometheus, vector(0.02)) == pytest.approx(0.02)
    assert fake.asked == [
        {
            "query": PrometheusGate("x", QUERY).render(
                "arn:aws:sagemaker:r:1:endpoint/ranker", "candidate", "mg://a/m/2", START, END
            ),
            "time": f"{END.timestamp():.3f}",
        }
    ]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (vector(0.25), 0.25),
        (vector(1.7), 1.0),  # a ratio cannot exceed 1
        (vector(-0.1), 0.0),
        (vector(), None),  # no series: no traffic
        (vector("NaN"), None),  # 0/0: no requests
        ({"status": "success", "data": {"resultType": "scalar", "result": [END.timestamp(), "0.5"]}}, 0.5),
    ],
)
async def test_one_number_or_no_traffic(
    prometheus: tuple[FakePrometheus, str], answer: Any, expected: float | None
) -> None:
    got = await rate(prometheus, answer)
    assert got == expected and (got is None or not math.isnan(got))


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (vector(0.1, 0.2), "gave 2 series; sum them to one"),
        (
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            "gave a matrix, not a number",
        ),
        ((400, {"status": "error", "error": "parse error at char 5"}), "query failed: parse error at char 5"),
        ((503, {}), "query failed: 503"),
        ({"status": "success", "data": {"resultType": "vector", "result": [{"value": "x"}]}}, "unreadable"),
    ],
)
async def test_anything_else_is_unavailable(
    prometheus: tuple[FakePrometheus, str], answer: Any, words: str
) -> None:
    with pytest.raises(RegistryUnavailable) as caught:
        await rate(prometheus, answer)
    assert words in caught.value.message
    assert caught.value.extensions["registry"] == "prometheus"


async def test_an_unreachable_prometheus_is_unavailable() -> None:
    gate = PrometheusGate(f"http://127.0.0.1:{free_port()}", QUERY, timeout=2)
    with pytest.raises(RegistryUnavailable) as caught:
        await gate.error_rate("e", "v", "u", START, END)
    assert "unreachable" in caught.value.message
