"""What a 200 MB registry answer costs the gateway process, with and without the cap.

    .venv/bin/python bench/response_cap_rss.py                       # the default cap (64 MiB)
    .venv/bin/python bench/response_cap_rss.py --cap 1073741824      # effectively no cap

A full sync of one MLflow registry (the real adapter, the gateway's sync engine, a
SQLite index) against a loopback server whose model search answers with a body of
``--megabytes`` MiB. Prints the process's resident memory before the sync, its
peak during it (VmHWM) and after it, and the bytes the server managed to send.
Run each setting in its own process: the peak is per process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import settings_from_mapping
from gateway.runtime import Gateway
from tests.servers.flaky_mlflow import FlakyMlflow

CHUNK = b" " * 65536


def memory_mib() -> dict[str, float]:
    """VmRSS and VmHWM (the peak) of this process, in MiB."""
    found: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux: write 5 to clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


async def run(megabytes: int, cap: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp, FlakyMlflow(["m"]) as server:
        registry = {
            "id": "big",
            "kind": "mlflow",
            "url": server.url,
            "fetch_run_details": False,
            "read_model_files": False,
        }
        if cap is not None:
            registry["max_response_bytes"] = cap
        settings = settings_from_mapping(
            {"storage": {"url": f"sqlite:///{tmp}/gw.db", "artifacts_dir": tmp}, "registries": [registry]},
            environ={},
        )
        gateway = await Gateway.open(settings)
        try:
            gc.collect()
            before = memory_mib()["VmRSS"]
            reset_peak()
            server.raw_body = (megabytes * 16, CHUNK)  # 16 chunks of 64 KiB per MiB
            result = await gateway.sync.sync_registry("big", full=True)
            await asyncio.to_thread(server.finished.wait, 60)
            peak = memory_mib()["VmHWM"]
            gc.collect()
            after = memory_mib()["VmRSS"]
        finally:
            await gateway.aclose()
        print(f"cap: {cap if cap is not None else 'default (64 MiB)'}; answer: {megabytes} MiB")
        print(f"sync error: {result.error}")
        print(f"server sent: {server.bytes_sent / 2**20:.1f} MiB")
        print(f"RSS before: {before:.0f} MiB, peak: {peak:.0f} MiB, after: {after:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--cap", type=int, default=None, help="max_response_bytes (default: the default)")
    args = parser.parse_args()
    asyncio.run(run(args.megabytes, args.cap))


if __name__ == "__main__":
    main()
