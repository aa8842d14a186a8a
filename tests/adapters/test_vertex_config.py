"""Options of a vertex registry: validated without network access, every error
naming the key, the key file read from a path or an environment variable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.base import load_factories
from adapters.protocol import AdapterContext
from adapters.vertex import VertexRegistry, factory, load_settings
from gateway.config import ConfigError, RegistrySettings, settings_from_mapping
from tests.servers.vertex import VertexServer


def registry(**options: Any) -> RegistrySettings:
    return RegistrySettings(id="vision-vertex", kind="vertex", options=options, key="registries[3]")


@pytest.fixture
def key_file(vertex_server: VertexServer, tmp_path: Path) -> Path:
    """The test service account's key, naming a token_uri nothing listens on."""
    info = {**vertex_server.credentials, "token_uri": "http://127.0.0.1:9/token"}
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def test_defaults_follow_the_location_and_the_key_file(key_file: Path) -> None:
    settings = load_settings(
        registry(project="acme-ml", location="europe-west4", credentials_file=str(key_file))
    )
    assert settings.api_base == "https://europe-west4-aiplatform.googleapis.com/v1/"
    assert settings.token_url == "http://127.0.0.1:9/token"  # the key file's token_uri
    assert settings.token_audience == "https://oauth2.googleapis.com/token"
    assert settings.stages.production_aliases == ("production",) and settings.stages.staging_aliases == (
        "staging",
    )
    assert settings.stages.archived_label == ("stage", "archived")
    assert settings.parent == "projects/acme-ml/locations/europe-west4"
    glob = load_settings(registry(project="acme-ml", location="global", credentials_file=str(key_file)))
    assert glob.api_base == "https://aiplatform.googleapis.com/v1/"
    override = load_settings(
        registry(
            project="acme-ml",
            location="us-central1",
            credentials_file=str(key_file),
            token_url="https://oauth2.example.internal/token",
            endpoint="https://vertex.example.internal/",
        )
    )
    assert override.token_url == "https://oauth2.example.internal/token"
    assert override.api_base == "https://vertex.example.internal/v1/"


def test_key_from_an_environment_variable(key_file: Path) -> None:
    base = {"project": "acme-ml", "location": "us-central1", "credentials_env": "VERTEX_SA"}
    as_path = load_settings(registry(**base), environ={"VERTEX_SA": str(key_file)})
    as_json = load_settings(registry(**base), environ={"VERTEX_SA": key_file.read_text()})
    assert as_path.account == as_json.account
    with pytest.raises(
        ConfigError, match=r"registries\[3\]\.credentials_env: environment variable VERTEX_SA"
    ):
        load_settings(registry(**base), environ={})


@pytest.mark.parametrize(
    ("options", "key", "problem"),
    [
        ({"project": None}, "project", "is required"),
        ({"location": None}, "location", "is required"),
        ({"project": "Acme ML"}, "project", "not a Google Cloud project"),
        ({"location": "us central"}, "location", "not a Google Cloud location"),
        ({"credentials_file": None}, "credentials_file", "is required"),
        ({"credentials_file": "/nonexistent/sa.json"}, "credentials_file", "cannot read"),
        ({"endpoint": "http://vertex.example.com"}, "endpoint", "must use https"),
        ({"endpoint": "ftp://x"}, "endpoint", "expected an http(s) URL"),
        ({"token_url": "http://10.0.0.1/token"}, "token_url", "must use https"),
        ({"production_aliases": ["default"]}, "production_aliases", "'default' cannot be a stage alias"),
        ({"production_aliases": ["Prod"]}, "production_aliases", "is not a Vertex alias"),
        ({"staging_aliases": []}, "staging_aliases", "needs at least one alias"),
        ({"staging_aliases": ["production"]}, "staging_aliases", "also means PRODUCTION"),
        ({"archived_label": "Stage=Archived"}, "archived_label", "expected key=value"),
        ({"page_size": 0}, "page_size", "between 1 and 1000"),
        ({"timeout_seconds": 0}, "timeout_seconds", "greater than 0"),
        ({"incremental_sync": "yes"}, "incremental_sync", "true or false"),
        ({"regoin": "x"}, "regoin", "unknown key"),
        ({"credentials_env": "X"}, "credentials_env", "not both"),
    ],
)
def test_errors_name_the_key(key_file: Path, options: dict[str, Any], key: str, problem: str) -> None:
    """``None`` in ``options`` removes the key from a valid configuration."""
    full = {"project": "acme-ml", "location": "us-central1", "credentials_file": str(key_file), **options}
    full = {k: v for k, v in full.items() if v is not None}
    with pytest.raises(ConfigError) as raised:
        factory.validate(registry(**full))
    assert raised.value.key.startswith(f"registries[3].{key}"), raised.value
    assert problem in raised.value.problem


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "not JSON"),
        ('{"type": "authorized_user", "client_id": "x"}', "type 'service_account'"),
        ('{"type": "service_account", "private_key": "x"}', "no client_email"),
        ('{"type": "service_account", "client_email": "a@b", "private_key": "not a key"}', "does not load"),
    ],
)
def test_bad_key_files_are_named(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "sa.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        factory.validate(registry(project="acme-ml", location="us-central1", credentials_file=str(path)))
    assert raised.value.key == "registries[3].credentials_file" and problem in raised.value.problem


async def test_entry_point_builds_the_adapter_from_a_config_file_entry(key_file: Path) -> None:
    raw = {
        "registries": [
            {
                "id": "vision-vertex",
                "kind": "vertex",
                "team": "vision",
                "project": "acme-ml",
                "location": "us-central1",
                "credentials_file": str(key_file),
            }
        ]
    }
    (settings,) = settings_from_mapping(raw, environ={}).registries
    vertex = load_factories()["vertex"]
    vertex.validate(settings)  # no network: the key file's token_uri is not listening
    context = AdapterContext(database=None, artifacts_dir=Path("."), environ={})  # type: ignore[arg-type]
    adapter = vertex.create(settings, context)
    assert isinstance(adapter, VertexRegistry) and adapter.kind == "vertex" and adapter.team == "vision"
    await adapter.aclose()
