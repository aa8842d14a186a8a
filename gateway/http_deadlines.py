"""Deadlines for receiving a request, set on uvicorn's HTTP protocols.

uvicorn bounds only the idle time between requests (``timeout_keep_alive``):
a client that opens a connection and sends its head a byte at a time, or never
finishes its body, holds the connection (and a slot) for as long as it likes.
Here each connection is in one of three phases, with one timer:

- waiting for a request head (from the connection's start, or from the last
  response): ``[server] header_timeout_seconds``;
- receiving the body of a request whose head has arrived: no byte for
  ``body_timeout_seconds`` (as nginx's ``client_body_timeout``, the clock
  restarts with every chunk and stands still while the app holds reading
  paused), and, past that same time, no slower than ``MIN_BODY_RATE`` on
  average (as Kestrel's minimum data rate: a body dripped a byte at a time
  never stalls, but is cut all the same). A large upload over a slow but live
  link is never cut;
- neither (the request is in, the app is answering): no deadline.

A deadline that passes answers HTTP 408 ``REQUEST_TIMEOUT`` (the one error
shape of ``gateway.http_errors``) if part of a request came and no response has
begun, and closes the connection either way; the app, if it was waiting for the
body, sees a disconnect. A connection on which nothing came is closed without a
word, as uvicorn closes an idle keep-alive one (a 408 there could cross a
request the client is just sending). The same bounds hold for both parsers, httptools and h11 (the
head's size is bounded separately, ``gateway.http_budgets``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.config import ServerSettings
from gateway.http_errors import REQUEST_ID_HEADER, error_bytes

log = logging.getLogger("modelgate.server")

REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
HEAD, BODY = "head", "body"
# Bytes a second a body must average once ``body_timeout_seconds`` has passed.
MIN_BODY_RATE = 1024


def _timeout_response(phase: str, seconds: float) -> bytes:
    request_id = uuid.uuid4().hex
    what = "request line and headers" if phase == HEAD else "request body"
    body = error_bytes(REQUEST_TIMEOUT, f"the {what} did not arrive within {seconds:g} s", request_id)
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n"
        f"{REQUEST_ID_HEADER}: {request_id}\r\n\r\n"
    )
    return head.encode() + body


class ReceiveDeadlines:
    """The phase timer, mixed into a uvicorn HTTP protocol (which provides ``loop``,
    ``transport`` and ``cycle``)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    def __init__(self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._init_deadlines(header_timeout, body_timeout)

    # The protocol hooks both parsers share; ``super()`` is the uvicorn protocol
    # that follows this mixin in the class's MRO.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._enter(HEAD)

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter(None)
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        self._received(data)
        if not self.transport.is_closing():
            super().data_received(data)  # type: ignore[misc]

    def _init_deadlines(self, header_timeout: float, body_timeout: float) -> None:
        self._seconds = {HEAD: header_timeout, BODY: body_timeout}
        self._phase: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head_begun = False  # a byte of the awaited head has arrived
        self._body_started = 0.0
        self._body_bytes = 0

    def _received(self, data: bytes) -> None:
        if data and self._phase == HEAD:
            self._head_begun = True
        elif data and self._phase == BODY:
            self._body_bytes += len(data)
            elapsed = self.loop.time() - self._body_started
            if elapsed > self._seconds[BODY] and self._body_bytes < MIN_BODY_RATE * elapsed:
                if self._timer is not None:
                    self._timer.cancel()
                self._overdue(BODY)
            else:
                self._rearm(BODY)

    def _rearm(self, phase: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(self._seconds[phase], self._overdue, phase)

    def _enter(self, phase: str | None) -> None:
        """Start ``phase``'s deadline (None: no deadline); staying in a phase keeps its clock."""
        if phase == self._phase:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = phase
        self._head_begun = False
        self._body_started, self._body_bytes = self.loop.time(), 0
        if phase is not None:
            self._timer = self.loop.call_later(self._seconds[phase], self._overdue, phase)

    def _overdue(self, phase: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        flow = getattr(self, "flow", None)
        if phase == BODY and flow is not None and flow.read_paused:
            self._rearm(BODY)  # the app is not reading: the client cannot send
            return
        cycle = self.cycle
        peer = self.transport.get_extra_info("peername")
        log.info("closing the connection of %s: no complete request %s in time", peer, phase)
        idle = phase == HEAD and not self._head_begun
        answerable = cycle is None or not cycle.response_started or cycle.response_complete
        if answerable and not idle:
            self.transport.write(_timeout_response(phase, self._seconds[phase]))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() answers http.disconnect
            cycle.message_event.set()
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is installed with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


if HttpToolsProtocol is not None:

    class HttpToolsDeadlineProtocol(ReceiveDeadlines, HttpToolsProtocol):
        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._phase is None:  # a pipelined request begins while one is answered
                self._enter(HEAD)
            self._head_begun = True

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._enter(BODY)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._enter(None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # Nothing further received and nothing pipelined: wait for the next head.
            if not self.transport.is_closing() and self._phase is None and self.cycle.response_complete:
                self._enter(HEAD)


class H11DeadlineProtocol(ReceiveDeadlines, H11Protocol):
    def handle_events(self) -> None:
        super().handle_events()
        # h11 knows where the client is: before a head, inside a body, or done.
        if not self.transport.is_closing():
            state = self.conn.their_state
            self._enter(HEAD if state is h11.IDLE else BODY if state is h11.SEND_BODY else None)


def deadline_protocol(server: ServerSettings, parser: str = "auto") -> Any:
    """The ``http`` option of ``uvicorn.Config``: a protocol with ``server``'s receive
    deadlines (a partial of a module-level class, so worker processes can unpickle it).
    ``parser``: auto (httptools if installed), httptools or h11."""
    use_h11 = parser == "h11" or HttpToolsProtocol is None
    protocol = H11DeadlineProtocol if use_h11 else HttpToolsDeadlineProtocol
    return functools.partial(
        protocol, header_timeout=server.header_timeout_seconds, body_timeout=server.body_timeout_seconds
    )
