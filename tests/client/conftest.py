"""A real ``modelgate serve`` process for the client's tests (API keys, a
file:// model store, a policy file), and the client's sources on the path: the
tests import ``modelgate_client`` from ``clients/python/src`` exactly as
installed, and run ``mg`` as ``python -m modelgate_client``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.auth.apikeys import hash_key
from tests.security.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
CLIENT_SRC = REPO / "clients" / "python" / "src"
if str(CLIENT_SRC) not in sys.path:
    sys.path.insert(0, str(CLIENT_SRC))

KEYS = {
    "alice": "mg_client-alice",  # platform's lead: registers and requests
    "bob": "mg_client-bob",  # platform's other lead: approves alice's requests
    "rita": "mg_client-rita",  # research team only: may read, not write to platform
}

POLICIES = """
policies:
  - id: auc-recorded
    description: Every version records its AUC
    rule: '"auc" in version.metrics'
    severity: error
  - id: production-model-card
    description: Production versions document their limitations
    scope: { stages: [PRODUCTION] }
    rule: 'version.modelCard.limitations != ""'
    severity: error
  - id: auc-good-enough
    rule: '!("auc" in version.metrics) || version.metrics["auc"] >= 0.8'
    severity: warning
promotions:
  - to: STAGING
    approvals: [TEAM_LEAD]
  - to: PRODUCTION
    approvals: [TEAM_LEAD]
"""


def api_keys_toml() -> str:
    teams = {"alice": "platform", "bob": "platform", "rita": "research"}
    return "".join(
        f'\n[[auth.api_keys]]\nname = "{name}"\nsha256 = "{hash_key(key)}"\n'
        f'roles = ["TEAM_LEAD"]\nteams = ["{teams[name]}"]\n'
        for name, key in KEYS.items()
    )


@contextlib.contextmanager
def gateway_process(
    workdir: Path,
    auth: str,
    artifacts: str | None = None,
    *,
    registries: str = "",
    policy_file: str = POLICIES,
) -> Iterator[str]:
    """``modelgate serve`` on a free loopback port with two native registries
    (platform, research) and ``registries`` (TOML), ``auth`` as its ``[auth]``
    section and the policies above; yields its base URL once /readyz answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    policies = workdir / "policies.yaml"
    policies.write_text(policy_file)
    store = artifacts or f'[artifacts]\nurl = "file://{workdir / "artifacts"}"\n'
    config = workdir / "modelgate.toml"
    config.write_text(
        f'{auth}\n[storage]\nurl = "sqlite:///{workdir}/mg.db"\n\n{store}\n'
        f'[governance]\npolicies = "{policies}"\n\n'
        '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n\n'
        '[[registries]]\nid = "research"\nkind = "native"\nteam = "research"\n'
        f"{registries}"
    )
    port = free_port()
    log = (workdir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the gateway did not start:\n{(workdir / 'gateway.log').read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One API-key gateway per test module."""
    with gateway_process(
        tmp_path_factory.mktemp("gateway"), '[auth]\nmode = "apikey"\n' + api_keys_toml()
    ) as url:
        yield url


@dataclass
class MgResult:
    code: int
    out: str
    err: str


def run_mg(*args: str, url: str, key: str | None = None, env: dict[str, str] | None = None,
           cwd: Path | None = None, timeout: float = 180) -> MgResult:  # fmt: skip
    """``mg ARGS…`` in a subprocess with MODELGATE_URL (and MODELGATE_API_KEY when ``key``)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "ACTIONS_ID_TOKEN"))}
    base.update({"PYTHONPATH": str(CLIENT_SRC), "MODELGATE_URL": url, **(env or {})})
    if key is not None:
        base["MODELGATE_API_KEY"] = key
    done = subprocess.run(
        [sys.executable, "-m", "modelgate_client", *args],
        capture_output=True,
        text=True,
        env=base,
        cwd=cwd,
        timeout=timeout,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return MgResult(done.returncode, done.stdout, done.stderr)
