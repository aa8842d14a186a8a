"""``modelgate-client`` installs alone: into a fresh virtual environment from
``clients/python``, with httpx and nothing of the server, its ``mg`` script
working against a real gateway and its type information shipped (``py.typed``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import KEYS, REPO

# The server's stack and the registry SDKs: a CI job installing the client must get none.
SERVER_PACKAGES = {
    "strawberry-graphql", "starlette", "sqlalchemy", "uvicorn", "mlflow", "alembic", "authlib",
    "boto3", "obstore", "modelgate", "google-cloud-aiplatform", "azure-ai-ml", "wandb",
}  # fmt: skip


def outside_env() -> dict[str, str]:
    """The environment without PYTHONPATH: the fresh venv must see only what it installed."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("client-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    # pip's own cache (wheels of httpx and the built client) keeps repeated runs quick.
    install = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(REPO / "clients" / "python")],
        capture_output=True, text=True, timeout=600, env=outside_env(),
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    yield root


def installed(venv: Path) -> dict[str, str]:
    listing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True, env=outside_env(),
    )  # fmt: skip
    return {p["name"].lower(): p["version"] for p in json.loads(listing.stdout)}


def test_installs_httpx_and_nothing_of_the_server(venv: Path) -> None:
    packages = installed(venv)
    assert "modelgate-client" in packages and "httpx" in packages
    assert not SERVER_PACKAGES & set(packages), SERVER_PACKAGES & set(packages)


def test_typed_and_light_at_import(venv: Path) -> None:
    probe = (
        "import sys, json, pathlib, modelgate_client as m; c = m.Client('http://127.0.0.1:1');"
        "print(pathlib.Path(m.__file__).with_name('py.typed').exists());"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env=outside_env(),
    )
    typed, modules = done.stdout.splitlines()
    assert typed == "True"
    assert not {"strawberry", "starlette", "sqlalchemy", "uvicorn", "gateway", "adapters"} & set(
        json.loads(modules)
    )


def test_the_mg_script_works(venv: Path, gateway_url: str) -> None:
    mg = str(venv / "bin" / "mg")
    helped = subprocess.run([mg, "--help"], capture_output=True, text=True, env=outside_env())
    assert helped.returncode == 0 and "promote" in helped.stdout and "pull" in helped.stdout
    env = {**os.environ, "MODELGATE_URL": gateway_url, "MODELGATE_API_KEY": KEYS["alice"]}
    env.pop("PYTHONPATH", None)
    searched = subprocess.run([mg, "search", "--json"], capture_output=True, text=True, env=env)
    assert searched.returncode == 0, searched.stderr
    assert "totalCount" in json.loads(searched.stdout)
