"""A real ``modelgate serve`` process for the benches: started on a free port,
waited for until ready, stopped with SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_gateway(
    config: Path, *, cwd: Path | None = None, ready_within: float = 60, log: Path | None = None
) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    """A client bound to a freshly started gateway, and its process (its output
    goes to ``log`` when given)."""
    port = free_port()
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)],
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if log is not None:
        out.close()  # type: ignore[union-attr]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + ready_within
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the gateway did not start")
            yield client, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
