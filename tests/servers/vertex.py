"""Session fixtures for the Vertex AI tests: the fake (``tests.fakes.vertex``) served by
uvicorn on 127.0.0.1 in a background thread, and a test service account for it.

``vertex_server`` starts once per session; ``vertex_fake`` hands the same server
to one test and resets its switches (token lifetime, revoked keys, injected
failures) afterwards, so a test that breaks authentication cannot leak that into
the next. Models persist for the session: tests use unique model names.
"""

from __future__ import annotations

import functools
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from joserfc.jwk import RSAKey

from tests.fakes.vertex import DISCOVERY_FILE, FakeVertex
from tests.fakes.vertex_monitoring import MONITORING_FILE

PROJECT_ID = "modelgate-test"
PROJECT_NUMBER = "123456789012"
LOCATION = "us-central1"
SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"


def new_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key(private_key_pem: str) -> RSAKey:
    """The public half, as the token endpoint holds it (Google publishes it at client_x509_cert_url)."""
    private = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return RSAKey.import_key(pem)


def service_account_info(email: str, private_key_pem: str, key_id: str, token_uri: str) -> dict[str, Any]:
    """A key file with the fields Google writes into one."""
    local = email.split("@", 1)[0]
    return {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": key_id,
        "private_key": private_key_pem,
        "client_email": email,
        "client_id": "10" + "".join(secrets.choice("0123456789") for _ in range(19)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{local}%40{PROJECT_ID}.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com",
    }


@dataclass
class VertexServer:
    """The running fake and everything a test needs to point an adapter at it."""

    fake: FakeVertex
    base_url: str  # the API endpoint (what the ``endpoint`` option takes)
    token_url: str
    credentials_file: Path
    credentials: dict[str, Any]
    project: str = PROJECT_ID
    location: str = LOCATION
    _google_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key_id(self) -> str:
        return self.credentials["private_key_id"]

    def options(self, **overrides: Any) -> dict[str, Any]:
        """Registry options for an adapter talking to this fake."""
        return {
            "project": self.project,
            "location": self.location,
            "credentials_file": str(self.credentials_file),
            "endpoint": self.base_url,
            **overrides,
        }

    def reset_switches(self) -> None:
        self.fake.reset_switches()

    def set_token_lifetime(self, seconds: int) -> None:
        self.fake.token_lifetime = seconds

    def revoke_key(self, key_id: str | None = None) -> None:
        """The service account key is deleted: its assertions no longer verify."""
        self.fake.revoked_kids.add(key_id or self.key_id)

    @property
    def tokens_issued(self) -> int:
        return self.fake.tokens_issued

    # --- Google's own client, as a team would seed Vertex ------------------------

    @functools.cached_property
    def google(self) -> Any:
        """google-api-python-client built from the discovery document, with
        google-auth's service-account credentials: Google's libraries, not ours,
        sign the JWT and build the requests (synchronous; call from a thread)."""
        credentials = service_account.Credentials.from_service_account_info(
            self.credentials, scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=10))
        return build_from_document(
            DISCOVERY_FILE.read_text(encoding="utf-8"),
            client_options={"api_endpoint": self.base_url},
            http=http,
        )

    @functools.cached_property
    def google_monitoring(self) -> Any:
        """Google's Cloud Monitoring v3 client against the fake (same port, ``/v3/``),
        with the same service-account credentials (call from a thread)."""
        return build_from_document(
            MONITORING_FILE.read_text(encoding="utf-8"),
            client_options={"api_endpoint": self.base_url},
            http=self.google._http,
        )

    def write_time_series(self, series: list[dict[str, Any]]) -> None:
        """``projects.timeSeries.create`` through Google's client."""
        with self._google_lock:
            self._drop_idle_connections()
            self.google_monitoring.projects().timeSeries().create(
                name=f"projects/{self.project}", body={"timeSeries": series}
            ).execute()

    def upload(
        self,
        model_id: str,
        *,
        artifact_uri: str,
        display_name: str | None = None,
        description: str | None = None,
        version_description: str | None = None,
        labels: dict[str, str] | None = None,
        new_version: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """``models:upload`` (a new model, or a version of ``model_id``), polling the
        long-running operation until done; returns the new version id."""
        model: dict[str, Any] = {
            "displayName": display_name or model_id,
            "artifactUri": artifact_uri,
            "containerSpec": {"imageUri": SERVING_IMAGE},
            "labels": labels or {},
        }
        if description:
            model["description"] = description
        if version_description:
            model["versionDescription"] = version_description
        if metadata is not None:
            model["metadata"] = metadata
        parent = f"projects/{self.project}/locations/{self.location}"
        body: dict[str, Any] = {"model": model}
        if new_version:
            body["parentModel"] = f"{parent}/models/{model_id}"
        else:
            body["modelId"] = model_id
        with self._google_lock:  # httplib2 connections are not thread-safe
            self._drop_idle_connections()
            models = self.google.projects().locations().models()
            operation = models.upload(parent=parent, body=body).execute()
            while not operation.get("done"):
                operation = models.operations().get(name=operation["name"]).execute()
        if "error" in operation:
            raise RuntimeError(f"upload failed: {operation['error']}")
        return operation["response"]["modelVersionId"]

    def _drop_idle_connections(self) -> None:
        """A kept-alive connection the server closed after its keep-alive timeout (tests
        minutes apart in one session) fails a POST with BrokenPipeError, and httplib2
        retries only idempotent requests: every call starts on a fresh connection."""
        for connection in self.google._http.http.connections.values():
            connection.close()
        self.google._http.http.connections.clear()

    def set_traffic_split(self, endpoint: str, split: dict[str, int]) -> dict[str, Any]:
        """``endpoints.patch`` with ``updateMask=traffic_split`` through Google's client,
        as a team shifts traffic between deployed models."""
        with self._google_lock:
            self._drop_idle_connections()
            endpoints = self.google.projects().locations().endpoints()
            return dict(
                endpoints.patch(
                    name=endpoint, updateMask="traffic_split", body={"trafficSplit": split}
                ).execute()
            )

    def record_training(self, model_id: str, version_id: str, *, run: str, datasets: list[str]) -> str:
        """Training data recorded in ML Metadata as the Vertex SDK's experiment
        tracking records it: a ``system.Dataset`` artifact per URI, a
        ``system.ContainerExecution`` for the run, and events linking the
        datasets (INPUT) and the version's ``metadataArtifact`` (OUTPUT) to it.
        Returns the execution's resource name."""
        parent = f"projects/{self.project}/locations/{self.location}"
        store = f"{parent}/metadataStores/default"
        with self._google_lock:
            self._drop_idle_connections()
            locations = self.google.projects().locations()
            version = locations.models().get(name=f"{parent}/models/{model_id}@{version_id}").execute()
            metadata = locations.metadataStores()
            inputs = [
                metadata.artifacts()
                .create(parent=store, body={"schemaTitle": "system.Dataset", "uri": uri, "displayName": uri})
                .execute()["name"]
                for uri in datasets
            ]
            execution = (
                metadata.executions()
                .create(
                    parent=store,
                    body={
                        "schemaTitle": "system.ContainerExecution",
                        "displayName": run,
                        "state": "COMPLETE",
                    },
                )
                .execute()["name"]
            )
            events = [{"artifact": a, "type": "INPUT"} for a in inputs]
            events.append({"artifact": version["metadataArtifact"], "type": "OUTPUT"})
            metadata.executions().addExecutionEvents(execution=execution, body={"events": events}).execute()
        return execution


def _free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def vertex_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexServer]:
    fake = FakeVertex(PROJECT_ID, PROJECT_NUMBER, LOCATION)
    sock = _free_socket()
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            fake.app(), log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="vertex-fake", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Vertex fake did not start")
        time.sleep(0.01)

    email = f"modelgate-reader@{PROJECT_ID}.iam.gserviceaccount.com"
    key_id = secrets.token_hex(20)
    pem = new_private_key_pem()
    fake.add_service_account(email, key_id, public_key(pem))
    info = service_account_info(email, pem, key_id, f"{base_url}/token")
    credentials_file = tmp_path_factory.mktemp("vertex") / "service-account.json"
    credentials_file.write_text(json.dumps(info, indent=2), encoding="utf-8")
    handle = VertexServer(fake, base_url, f"{base_url}/token", credentials_file, info)
    try:
        yield handle
    finally:
        if "google" in vars(handle):
            handle.google.close()  # httplib2 keeps connections open
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def vertex_fake(vertex_server: VertexServer) -> Iterator[VertexServer]:
    """The session's fake for one test; its switches are reset afterwards, and
    every response it sent during the test must match the discovery document."""
    vertex_server.reset_switches()
    seen = len(vertex_server.fake.violations)
    try:
        yield vertex_server
    finally:
        vertex_server.reset_switches()
    new = vertex_server.fake.violations[seen:]
    assert not new, "the fake answered outside the discovery document:\n" + "\n".join(new)
