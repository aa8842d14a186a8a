"""Two gateway processes (``modelgate serve``, each on its own port) over one
PostgreSQL database and one bucket on a real moto S3 server: a file uploaded
and registered through replica A is listed and downloaded, with its digest,
through replica B (its own route and the URL the store signs)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.postgres

DATA = os.urandom(5 * 1024 * 1024 + 123)  # more than one multipart part


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def replica(config: Path, log: Path) -> Iterator[httpx.Client]:
    """``modelgate serve --config config`` on a free loopback port, until the block ends."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)],
            cwd=config.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "the replica did not get ready"
                time.sleep(0.2)
            yield client
    finally:
        process.terminate()
        process.wait(timeout=60)


def write_config(tmp_path: Path, postgres_url: str, artifacts: dict[str, Any]) -> Path:
    lines = ["[storage]", f'url = "{postgres_url}"', "", "[artifacts]"]
    lines += [f'{k} = "{v}"' for k, v in artifacts.items()]
    lines += ["", "[[registries]]", 'id = "platform"', 'kind = "native"', 'team = "platform"', ""]
    path = tmp_path / "modelgate.toml"
    path.write_text("\n".join(lines))
    return path


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


REGISTER = """mutation($uri: String!) {
  registerModelVersion(input: {registry: "platform", model: "fraud", artifactUri: $uri}) { uri }
}"""
READ = """query {
  modelVersion(uri: "mg://platform/fraud/1") {
    artifactUri
    files { path size digest }
    download { url digest size expiresAt }
  }
}"""


def test_a_file_uploaded_through_one_replica_is_served_by_the_other(
    tmp_path: Path, postgres_url: str, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    config = write_config(tmp_path, postgres_url, s3_artifacts)
    with replica(config, tmp_path / "a.log") as a, replica(config, tmp_path / "b.log") as b:
        uploaded = a.put("/artifacts/platform/fraud/model.bin", content=DATA)
        assert uploaded.status_code == 201, uploaded.text
        stored = uploaded.json()
        assert stored["digest"] == sha256(DATA)
        registered = a.post("/graphql", json={"query": REGISTER, "variables": {"uri": stored["uri"]}})
        assert registered.json()["data"]["registerModelVersion"]["uri"] == "mg://platform/fraud/1"

        seen = b.post("/graphql", json={"query": READ}).json()
        version = seen["data"]["modelVersion"]
        assert version["artifactUri"] == stored["uri"]
        assert version["files"] == [{"path": "model.bin", "size": len(DATA), "digest": sha256(DATA)}]

        through_b = b.get("/artifacts/platform/fraud/1/model.bin")
        assert through_b.status_code == 200
        assert sha256(through_b.content) == through_b.headers["x-content-digest"] == sha256(DATA)

        signed = version["download"]
        assert signed["digest"] == sha256(DATA) and signed["expiresAt"] is not None
        assert signed["url"].startswith(s3_artifacts["endpoint"]), "the store itself serves it"
        assert sha256(httpx.get(signed["url"], timeout=60).content) == sha256(DATA)

    key = stored["uri"][len(f"s3://{bucket}/") :]
    assert sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == sha256(DATA)
