"""RSS and CPU of a real ``modelgate serve`` under the hostile inputs of
``tests/security/test_hostile_inputs.py``, printed without asserting anything,
so the same script measures a checkout from before the input budgets too:

    .venv/bin/python bench/hostile_inputs.py                    # this checkout
    .venv/bin/python bench/hostile_inputs.py --cwd /tmp/old     # another one (its gateway/ is run)

For each input: the answers' status codes, the server's VmRSS before and after,
and the server CPU it cost (utime + stime from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.security.test_hostile_inputs import (
    MB,
    REPO,
    Gateway,
    _cpu_seconds,
    _raw_request,
    deep_json,
    distinct_queries,
)


def status(send: Callable[[], httpx.Response]) -> int | str:
    """The answer's status, or how the connection failed (an old server may drop it)."""
    try:
        return send().status_code
    except httpx.TransportError as exc:
        return type(exc).__name__


def measure(gw: Gateway, name: str, attack: Callable[[], Counter[Any]]) -> None:
    rss, cpu = gw.rss(), _cpu_seconds(gw)
    statuses = attack()
    print(
        f"{name:<44} {dict(statuses)!s:<28} RSS {rss / MB:5.0f} -> {gw.rss() / MB:5.0f} MB "
        f"({(gw.rss() - rss) / MB:+5.0f})  CPU {_cpu_seconds(gw) - cpu:6.2f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cwd", type=Path, default=REPO, help="the checkout whose gateway runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gw = Gateway(Path(tmp), cwd=args.cwd)
        try:
            gw.wait_ready()
            client = httpx.Client(base_url=gw.url, timeout=120)
            for _ in range(20):
                client.post("/graphql", json={"query": "{ registries { id } models { totalCount } }"})

            def post_all(bodies: list[bytes]) -> Counter[int]:
                headers = {"content-type": "application/json"}
                return Counter(
                    status(lambda b=b: client.post("/graphql", content=b, headers=headers))  # type: ignore[misc]
                    for b in bodies
                )

            measure(gw, "JSON bodies nested 20,000 deep (x3)", lambda: post_all([deep_json(20_000)] * 3))
            salt = uuid.uuid4().hex[:4]
            measure(
                gw,
                "300 distinct 54 KB documents",
                lambda: Counter(
                    status(lambda q=q: client.post("/graphql", json={"query": q}))  # type: ignore[misc]
                    for q in distinct_queries(300, salt)
                ),
            )
            search = "query($q: String) { models(query: $q) { totalCount } }"
            huge = " ".join(f"w{i}" for i in range(150_000))[: 900 * 1024]
            measure(
                gw,
                "900 KB search string (x3)",
                lambda: Counter(
                    status(lambda: client.post("/graphql", json={"query": search, "variables": {"q": huge}}))
                    for _ in range(3)
                ),
            )

            def names() -> Counter[int]:
                async def flood() -> Counter[int]:
                    async with httpx.AsyncClient(base_url=gw.url, timeout=120) as c:
                        sem = asyncio.Semaphore(16)

                        async def one(i: int) -> int:
                            async with sem:
                                q = f"query Op{i}x{uuid.uuid4().hex} {{ __typename }}"
                                try:
                                    return (await c.post("/graphql", json={"query": q})).status_code
                                except httpx.TransportError:
                                    return 0

                        return Counter(await asyncio.gather(*(one(i) for i in range(20_000))))

                return asyncio.run(flood())

            measure(gw, "20,000 operation names", names)
            print(f"{'':<44} /metrics is now {len(client.get('/metrics').content) / MB:.2f} MB")
            chunk = b"x" * MB

            def webhook() -> Counter[int]:
                head = (
                    b"POST /hooks/mlflow/hooked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % (300 * MB)
                )
                answer, _ = _raw_request(gw.port, head, iter([chunk] * 300))
                return Counter([int(answer.split(b" ", 2)[1]) if answer else 0])

            measure(gw, "300 MB unsigned webhook body", webhook)

            def headers() -> Counter[int]:
                head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
                    b"X-Pad-%d: %s\r\n" % (i, b"y" * 8000) for i in range(64)
                )
                answer, _ = _raw_request(gw.port, head + b"\r\n", iter(()))
                return Counter([int(answer.split(b" ", 2)[1]) if answer else 0])

            measure(gw, "512 KB of request headers", headers)
        finally:
            gw.stop()


if __name__ == "__main__":
    main()
