"""Session fixtures for the SageMaker registry tests: a real ``moto_server``.

One moto server (``moto_server -H 127.0.0.1 -p <free port>``) serves the whole
session; tests keep out of each other's way with unique group names, or a region
of their own (moto keeps one backend per region). moto is a test dependency
(``moto[server]``); where it is missing the tests are skipped, or fail under CI.

The server gets dummy credentials in its own environment; the tests set dummy
ones in theirs with ``aws_env`` (monkeypatch), so no real AWS credentials are
read, and none are needed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
START_TIMEOUT = 60.0  # cold start is ~5 s here; leave room for a loaded machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _moto_server_command() -> list[str] | None:
    beside_python = Path(sys.executable).with_name("moto_server")
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which("moto_server")
    return [found] if found else None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


@pytest.fixture(scope="session")
def moto_sagemaker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a moto server started for this session (terminated at its end)."""
    from tests.conftest import service_missing

    command = _moto_server_command()
    if command is None:
        service_missing("moto_server (pip install 'moto[server]')", FileNotFoundError("moto_server"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    env = {**os.environ, **DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(port)],  # type: ignore[misc]
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url):
            if process.poll() is not None:
                service_missing(
                    "moto_server",
                    RuntimeError(f"exited with {process.returncode}: {log_path.read_text()[-500:]}"),
                )
            if time.monotonic() > deadline:
                service_missing(
                    "moto_server", TimeoutError(f"no answer on {url} after {START_TIMEOUT:.0f} s")
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials for this test, and nothing of the developer's own AWS
    setup: no config or credentials files, no profile, no instance metadata."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
