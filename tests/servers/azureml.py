"""Session fixtures for the Azure ML tests: the fake (``tests.fakes.azureml``) served by
uvicorn on 127.0.0.1, twice: over plain HTTP for modelgate's adapter (loopback
HTTP is allowed by its options) and over TLS with a throw-away CA for Microsoft's
clients, because MSAL (inside azure-identity) accepts only an ``https``
authority. Both listeners share one fake, so what the SDK writes the adapter reads.

``azureml_server`` starts once per session; ``azureml_fake`` hands it to one test,
resets its switches afterwards and fails the test if any request or response
broke the spec.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib.util
import ipaddress
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.azureml.fake import FakeAzureML

TENANT_ID = "7f3c1c2e-5b7a-4b8e-9a53-2f4b6b0e7c11"
SUBSCRIPTION_ID = "0b8e6d52-3c9f-4e3a-8c1d-6f2a9b7e4d10"
RESOURCE_GROUP = "ml-rg"
WORKSPACE = "risk-ws"
REGISTRY_NAME = "org-registry"
CLIENT_ID = "3d9b1f40-8e2c-4a6b-b1d7-9c0e5f2a8b33"


@dataclass(eq=False)
class AzureMLServer:
    fake: FakeAzureML
    base_url: str  # plain HTTP, for the adapter
    tls_url: str  # HTTPS, for azure-identity and azure-ai-ml
    ca_file: Path
    client_secret: str
    federated_token_file: Path
    federated_client_id: str
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _revocations_seen: int = 0

    @contextlib.contextmanager
    def _seeding(self) -> Iterator[None]:
        """The lock around Microsoft's clients; after a test revoked every token, their
        cached ones are dropped so seeding signs in again (as a fresh job would)."""
        with self._lock:
            if self.fake.revocations != self._revocations_seen:
                for cached in ("credential", "ml_client", "arm_client"):
                    self.__dict__.pop(cached, None)
                self._revocations_seen = self.fake.revocations
            yield

    def options(self, *, registry: bool = False, **overrides: Any) -> dict[str, Any]:
        """Registry options for an adapter talking to this fake (the secret in ``AZURE_TEST_SECRET``)."""
        scope = {"registry": REGISTRY_NAME} if registry else {"workspace": WORKSPACE}
        return {
            "subscription_id": SUBSCRIPTION_ID,
            "resource_group": RESOURCE_GROUP,
            "tenant_id": TENANT_ID,
            "client_id": CLIENT_ID,
            "client_secret_env": "AZURE_TEST_SECRET",
            "endpoint": self.base_url,
            "authority": self.base_url,
            **scope,
            **overrides,
        }

    @property
    def environ(self) -> dict[str, str]:
        return {"AZURE_TEST_SECRET": self.client_secret}

    # --- Microsoft's own clients, as a team would use them (synchronous: call from a thread)

    @functools.cached_property
    def credential(self) -> Any:
        """azure-identity's ``ClientSecretCredential`` with this fake as the authority.
        Instance discovery would ask login.microsoftonline.com about the host; the
        documented switch for private clouds turns it off."""
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(
            TENANT_ID,
            CLIENT_ID,
            self.client_secret,
            authority=self.tls_url,
            disable_instance_discovery=True,
            connection_verify=str(self.ca_file),
        )

    @functools.cached_property
    def ml_client(self) -> Any:
        """azure-ai-ml's ``MLClient`` for the workspace, pointed at the fake as a custom cloud."""
        from azure.ai.ml import MLClient

        metadata = {
            "azure_portal": self.tls_url,
            "resource_manager": self.tls_url,
            "active_directory": self.tls_url,
            "aml_resource_id": self.tls_url,
            "storage_endpoint": "core.windows.net",
            "registry_discovery_endpoint": self.tls_url,
        }
        return MLClient(
            self.credential,
            SUBSCRIPTION_ID,
            RESOURCE_GROUP,
            WORKSPACE,
            cloud="ModelgateAzureMLFake",
            cloud_metadata=metadata,
            enable_telemetry=False,
            connection_verify=str(self.ca_file),
        )

    @functools.cached_property
    def arm_client(self) -> Any:
        """azure-ai-ml's generated ARM client (api-version 2025-12-01). ``MLClient`` needs
        Azure's registry discovery service and blob uploads to write to a registry, so
        registry models are created with the REST client the SDK itself wraps."""
        from azure.ai.ml._restclient.arm_ml_service import MachineLearningServicesMgmtClient

        return MachineLearningServicesMgmtClient(
            self.credential, SUBSCRIPTION_ID, base_url=self.tls_url, connection_verify=str(self.ca_file)
        )

    @functools.cached_property
    def pipeline(self) -> Any:
        """azure-core's HTTP pipeline with azure-identity's bearer-token policy: what
        every Azure SDK client sends through, used when azure-ai-ml is not installed."""
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy

        return PipelineClient(
            base_url=self.tls_url,
            policies=[BearerTokenCredentialPolicy(self.credential, ARM_SCOPE)],
            connection_verify=str(self.ca_file),
        )

    def _rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        from azure.core.rest import HttpRequest

        request = HttpRequest(method, f"{self.tls_url}{path}", params={"api-version": API_VERSION}, json=body)
        response = self.pipeline.send_request(request)
        response.raise_for_status()
        operation = response.headers.get("Azure-AsyncOperation")
        if operation:  # a long-running PUT: poll, then read the resource (final-state-via original-uri)
            while (
                self.pipeline.send_request(HttpRequest("GET", operation)).json().get("status") != "Succeeded"
            ):
                time.sleep(0.05)
            return self._rest("GET", path)
        result: dict[str, Any] = response.json()
        return result

    # --- seeding and reading back, through azure-ai-ml when it is installed -----

    def create_workspace_version(self, name: str, version: str, **fields: Any) -> dict[str, Any]:
        """``MLClient.models.create_or_update`` with a remote path (nothing is uploaded);
        without azure-ai-ml the same ARM PUT through azure-core. Returns the stored properties."""
        fields.setdefault("path", f"s3://azureml-tests/{name}/{version}/model.pkl")
        with self._seeding():
            if HAS_SDK and "job_name" not in fields:
                from azure.ai.ml.entities import Model

                self.ml_client.models.create_or_update(Model(name=name, version=version, **fields))
            elif HAS_SDK:
                # azure-ai-ml's Model entity drops job_name on write; its generated client keeps it.
                from azure.ai.ml._restclient.arm_ml_service import models

                body = _rest_body(fields)["properties"]
                props = models.ModelVersionProperties(
                    model_uri=body["modelUri"], job_name=body["jobName"], model_type=body["modelType"]
                )
                self.arm_client.model_versions.create_or_update(
                    RESOURCE_GROUP, WORKSPACE, name, version, models.ModelVersion(properties=props)
                )
            else:
                path = f"{_scope('workspaces', WORKSPACE)}/models/{name}/versions/{version}"
                self._rest("PUT", path, _rest_body(fields))
        return self.fake.version(WORKSPACE, name, version) or {}

    def workspace_version(self, name: str, version: str) -> dict[str, Any]:
        """``MLClient.models.get`` (or the ARM GET): stage, tags, description as a client sees them."""
        with self._seeding():
            if HAS_SDK:
                model = self.ml_client.models.get(name, version)
                return {"stage": model.stage, "tags": model.tags, "description": model.description}
            props = self._rest("GET", f"{_scope('workspaces', WORKSPACE)}/models/{name}/versions/{version}")[
                "properties"
            ]
            return {
                "stage": props.get("stage"),
                "tags": props.get("tags"),
                "description": props.get("description"),
            }

    def archive_workspace_version(self, name: str, version: str) -> None:
        """``MLClient.models.archive`` (a GET and a PUT with ``isArchived``)."""
        with self._seeding():
            if HAS_SDK:
                self.ml_client.models.archive(name, version)
                return
            path = f"{_scope('workspaces', WORKSPACE)}/models/{name}/versions/{version}"
            props = self._rest("GET", path)["properties"]
            props.pop("provisioningState", None)
            self._rest("PUT", path, {"properties": {**props, "isArchived": True}})

    def active_workspace_versions(self, name: str) -> list[str]:
        """What a default listing shows (``listViewType`` ActiveOnly)."""
        with self._seeding():
            if HAS_SDK:
                return [m.version for m in self.ml_client.models.list(name)]
            body = self._rest("GET", f"{_scope('workspaces', WORKSPACE)}/models/{name}/versions")
            return [v["name"] for v in body["value"]]

    def create_registry_version(
        self, name: str, version: str, *, container: dict[str, Any] | None = None, **properties: Any
    ) -> None:
        """A registry model version through the generated client (a long-running PUT, polled)."""
        base = f"{_scope('registries', REGISTRY_NAME)}/models/{name}"
        with self._seeding():
            if not HAS_SDK:
                if container is not None:
                    self._rest("PUT", base, {"properties": container})
                rest = {_CAMEL.get(k, k): v for k, v in properties.items()}
                self._rest("PUT", f"{base}/versions/{version}", {"properties": rest})
                return
            from azure.ai.ml._restclient.arm_ml_service import models

            if container is not None:
                self.arm_client.registry_model_containers.begin_create_or_update(
                    RESOURCE_GROUP,
                    REGISTRY_NAME,
                    name,
                    models.ModelContainer(properties=models.ModelContainerProperties(**container)),
                ).result()
            body = models.ModelVersion(properties=models.ModelVersionProperties(**properties))
            self.arm_client.registry_model_versions.begin_create_or_update(
                RESOURCE_GROUP, REGISTRY_NAME, name, version, body
            ).result()

    def registry_version(self, name: str, version: str) -> dict[str, Any]:
        with self._seeding():
            if HAS_SDK:
                props = self.arm_client.registry_model_versions.get(
                    RESOURCE_GROUP, REGISTRY_NAME, name, version
                )
                return {"stage": props.properties.stage, "tags": props.properties.tags}
            body = self._rest(
                "GET", f"{_scope('registries', REGISTRY_NAME)}/models/{name}/versions/{version}"
            )
            return {"stage": body["properties"].get("stage"), "tags": body["properties"].get("tags")}

    def archive_registry_version(self, name: str, version: str) -> None:
        with self._seeding():
            if not HAS_SDK:
                path = f"{_scope('registries', REGISTRY_NAME)}/models/{name}/versions/{version}"
                props = self._rest("GET", path)["properties"]
                props.pop("provisioningState", None)
                self._rest("PUT", path, {"properties": {**props, "isArchived": True}})
                return
            current = self.arm_client.registry_model_versions.get(
                RESOURCE_GROUP, REGISTRY_NAME, name, version
            )
            current.properties.is_archived = True
            self.arm_client.registry_model_versions.begin_create_or_update(
                RESOURCE_GROUP, REGISTRY_NAME, name, version, current
            ).result()


# With azure-ai-ml installed the seeding above goes through Microsoft's SDK; without it
# (it is not in the test extra: see pyproject) through azure-core with azure-identity.
# MODELGATE_TEST_NO_AZURE_AI_ML=1 takes the azure-core path even where it is installed.
def _has_sdk() -> bool:
    try:  # find_spec imports the parents: without azure-ai-ml, "azure.ai" itself is missing
        found = importlib.util.find_spec("azure.ai.ml") is not None
    except ModuleNotFoundError:
        found = False
    return found


HAS_SDK = _has_sdk() and not os.environ.get("MODELGATE_TEST_NO_AZURE_AI_ML")
API_VERSION = "2025-12-01"
ARM_SCOPE = "https://management.azure.com/.default"
_CAMEL = {
    "model_uri": "modelUri",
    "job_name": "jobName",
    "is_archived": "isArchived",
    "model_type": "modelType",
}


def _scope(kind: str, name: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}"
        f"/providers/Microsoft.MachineLearningServices/{kind}/{name}"
    )


def _rest_body(fields: dict[str, Any]) -> dict[str, Any]:
    """The ARM body ``MLClient`` builds from ``Model(**fields)``."""
    props: dict[str, Any] = {"modelUri": fields["path"], "modelType": fields.get("type") or "custom_model"}
    for key, wire in (
        ("description", "description"),
        ("tags", "tags"),
        ("properties", "properties"),
        ("stage", "stage"),
        ("job_name", "jobName"),
    ):
        if fields.get(key) is not None:
            props[wire] = fields[key]
    if fields.get("flavors"):
        props["flavors"] = {k: {"data": v} for k, v in fields["flavors"].items()}
    return {"properties": props}


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A CA-less self-signed certificate for 127.0.0.1 (it is its own trust anchor)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelgate azureml fake")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "fake.crt", directory / "fake.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def _serve(app: Any, name: str, **tls: Any) -> tuple[uvicorn.Server, threading.Thread, socket.socket]:
    sock = _free_socket()
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30, **tls
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the Azure ML fake ({name}) did not start")
        time.sleep(0.01)
    return server, thread, sock


@pytest.fixture(scope="session")
def azureml_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureMLServer]:
    directory = tmp_path_factory.mktemp("azureml")
    fake = FakeAzureML(TENANT_ID, SUBSCRIPTION_ID, RESOURCE_GROUP)
    fake.add_workspace(WORKSPACE)
    fake.add_registry(REGISTRY_NAME)
    secret = f"s3cr3t~{uuid.uuid4().hex}"
    fake.add_client(CLIENT_ID, secret=secret)
    federated_id = str(uuid.uuid4())
    assertion = f"eyJhbGciOiJSUzI1NiJ9.{uuid.uuid4().hex}.sig"  # opaque to the fake, like any JWT would be
    token_file = directory / "azure-identity-token"
    token_file.write_text(assertion, encoding="utf-8")
    fake.add_client(federated_id, assertion=assertion)
    cert_file, key_file = _self_signed(directory)
    app = fake.app()
    plain = _serve(app, "azureml-fake-http")
    secure = _serve(app, "azureml-fake-https", ssl_certfile=str(cert_file), ssl_keyfile=str(key_file))
    tls_url = f"https://127.0.0.1:{secure[2].getsockname()[1]}"
    fake.accepted_scopes.add(f"{tls_url}/.default")
    handle = AzureMLServer(
        fake=fake,
        base_url=f"http://127.0.0.1:{plain[2].getsockname()[1]}",
        tls_url=tls_url,
        ca_file=cert_file,
        client_secret=secret,
        federated_token_file=token_file,
        federated_client_id=federated_id,
    )
    try:
        yield handle
    finally:
        for server, thread, sock in (plain, secure):
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


@pytest.fixture
def azureml_fake(azureml_server: AzureMLServer) -> Iterator[AzureMLServer]:
    """The session's fake for one test; every request and response it saw during
    the test must match the spec."""
    azureml_server.fake.reset_switches()
    seen = len(azureml_server.fake.violations)
    try:
        yield azureml_server
    finally:
        azureml_server.fake.reset_switches()
        for client in azureml_server.fake.clients.values():
            client.disabled = False
    new = azureml_server.fake.violations[seen:]
    assert not new, "a request or response broke the Azure ML spec:\n" + "\n".join(new)
