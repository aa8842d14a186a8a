"""``serve --workers N``: N server processes that really share the load.

uvicorn's own multi-worker mode hands every worker one shared listening socket.
Each worker's event loop then accepts whatever is queued when it wakes, so a
burst of new connections lands on one worker and, with keep-alive clients (load
balancers, dashboards, the load test), stays there: measured on two workers,
all 16 client connections were held by one process while the other idled.

On Linux each worker here listens on its own ``SO_REUSEPORT`` socket instead,
and the kernel spreads incoming connections across them by hashing. The parent
reserves the port with a bound, never-listening socket of the same group (so a
taken port fails at once, and port 0 resolves to one port for all workers),
forwards SIGINT/SIGTERM to the workers for a graceful shutdown, and restarts a
worker that dies. Where ``SO_REUSEPORT`` does not balance (not Linux), it falls
back to uvicorn's shared socket.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

APP = "gateway.server:app_from_environment"
RESTART_DELAY_S = 1.0
# A worker's exit code when it could not start (the store is unreachable, say):
# stop, rather than restart it in a loop. uvicorn's own value.
STARTUP_FAILURE = 3

log = logging.getLogger("modelgate.workers")


def balanced() -> bool:
    """Whether this platform balances connections across ``SO_REUSEPORT`` sockets."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _reserve(host: str, port: int) -> socket.socket:
    """The group's first, never-listening member. Any process of the same user may
    join a ``SO_REUSEPORT`` group, so a second gateway started on this port would
    silently take half its connections: a plain bind first fails if anyone listens."""
    try:
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = probe.getsockname()[1]
        return reuseport_socket(host, port)
    except OSError as exc:
        raise BindFailed(f"{host}:{port}: {exc.strerror or exc}") from None


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    """One worker process: its own listening socket, its own app (from the
    environment the parent set, ``gateway.server.app_from_environment``)."""
    import uvicorn

    sock = reuseport_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(APP, factory=True, host=host, port=port, **options))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class WorkerFailed(RuntimeError):
    """A worker exited while starting; its log says why."""


class BindFailed(OSError):
    """The address cannot be listened on (taken, or not this machine's)."""


def serve(host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """Run ``workers`` processes until SIGINT or SIGTERM; ``options`` are
    ``uvicorn.Config`` keyword arguments. ``WorkerFailed`` if one cannot start."""
    if not balanced():
        import uvicorn

        uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, **options)
        return
    reserved = _reserve(host, port)
    port = reserved.getsockname()[1]
    spawn = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def start() -> BaseProcess:
        process = spawn.Process(target=_worker, args=(host, port, options), name="modelgate-worker")
        process.start()
        return process

    def stop(signum: int, _frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    log.info("started %d workers on %s:%d (SO_REUSEPORT)", workers, host, port)
    try:
        while not stopping.wait(0.5):
            for i, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    raise WorkerFailed("a worker could not start; its log above says why")
                log.error("worker %s exited with %s; starting another", process.pid, process.exitcode)
                if not stopping.wait(RESTART_DELAY_S):
                    processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes in-flight requests first
        grace = float(options.get("timeout_graceful_shutdown") or 10) + 5
        for process in processes:
            process.join(grace)
            if process.is_alive():
                process.kill()
                process.join()
        reserved.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
