"""MLflow webhooks: signature checks (with MLflow's own signer), then the real
thing — a webhook created in the real MLflow server that calls a real gateway
(uvicorn on a free port), which shows a new version without any sync."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

pytest.importorskip("mlflow")
from mlflow.webhooks.delivery import _generate_hmac_signature  # MLflow's own signer

from adapters.mlflow import MlflowAdapter, MlflowOptions
from adapters.mlflow.options import Credentials
from adapters.protocol import WebhookRejected
from gateway.server import create_app
from tests.adapters.contract import unique_name
from tests.servers.mlflow import MlflowTeam, free_port
from tests.support import gql, make_settings

SECRET = "whsec-" + uuid.uuid4().hex
REGISTRY = "hooked"
SECRET_ENV = "MG_TEST_MLFLOW_WEBHOOK_SECRET"


def delivery(
    payload: dict[str, object], *, secret: str = SECRET, at: int | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body exactly as MLflow's delivery code builds them."""
    body = json.dumps(payload)
    delivery_id, timestamp = str(uuid.uuid4()), str(at if at is not None else int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
        "X-MLflow-Signature": _generate_hmac_signature(secret, delivery_id, timestamp, body),
    }
    return headers, body.encode()


def version_created(name: str) -> dict[str, object]:
    return {
        "entity": "model_version",
        "action": "created",
        "timestamp": "2026-11-26T09:00:00+00:00",
        "data": {
            "name": name,
            "version": "1",
            "source": "s3://b/m",
            "run_id": None,
            "tags": {},
            "description": None,
        },
    }


@pytest.fixture
async def adapter() -> AsyncIterator[MlflowAdapter]:
    a = MlflowAdapter(REGISTRY, MlflowOptions(url="http://127.0.0.1:9"), Credentials(webhook_secret=SECRET))
    yield a
    await a.aclose()


async def test_a_delivery_signed_by_mlflow_names_its_model(adapter: MlflowAdapter) -> None:
    headers, body = delivery(version_created("fraud"))
    assert await adapter.handle_webhook(headers, body) == ["fraud"]
    lowered = {k.lower(): v for k, v in headers.items()}  # as Starlette hands them over
    assert await adapter.handle_webhook(lowered, body) == ["fraud"]


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ("registered_model", ["m"]),
        ("model_version_tag", ["m"]),
        ("model_version_alias", ["m"]),
        ("prompt_version", []),  # prompts are not in the catalogue
        ("budget_policy", []),
    ],
)
async def test_which_events_refresh_a_model(adapter: MlflowAdapter, entity: str, expected: list[str]) -> None:
    headers, body = delivery({"entity": entity, "action": "created", "data": {"name": "m"}})
    assert await adapter.handle_webhook(headers, body) == expected


def _tamper(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return headers, body.replace(b'"fraud"', b'"other"')


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda: ({"Content-Type": "application/json"}, json.dumps(version_created("fraud")).encode()),
            "unsigned",
        ),
        (lambda: delivery(version_created("fraud"), secret="not-the-secret"), "does not match"),
        (lambda: _tamper(*delivery(version_created("fraud"))), "does not match"),
        (lambda: delivery(version_created("fraud"), at=int(time.time()) - 3600), "stale or replayed"),
        (lambda: delivery(version_created("fraud"), at=int(time.time()) + 3600), "stale or replayed"),
    ],
)
async def test_bad_deliveries_are_rejected(
    adapter: MlflowAdapter, make: Callable[[], tuple[dict[str, str], bytes]], reason: str
) -> None:
    headers, body = make()
    with pytest.raises(WebhookRejected, match=reason):
        await adapter.handle_webhook(headers, body)


async def test_missing_delivery_headers_are_rejected(adapter: MlflowAdapter) -> None:
    headers, body = delivery(version_created("fraud"))
    del headers["X-MLflow-Delivery-Id"]
    with pytest.raises(WebhookRejected, match="required"):
        await adapter.handle_webhook(headers, body)


async def test_without_a_configured_secret_nothing_is_accepted() -> None:
    open_adapter = MlflowAdapter(REGISTRY, MlflowOptions(url="http://127.0.0.1:9"))
    headers, body = delivery(version_created("fraud"))
    with pytest.raises(WebhookRejected, match="no webhook secret"):
        await open_adapter.handle_webhook(headers, body)
    await open_adapter.aclose()


async def test_rotated_secrets_any_matching_signature_passes(adapter: MlflowAdapter) -> None:
    headers, body = delivery(version_created("fraud"))
    old, _ = delivery(version_created("fraud"), secret="old-secret")
    headers["X-MLflow-Signature"] = f"{old['X-MLflow-Signature']} {headers['X-MLflow-Signature']}"
    assert await adapter.handle_webhook(headers, body) == ["fraud"]


# --- the real thing: MLflow → gateway ---------------------------------------------


class BackgroundGateway:
    """The gateway app served by uvicorn in a thread, as ``modelgate serve`` would."""

    def __init__(self, app: Starlette):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, name="gateway", daemon=True)

    def __enter__(self) -> BackgroundGateway:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def gateway_url(mlflow_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    settings = make_settings(
        f"sqlite:///{tmp_path}/gateway.db",
        tmp_path,
        registries=[
            {
                "id": REGISTRY,
                "kind": "mlflow",
                "team": "fraud",
                "url": mlflow_url,
                "webhook_secret_env": SECRET_ENV,
                "sync_interval_seconds": 3600,
            }
        ],
    )
    # No background sync at all: whatever appears in the catalogue came through a webhook.
    with BackgroundGateway(create_app(settings, background_sync=False)) as gateway:
        yield gateway.url


VERSION_QUERY = """query($uri: String!) {
  modelVersion(uri: $uri) { version stage nativeStage aliases artifactUri
                            metrics { key value } trainingData { uri role } }
  registries { id syncedAt }
}"""


def data_while_syncing(body: dict[str, Any]) -> dict[str, Any]:
    """The data of an answer from a gateway whose registry has never completed a
    sync: the only errors allowed say so (REGISTRY_UNAVAILABLE, state SYNCING)."""
    for error in body.get("errors", []):
        ext = error["extensions"]
        assert (ext["code"], ext["registry"], ext["state"]) == (
            "REGISTRY_UNAVAILABLE",
            REGISTRY,
            "SYNCING",
        ), error
    return body["data"]


async def _wait_for(
    client: httpx.AsyncClient, uri: str, done: Callable[[Any], bool], within_seconds: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within_seconds
    while True:
        data = data_while_syncing(await gql(client, VERSION_QUERY, {"uri": uri}))
        if done(data["modelVersion"]):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"{uri} never reached the expected state: {data}")
        await asyncio.sleep(0.2)


async def test_a_real_mlflow_webhook_refreshes_the_catalogue_at_once(
    gateway_url: str, mlflow_url: str
) -> None:
    team = MlflowTeam(mlflow_url)
    name = unique_name("hooked")
    team.client.create_registered_model(name)
    hook_url = f"{gateway_url}/hooks/mlflow/{REGISTRY}"
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        # Forged deliveries: 401, and the catalogue does not learn about the model.
        unsigned = await client.post(hook_url, content=json.dumps(version_created(name)))
        forged_headers, forged_body = delivery(version_created(name), secret="guessed")
        forged = await client.post(hook_url, headers=forged_headers, content=forged_body)
        assert (unsigned.status_code, forged.status_code) == (401, 401)
        assert forged.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        model = data_while_syncing(
            await gql(
                client, "query($u: String!) { model(uri: $u) { name } }", {"u": f"mg://{REGISTRY}/{name}"}
            )
        )
        assert model["model"] is None

        webhook = team.client.create_webhook(
            name=f"modelgate-{uuid.uuid4().hex[:6]}",
            url=hook_url,
            events=["model_version.created", "model_version_alias.created", "registered_model.created"],
            secret=SECRET,
        )
        try:
            probe = team.client.test_webhook(webhook.webhook_id)  # MLflow signs an example event
            assert probe.success, probe

            run_id = team.train(params={"max_depth": "4"}, metrics={"auc": 0.88})
            version = team.register(name, "s3://fraud/models/hooked/1", run_id=run_id)
            uri = f"mg://{REGISTRY}/{name}/{version}"
            data = await _wait_for(client, uri, lambda v: v is not None)
            seen = data["modelVersion"]
            assert seen["artifactUri"] == "s3://fraud/models/hooked/1"
            assert seen["metrics"] == [{"key": "auc", "value": 0.88}]
            assert [r["syncedAt"] for r in data["registries"] if r["id"] == REGISTRY] == [None]

            # An alias bumps no MLflow timestamp; the alias webhook still makes it visible now.
            team.client.set_registered_model_alias(name, "champion", version)
            data = await _wait_for(client, uri, lambda v: v is not None and v["stage"] == "PRODUCTION")
            assert data["modelVersion"]["nativeStage"] == "champion"
        finally:
            team.client.delete_webhook(webhook.webhook_id)
