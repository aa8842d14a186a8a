"""The artifact store on Azure Blob: Azurite (Microsoft's emulator, a real
server speaking the Blob API), checked from outside with azure-storage-blob."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

MIB = 1024 * 1024


def blobs(container: Any) -> dict[str, int]:
    return {b.name: b.size for b in container.list_blobs()}


async def test_azure_upload_lands_where_uri_says_and_downloads_by_sas(
    open_client: Any, container: Any, az_artifacts: dict[str, Any]
) -> None:
    data = os.urandom(11 * MIB)  # two blocks of 8 MiB at most
    async with open_client(az_artifacts) as client:
        response = await client.put("/artifacts/platform/bert/weights/model.safetensors", content=data)
        again = await client.put("/artifacts/platform/bert/weights/model.safetensors", content=data)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert again.json() == stored
    hexdigest = hashlib.sha256(data).hexdigest()
    key = f"store/platform/bert/{hexdigest}/weights/model.safetensors"
    assert stored["uri"] == f"az://{container.container_name}/{key}"
    assert blobs(container) == {key: len(data)}
    read = container.download_blob(key).readall()
    assert hashlib.sha256(read).hexdigest() == hexdigest


async def test_azure_broken_stream_leaves_no_blob(
    open_client: Any, container: Any, az_artifacts: dict[str, Any]
) -> None:
    async def breaks_off() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield os.urandom(MIB)
        raise httpx.ReadError("connection lost")

    async with open_client(az_artifacts) as client:
        with pytest.raises(httpx.ReadError):
            await client.put("/artifacts/platform/bert/model.bin", content=breaks_off())
    assert blobs(container) == {}
