"""Session fixtures for the Kubeflow tests: the spec-validated fake
(``tests.fakes.kubeflow``) served by uvicorn on 127.0.0.1 in a background
thread, and the **real** ``model-registry`` Python client pointed at it.

``kubeflow_server`` starts once per session; ``kubeflow_fake`` hands it to one
test, resets its switches afterwards, and fails the test if any request or
response of that test broke the OpenAPI spec. Models persist for the session:
tests use unique model names.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.kubeflow import FakeKubeflow

T = TypeVar("T")
AUTHOR = "modelgate-tests"


class LoopThread:
    """An event loop on its own thread for the client's coroutines: the client
    would otherwise patch asyncio globally (nest_asyncio) to run them re-entrantly."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kubeflow-client", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@dataclass
class KubeflowServer:
    fake: FakeKubeflow
    base_url: str
    port: int
    token: str
    runner: LoopThread
    ca_file: Path

    def options(self, **overrides: Any) -> dict[str, Any]:
        """Registry options for an adapter talking to this fake (the token comes
        from ``KF_TOKEN`` in the environment the test hands ``load_settings``)."""
        return {"url": self.base_url, "token_env": "KF_TOKEN", **overrides}

    @property
    def environ(self) -> dict[str, str]:
        return {"KF_TOKEN": self.token}

    def reset_switches(self) -> None:
        self.fake.reset_switches()

    # --- the real client -------------------------------------------------------

    @functools.cached_property
    def client(self) -> Any:
        """``model_registry.ModelRegistry``, as a data scientist would open it
        (synchronous; call from a thread). It calls ``/api/model_registry/v1``."""
        from model_registry import ModelRegistry

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns that port 80 is not the http port
            client = ModelRegistry(
                server_address="http://127.0.0.1",
                port=self.port,
                author=AUTHOR,
                is_secure=False,
                user_token=self.token,
                async_runner=self.runner.run,
            )
        # Every call builds an SSL context, even for plain http, and loading the
        # system's CA bundle into it takes ~0.2 s here; one tiny CA keeps it cheap.
        client._api.config.ssl_ca_cert = str(self.ca_file)
        return client

    def service_api(self, call: Any) -> Any:
        """Run ``call(api)`` with the client's generated ``ModelRegistryServiceApi``
        (for what the high-level client has no method for, like InferenceServices)."""

        async def run() -> Any:
            async with self.client._api.get_client() as api:
                return await call(api)

        return self.runner.run(run())

    def deploy(
        self,
        model_id: str,
        version_id: str | None,
        name: str,
        *,
        environment: str = "team-serving",
        state: str = "DEPLOYED",
    ) -> dict[str, Any]:
        """Create an InferenceService (what KServe's model-registry controller does),
        in the serving environment ``environment`` (made if missing)."""
        from mr_openapi import InferenceServiceCreate, ServingEnvironmentCreate
        from mr_openapi.exceptions import NotFoundException

        async def create(api: Any) -> Any:
            try:
                env = await api.find_serving_environment(name=environment)
            except NotFoundException:
                env = await api.create_serving_environment(ServingEnvironmentCreate(name=environment))
            return await api.create_inference_service(
                InferenceServiceCreate(
                    name=name,
                    registered_model_id=model_id,
                    model_version_id=version_id,
                    serving_environment_id=env.id,
                    desired_state=state,
                    runtime="kserve",
                )
            )

        return self.service_api(create).to_dict()  # type: ignore[no-any-return]

    def undeploy(self, service_id: str) -> None:
        from mr_openapi import InferenceServiceUpdate

        async def patch(api: Any) -> Any:
            return await api.update_inference_service(
                service_id, InferenceServiceUpdate(desired_state="UNDEPLOYED")
            )

        self.service_api(patch)


def _tiny_ca(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelgate test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def kubeflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeflowServer]:
    token = secrets.token_urlsafe(24)
    fake = FakeKubeflow(tokens={token})
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            fake.app(), log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="kubeflow-fake", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Kubeflow fake did not start")
        time.sleep(0.01)
    runner = LoopThread()
    ca_file = _tiny_ca(tmp_path_factory.mktemp("kubeflow") / "ca.pem")
    handle = KubeflowServer(fake, f"http://127.0.0.1:{port}", port, token, runner, ca_file)
    try:
        yield handle
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runner.stop()
        sock.close()


@pytest.fixture
def kubeflow_fake(kubeflow_server: KubeflowServer) -> Iterator[KubeflowServer]:
    """The session's fake for one test; every request and response of the test
    must match the OpenAPI spec."""
    kubeflow_server.reset_switches()
    seen = len(kubeflow_server.fake.violations)
    try:
        yield kubeflow_server
    finally:
        kubeflow_server.reset_switches()
    new = kubeflow_server.fake.violations[seen:]
    assert not new, "requests or responses outside the Kubeflow OpenAPI spec:\n" + "\n".join(new)
