"""Session fixture: Azurite's Blob service (``npm ci --prefix tests/azurite``),
in memory on a free loopback port, with the emulator's well-known account."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.security.conftest import free_port

AZURITE = Path(__file__).resolve().parents[1] / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# The emulator's fixed development account (published in Azurite's README; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    endpoint: str  # http://127.0.0.1:<port>/devstoreaccount1

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoint};"
        )


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    from tests.conftest import service_missing

    if not AZURITE.exists():
        service_missing("azurite (npm ci --prefix tests/azurite)", FileNotFoundError(str(AZURITE)))
    port = free_port()
    log = (tmp_path_factory.mktemp("azurite") / "azurite.log").open("wb")
    process = subprocess.Popen(
        [
            *(str(AZURITE), "--inMemoryPersistence", "--skipApiVersionCheck", "--loose"),
            *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}?comp=list", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers (unsigned requests are refused): up
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    service_missing("azurite", exc)
                time.sleep(0.2)
        yield Azurite(endpoint)
    finally:
        process.terminate()
        process.wait(20)
        log.close()
