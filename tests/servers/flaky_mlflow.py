"""A loopback HTTP server that answers MLflow's registry searches as MLflow does
(the shapes of REGISTRIES.md: empty fields omitted, ``{}`` for no hits) until it is
told to answer something else: ``{}`` for every search (a proxy's error page, a
wrong path), any other body, or a body of a given size.

It runs ``http.server`` in a thread, so the gateway under test (or a CLI process)
reaches it over a real socket. ``bytes_sent`` counts what it wrote of the bodies,
so a test can tell whether a reader stopped early.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CREATED_MS = 1_767_225_600_000  # 2026-01-01


def registered_model(name: str) -> dict[str, Any]:
    return {"name": name, "creation_timestamp": CREATED_MS, "last_updated_timestamp": CREATED_MS}


def model_version(name: str, version: int) -> dict[str, Any]:
    return {
        "name": name,
        "version": str(version),
        "creation_timestamp": CREATED_MS,
        "last_updated_timestamp": CREATED_MS,
        "current_stage": "None",
        "source": f"s3://models/{name}/{version}",
        "status": "READY",
    }


class FlakyMlflow:
    def __init__(self, models: list[str]) -> None:
        self.models = list(models)
        self.answer: Any = None  # None: MLflow's own answers; else this JSON for every search
        self.raw_body: tuple[int, bytes] | None = None  # (repeat, chunk): a body that size instead
        self.bytes_sent = 0
        self.requests = 0
        self.finished = threading.Event()  # set when a streamed body ends (or its reader hangs up)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _search(self, path: str, query: dict[str, list[str]]) -> Any:
        if self.answer is not None:
            return self.answer
        if path.endswith("registered-models/search"):
            found = [registered_model(n) for n in sorted(self.models)]
            return {"registered_models": found} if found else {}
        if path.endswith("model-versions/search"):
            wanted = (query.get("filter") or [""])[0].removeprefix("name = ").strip("'")
            names = [n for n in sorted(self.models) if not wanted or n == wanted]
            found = [model_version(n, 1) for n in names]
            return {"model_versions": found} if found else {}
        if path.endswith("registered-models/get"):
            name = (query.get("name") or [""])[0]
            if name in self.models:
                return {"registered_model": registered_model(name)}
            return None
        return None

    def __enter__(self) -> FlakyMlflow:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                owner.requests += 1
                if owner.raw_body is not None:
                    self._stream(*owner.raw_body)
                    return
                body = owner._search(parts.path, parse_qs(parts.query))
                if body is None:
                    error = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"}
                    self._send(404, json.dumps(error).encode())
                else:
                    self._send(200, json.dumps(body).encode())

            def do_POST(self) -> None:  # boto3's JSON protocols (SageMaker) POST every call
                owner.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if owner.raw_body is not None:
                    self._stream(*owner.raw_body)
                else:
                    self._send(404, b"{}")

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                owner.bytes_sent += len(data)

            def _stream(self, repeat: int, chunk: bytes) -> None:
                # No Content-Length: the reader learns the size only by reading.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for _ in range(repeat):
                        self.wfile.write(chunk)
                        owner.bytes_sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the reader hung up: what the cap is for
                finally:
                    owner.finished.set()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def running(models: list[str]) -> Iterator[FlakyMlflow]:
    with FlakyMlflow(models) as server:
        yield server
