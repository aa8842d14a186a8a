"""Receive deadlines (``gateway.http_deadlines``) on a real uvicorn server and raw
sockets: a client that never finishes its request head, or its body, gets HTTP 408
and a closed connection, under both HTTP parsers; a client that sends its request
whole is served, on the same connection again and again."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from gateway.http_deadlines import MIN_BODY_RATE, deadline_protocol
from gateway.server import create_app
from tests.security.conftest import free_port
from tests.support import make_settings, modelgate_serve

# Small deadlines, generous waits: a slow machine never makes these tests wrong,
# only (at worst) slower.
DEADLINES = {"header_timeout_seconds": 1, "body_timeout_seconds": 1}
GIVE_UP_AFTER = 30.0


@contextlib.contextmanager
def served(tmp_path: Path, parser: str) -> Iterator[int]:
    """The gateway app served by uvicorn (``parser``) on a free port, as ``serve`` does."""
    settings = make_settings(f"sqlite:///{tmp_path}/mg.db", tmp_path, server=DEADLINES)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, background_sync=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            http=deadline_protocol(settings.server, parser),
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + GIVE_UP_AFTER
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def trickle_until_closed(port: int, first: bytes, drip: bytes = b"") -> bytes:
    """Send ``first``, then ``drip`` now and then, until the server closes the
    connection; everything it answered. Fails if it never closes."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP_AFTER) as s:
        s.sendall(first)
        s.settimeout(0.2)
        give_up = time.monotonic() + GIVE_UP_AFTER
        while time.monotonic() < give_up:
            try:
                data = s.recv(65536)
                if not data:
                    return answer  # closed by the server
                answer += data
            except TimeoutError:
                with contextlib.suppress(OSError):
                    s.sendall(drip)
            except ConnectionResetError:
                return answer
    raise AssertionError(f"the connection stayed open for {GIVE_UP_AFTER} s; got {answer[:200]!r}")


def assert_timed_out(answer: bytes) -> None:
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b'"code": "REQUEST_TIMEOUT"' in answer and b"x-request-id:" in answer.lower()


@pytest.fixture(params=["httptools", "h11"])
def port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    with served(tmp_path, request.param) as port:
        yield port


def test_a_head_sent_a_byte_at_a_time_is_cut_off(port: int) -> None:
    """Slowloris: the head keeps coming, never complete; the deadline is for all of it."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    assert_timed_out(trickle_until_closed(port, head, drip=b"a"))


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    """Closed without a word, as an idle keep-alive connection is."""
    assert trickle_until_closed(port, b"") == b""


def test_a_body_that_never_ends_is_cut_off(port: int) -> None:
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    assert_timed_out(trickle_until_closed(port, head + b'{"query": ', drip=b" "))


def test_a_slow_but_steady_body_is_not_cut_off(port: int) -> None:
    """The body deadline is a stall and a minimum rate, not a total: a body that
    keeps arriving faster than ``MIN_BODY_RATE`` is received however long it takes."""
    body = b'{"query": "{ registries { id } }"' + b" " * (3 * MIN_BODY_RATE) + b"}"
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    chunk = 2 * MIN_BODY_RATE // 5  # every 0.2 s: twice the minimum rate
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP_AFTER) as s:
        s.sendall(head)
        started = time.monotonic()
        for i in range(0, len(body), chunk):
            s.sendall(body[i : i + chunk])
            time.sleep(0.2)
        sent_for = time.monotonic() - started
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = s.recv(65536)
            assert data, answer
            answer += data
    assert sent_for > DEADLINES["body_timeout_seconds"], "the body must outlast the deadline to test it"
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


def test_whole_requests_are_served_on_one_connection(port: int) -> None:
    body = b'{"query": "{ registries { id } }"}'
    request = (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP_AFTER) as s:
        for _ in range(3):
            s.sendall(request)
            answer = b""
            while b'"registries"' not in answer:
                data = s.recv(65536)
                assert data, answer
                answer += data
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


def test_modelgate_serve_sets_the_deadlines(tmp_path: Path) -> None:
    """The server ``modelgate serve`` starts takes its deadlines from ``[server]``."""
    config = "[server]\nheader_timeout_seconds = 1\nbody_timeout_seconds = 1\n"
    with modelgate_serve(tmp_path, config) as base:
        port = int(base.rsplit(":", 1)[1])
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        assert_timed_out(trickle_until_closed(port, head, drip=b"a"))
