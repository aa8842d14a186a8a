"""``kill -9`` of a real ``modelgate serve`` in the middle of a multipart upload
to S3 (moto's server, read with boto3): no object, partial or whole, becomes
visible, and the next upload of the same file, to a new process, succeeds."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.artifacts.test_upload import s3_objects
from tests.security.test_crash import Server

MIB = 1024 * 1024


def write_config(tmp_path: Path, bucket: str, moto_url: str) -> Path:
    config = tmp_path / "modelgate.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path}/modelgate.db"

[artifacts]
url = "s3://{bucket}/store"
endpoint = "{moto_url}"
region = "us-east-1"
access_key_id_env = "AWS_ACCESS_KEY_ID"
secret_access_key_env = "AWS_SECRET_ACCESS_KEY"

[[registries]]
id = "platform"
kind = "native"
team = "platform"
"""
    )
    return config


async def test_kill_9_mid_multipart_upload_leaves_nothing_visible(
    tmp_path: Path, s3: Any, bucket: str, moto_sagemaker_url: str
) -> None:
    data = os.urandom(24 * MIB)
    config = write_config(tmp_path, bucket, moto_sagemaker_url)
    route = "/artifacts/platform/llm/model.safetensors"
    hold = asyncio.Event()  # never set: the rest of the body never comes

    async def first_half() -> AsyncIterator[bytes]:
        for start in range(0, 20 * MIB, MIB):  # two 8 MiB parts go out, then the client waits
            yield data[start : start + MIB]
        await hold.wait()

    server = Server(config, tmp_path / "first.log")
    await server.ready()
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        upload = asyncio.create_task(client.put(route, content=first_half()))
        deadline = time.monotonic() + 60
        while not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"):  # mid multipart upload
            assert not upload.done() and time.monotonic() < deadline, "no multipart upload began"
            await asyncio.sleep(0.1)
        server.kill()  # SIGKILL: no cleanup runs
        upload.cancel()  # the client may be waiting on its own body: it would never notice
        with contextlib.suppress(httpx.TransportError, asyncio.CancelledError):
            await upload
    assert s3_objects(s3, bucket) == {}

    restarted = Server(config, tmp_path / "second.log")
    try:
        await restarted.ready()
        async with httpx.AsyncClient(base_url=restarted.url, timeout=60) as client:
            response = await client.put(route, content=data)
    finally:
        restarted.kill()
    assert response.status_code == 201, response.text
    hexdigest = hashlib.sha256(data).hexdigest()
    key = f"store/platform/llm/{hexdigest}/model.safetensors"
    assert response.json()["uri"] == f"s3://{bucket}/{key}"
    assert s3_objects(s3, bucket) == {key: len(data)}
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == hexdigest
