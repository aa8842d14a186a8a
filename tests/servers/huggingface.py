"""Session fixtures for the Hugging Face tests: the fake Hub (``tests.fakes.huggingface``)
served by uvicorn on 127.0.0.1 in a background thread, and the **real**
``huggingface_hub.HfApi`` pointed at it to seed repositories as a team would
(``create_repo``, ``upload_file`` of a README with card metadata, ``create_tag``).

``hub_server`` starts once per session; ``hub_fake`` hands it to one test, resets
its switches afterwards and fails the test if an answer broke the client's
response types. Repositories persist for the session: tests use unique names.
"""

from __future__ import annotations

import functools
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
import yaml

from tests.fakes.huggingface import FakeHub

ORG = "acme-ml"


@dataclass
class HubServer:
    fake: FakeHub
    endpoint: str
    token: str

    def options(self, **overrides: Any) -> dict[str, Any]:
        """Registry options for an adapter on this fake (the token from ``HF_TOKEN``)."""
        return {"endpoint": self.endpoint, "organization": ORG, "token_env": "HF_TOKEN", **overrides}

    @property
    def environ(self) -> dict[str, str]:
        return {"HF_TOKEN": self.token}

    @functools.cached_property
    def client(self) -> Any:
        """``huggingface_hub.HfApi`` on the fake (synchronous; call from a thread)."""
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token)

    def publish(
        self, repo_id: str, card: dict[str, Any], *, body: str | None = None, message: str = "card"
    ) -> str:
        """Create the repository if needed and commit a README whose front matter is
        ``card`` (and whose text names ``message``: the client skips a commit that
        changes nothing); returns the new commit's id."""
        self.client.create_repo(repo_id, exist_ok=True)
        readme = f"---\n{yaml.safe_dump(card, sort_keys=False)}---\n\n{body or f'A model ({message}).'}\n"
        info = self.client.upload_file(
            path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id=repo_id, commit_message=message
        )
        return str(info.oid)

    def tag(self, repo_id: str, tag: str, revision: str) -> None:
        self.client.create_tag(repo_id, tag=tag, revision=revision)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def hub_server() -> Iterator[HubServer]:
    token = "hf_" + secrets.token_urlsafe(24)
    fake = FakeHub(tokens={token})
    sock = _free_socket()
    port = sock.getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            fake.app(), log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="hub-fake", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake Hub did not start")
        time.sleep(0.01)
    try:
        yield HubServer(fake, fake.base_url, token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def hub_fake(hub_server: HubServer) -> Iterator[HubServer]:
    """The session's fake Hub for one test; its answers must parse with the client's types."""
    hub_server.fake.reset_switches()
    seen = len(hub_server.fake.violations)
    try:
        yield hub_server
    finally:
        hub_server.fake.reset_switches()
    new = hub_server.fake.violations[seen:]
    assert not new, "answers outside the Hub's shapes:\n" + "\n".join(new)
