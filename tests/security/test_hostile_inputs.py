"""Hostile inputs against a real ``modelgate serve`` process (uvicorn with the
httptools parser it installs): each is refused with a coded 4xx before the work
it asks for, and the server's resident memory stays bounded.

RSS is read from ``/proc/<pid>/status`` before and after each hostile burst; the
bounds are generous (tens of MB against the hundreds each input cost before the
budgets), so they describe behaviour, not a machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
SECRET_ENV = "MG_TEST_BUDGET_WEBHOOK_SECRET"
MB = 1024 * 1024


class Gateway:
    """``modelgate serve`` as a child process, with its RSS."""

    def __init__(self, tmp: Path, cwd: Path = REPO):
        config = tmp / "modelgate.toml"
        config.write_text(
            f"""
[storage]
url = "sqlite:///{tmp}/modelgate.db"
artifacts_dir = "{tmp / "artifacts"}"

[[registries]]
id = "platform"
kind = "native"
team = "platform"

[[registries]]
id = "hooked"
kind = "mlflow"
url = "http://127.0.0.1:9"
webhook_secret_env = "{SECRET_ENV}"
sync_interval_seconds = 3600
"""
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "server.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(self.port)],
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", SECRET_ENV: "whsec-" + uuid.uuid4().hex},
        )

    def wait_ready(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if httpx.get(f"{self.url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError("gateway did not start:\n" + self.log())

    def rss(self) -> int:
        """Resident set size in bytes (VmRSS)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("budgets"))
    try:
        gw.wait_ready()
        # Warm up the paths the tests use, so their RSS deltas are theirs alone.
        with httpx.Client(base_url=gw.url) as c:
            for _ in range(20):
                c.post("/graphql", json={"query": "{ registries { id } models { totalCount } }"})
            c.get("/metrics")
        yield gw
    finally:
        gw.stop()


def report(name: str, before: int, after: int) -> None:
    """Printed with ``-s``: the figures the README quotes."""
    print(f"\n[rss] {name}: {before / MB:.0f} MB -> {after / MB:.0f} MB ({(after - before) / MB:+.0f} MB)")


def coded(response: httpx.Response) -> str:
    assert "Traceback" not in response.text
    errors = response.json()["errors"]
    code: str = errors[0]["extensions"]["code"]
    return code


def deep_json(levels: int) -> bytes:
    return b'{"query": "{ registries { id } }", "variables": {"v": ' + b"[" * levels + b"]" * levels + b"}}"


def test_a_deeply_nested_json_body_is_a_coded_400(gateway: Gateway) -> None:
    before = gateway.rss()
    with httpx.Client(base_url=gateway.url) as c:
        for body in (deep_json(20_000), b"[" * 20_000 + b"]" * 20_000, deep_json(200)):
            response = c.post("/graphql", content=body, headers={"content-type": "application/json"})
            assert response.status_code == 400, response.text[:300]
            assert coded(response) == "BAD_REQUEST"
            assert "nest" in response.json()["errors"][0]["message"]
        # Within the depth limit, variables go through.
        ok = c.post("/graphql", content=deep_json(5), headers={"content-type": "application/json"})
        assert ok.status_code == 200 and "errors" not in ok.json()
    report("20,000-level JSON bodies", before, gateway.rss())
    assert "Traceback" not in gateway.log() and "RecursionError" not in gateway.log()


def distinct_queries(n: int, salt: str) -> Iterator[str]:
    """``n`` different documents of about 54 KB and 4,900 tokens each, every field
    unknown (so validation has thousands of errors to report, and to cache)."""
    for i in range(n):
        fields = " ".join(f"f{salt}{i:05d}x{j:04d}" for j in range(4_900))
        yield "{ " + fields + " }"


def test_the_document_caches_are_bounded_in_bytes(gateway: Gateway) -> None:
    before = gateway.rss()
    salt = uuid.uuid4().hex[:4]
    with httpx.Client(base_url=gateway.url, timeout=30) as c:
        # 80 documents of ~3 MB cached weight each: kept without a byte bound they would
        # add well over the 100 MB allowed below; the 32 MiB budget keeps about ten.
        for query in distinct_queries(80, salt):
            assert len(query) > 50_000
            response = c.post("/graphql", json={"query": query})
            assert response.status_code in (200, 400)
            assert coded(response) == "GRAPHQL_VALIDATION_FAILED"
    after = gateway.rss()
    report("80 distinct 54 KB documents", before, after)
    assert after - before < 100 * MB


def test_a_huge_search_string_is_refused_before_searching(gateway: Gateway) -> None:
    query = "query($q: String) { models(query: $q) { totalCount } versions(query: $q) { totalCount } }"
    huge = " ".join(f"w{i}" for i in range(150_000))[: 900 * 1024]
    before = gateway.rss()
    cpu = _cpu_seconds(gateway)
    with httpx.Client(base_url=gateway.url, timeout=60) as c:
        for _ in range(3):
            response = c.post("/graphql", json={"query": query, "variables": {"q": huge}})
            assert response.status_code == 200
            errors = response.json()["errors"]
            assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}
            assert errors[0]["extensions"]["field"] == "query"
    print(f"\n[cpu] three 900 KB searches: {_cpu_seconds(gateway) - cpu:.2f} s of server CPU")
    report("three 900 KB search strings", before, gateway.rss())


def _cpu_seconds(gateway: Gateway) -> float:
    fields = Path(f"/proc/{gateway.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_operation_names_are_a_bounded_label_set(gateway: Gateway) -> None:
    before = gateway.rss()

    async def flood() -> None:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:
            sem = asyncio.Semaphore(16)

            async def one(i: int) -> None:
                async with sem:
                    await c.post(
                        "/graphql", json={"query": f"query Op{i}x{uuid.uuid4().hex} {{ __typename }}"}
                    )

            await asyncio.gather(*(one(i) for i in range(3_000)))  # 15 x the label budget

    asyncio.run(flood())
    metrics = httpx.get(f"{gateway.url}/metrics").text
    after = gateway.rss()
    report("3,000 operation names", before, after)
    labels = {
        line.split('operation="', 1)[1].split('"', 1)[0]
        for line in metrics.splitlines()
        if line.startswith("modelgate_graphql_request_seconds_count")
    }
    assert "other" in labels and len(labels) <= 202
    assert len(metrics) < 2 * MB
    assert after - before < 50 * MB


def _raw_request(port: int, head: bytes, body_chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send ``head`` then body chunks until the server answers (or closes); the
    response's first bytes and how much of the body went out."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head)
        for chunk in body_chunks:
            readable, _, _ = select.select([s], [], [], 0)
            if readable:
                break
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        s.settimeout(60)
        answer = b""
        try:  # the head, then the body its content-length announces
            while b"\r\n\r\n" not in answer and (data := s.recv(65536)):
                answer += data
            head, _, body = answer.partition(b"\r\n\r\n")
            length = next(
                (
                    int(v)
                    for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n"))
                    if k.lower() == b"content-length"
                ),
                0,
            )
            while len(body) < length and (data := s.recv(65536)):
                body += data
            answer = head + b"\r\n\r\n" + body
        except ConnectionResetError:
            pass
    return answer, sent


def test_webhook_bodies_are_limited_before_the_signature_check(gateway: Gateway) -> None:
    chunk = b"x" * (1024 * 1024)
    total = 300
    before = gateway.rss()
    # Declared too large: refused without reading a byte of it.
    declared = (
        f"POST /hooks/mlflow/hooked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {total * len(chunk)}\r\n\r\n"
    ).encode()
    answer, _ = _raw_request(gateway.port, declared, iter([chunk] * total))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"PAYLOAD_TOO_LARGE" in answer
    # Chunked, no length: refused once the limit is passed while streaming.
    chunked_head = (
        b"POST /hooks/mlflow/hooked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    framed = (b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(total))
    answer, sent = _raw_request(gateway.port, chunked_head, framed)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    after = gateway.rss()
    report(f"300 MB unsigned webhook bodies (chunked: {sent / MB:.0f} MB sent before the 413)", before, after)
    assert after - before < 50 * MB
    # A small unsigned delivery is still a 401 from the signature check.
    unsigned = httpx.post(f"{gateway.url}/hooks/mlflow/hooked", content=json.dumps({"entity": "x"}))
    assert unsigned.status_code == 401 and coded(unsigned) == "UNAUTHENTICATED"


def test_oversized_headers_are_refused(gateway: Gateway) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Pad-%d: %s\r\n" % (i, b"y" * 8000) for i in range(64)
    )
    answer, _ = _raw_request(gateway.port, head + b"\r\n", iter(()))
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"HEADERS_TOO_LARGE" in answer
    fine = httpx.get(f"{gateway.url}/healthz", headers={"x-pad": "y" * 2000})
    assert fine.status_code == 200


def test_the_server_survived_without_a_traceback(gateway: Gateway) -> None:
    assert gateway.process.poll() is None
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200
    log = gateway.log()
    assert "Traceback" not in log, log[-3000:]
