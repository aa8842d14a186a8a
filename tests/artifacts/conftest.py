"""Gateways whose ``[artifacts]`` store is a directory or a bucket on a real
moto S3 server (the session's ``moto_server``), checked from outside with boto3."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.config import settings_from_mapping
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.servers.azurite import ACCOUNT, ACCOUNT_KEY, Azurite

REGION = "us-east-1"
REGISTRIES = [
    {"id": "platform", "kind": "native", "team": "platform"},
    {"id": "research", "kind": "native", "team": "research"},
]


def raw_settings(database_url: str, artifacts: dict[str, Any]) -> dict[str, Any]:
    return {"storage": {"url": database_url}, "artifacts": artifacts, "registries": REGISTRIES}


@pytest.fixture
def s3(moto_sagemaker_url: str, aws_env: None) -> Any:
    import boto3

    return boto3.client("s3", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"models-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_artifacts(moto_sagemaker_url: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # Credentials through the *_env keys (moto accepts any).
    monkeypatch.setenv("MODELS_KEY_ID", "testing")
    monkeypatch.setenv("MODELS_SECRET", "testing")
    return {
        "url": f"s3://{bucket}/store",
        "endpoint": moto_sagemaker_url,
        "region": REGION,
        "access_key_id_env": "MODELS_KEY_ID",
        "secret_access_key_env": "MODELS_SECRET",
    }


@pytest.fixture
def container(azurite: Azurite) -> Any:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return service.create_container(f"models-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def az_artifacts(azurite: Azurite, container: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("MODELS_ACCOUNT_KEY", ACCOUNT_KEY)
    return {
        "url": f"az://{container.container_name}/store",
        "endpoint": azurite.endpoint,
        "account_name": ACCOUNT,
        "account_key_env": "MODELS_ACCOUNT_KEY",
    }


@pytest.fixture
async def open_client(tmp_path: Path) -> AsyncIterator[Callable[[dict[str, Any]], Any]]:
    """``async with open_client(artifacts_section) as client``: a gateway over that
    store (on SQLite: the catalogue database plays no part in where files go)."""
    database_url = f"sqlite:///{tmp_path}/modelgate.db"

    @asynccontextmanager
    async def opened(artifacts: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
        settings = settings_from_mapping(raw_settings(database_url, artifacts), environ=dict(os.environ))
        gateway = await Gateway.open(settings)
        app = create_app(settings, gateway=gateway, background_sync=False)
        try:
            async with (
                LifespanManager(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as c,
            ):
                yield c
        finally:
            await gateway.aclose()

    yield opened


def local_url(tmp_path: Path) -> dict[str, Any]:
    return {"url": f"file://{tmp_path / 'artifacts'}"}
