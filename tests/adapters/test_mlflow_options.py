"""MLflow registry options: checked offline, errors naming the key; credentials from
environment variables or files, sent the way MLflow expects them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from adapters.base import load_factories
from adapters.mlflow import MlflowAdapter, MlflowFactory, factory
from adapters.mlflow.options import parse_options
from adapters.protocol import AdapterContext
from gateway.config import ConfigError, RegistrySettings, settings_from_mapping
from gateway.store.database import Database

URL = "http://mlflow.test:5000"
SEARCH = f"{URL}/api/2.0/mlflow/registered-models/search"


def registry(index: int = 0, **options: Any) -> RegistrySettings:
    """The registry at ``registries[index]`` of a config, as the gateway parses it."""
    entries: list[dict[str, Any]] = [{"id": f"r{i}", "kind": "native"} for i in range(index)]
    entries.append({"id": "fraud-mlflow", "kind": "mlflow", "team": "fraud", **options})
    return settings_from_mapping({"registries": entries}, environ={}).registries[index]


def context(tmp_path: Path, environ: dict[str, str] | None = None) -> AdapterContext:
    return AdapterContext(
        database=Database(f"sqlite:///{tmp_path}/unused.db"), artifacts_dir=tmp_path, environ=environ or {}
    )


def test_entry_point_loads_the_factory() -> None:
    loaded = load_factories()["mlflow"]
    loaded.validate(registry(url=URL))  # resolves adapters.mlflow:factory
    assert isinstance(factory, MlflowFactory) and factory.kind == "mlflow"


def test_defaults() -> None:
    options = parse_options(registry(url=URL))
    assert options.stage_mapping == "aliases"
    assert options.production_aliases == ["production", "champion"]
    assert options.staging_aliases == ["staging", "challenger"]
    assert options.archived_tag_pair == ("modelgate.stage", "archived")
    assert options.page_size == 1000 and options.fetch_run_details is True


@pytest.mark.parametrize(
    ("options", "key", "problem"),
    [
        ({}, "registries[2].url", "is required"),
        ({"url": "mlflow.internal:5000"}, "registries[2].url", "http(s) URL"),
        ({"url": "ftp://h"}, "registries[2].url", "http(s) URL"),
        ({"url": URL, "stage_mapping": "labels"}, "registries[2].stage_mapping", "'aliases' or 'stages'"),
        ({"url": URL, "production_aliases": ["latest"]}, "registries[2].production_aliases[0]", "reserved"),
        ({"url": URL, "staging_aliases": ["ok", "v2"]}, "registries[2].staging_aliases[1]", "reserved"),
        (
            {"url": URL, "staging_aliases": ["has space"]},
            "registries[2].staging_aliases[0]",
            "not an MLflow alias",
        ),
        ({"url": URL, "production_aliases": []}, "registries[2].production_aliases", "at least one"),
        (
            {"url": URL, "staging_aliases": ["champion"]},
            "registries[2].staging_aliases",
            "also means PRODUCTION",
        ),
        ({"url": URL, "archived_tag": "archived"}, "registries[2].archived_tag", "key=value"),
        ({"url": URL, "token": "s3cr3t"}, "registries[2].token", "never inline"),
        ({"url": URL, "password": "pw"}, "registries[2].password", "never inline"),
        ({"url": URL, "token_env": "A", "token_file": "/f"}, "registries[2].token_file", "not both"),
        ({"url": URL, "username_env": "U"}, "registries[2].password_env", "needs password_env"),
        (
            {"url": URL, "token_env": "T", "username_env": "U", "password_env": "P"},
            "registries[2].token_env",
            "not both",
        ),
        ({"url": URL, "page_size": 5000}, "registries[2].page_size", "between 1 and 1000"),
        ({"url": URL, "version_page_size": 0}, "registries[2].version_page_size", "between 1 and 200000"),
        ({"url": URL, "timeout_seconds": 0}, "registries[2].timeout_seconds", "greater than 0"),
        ({"url": URL, "fetch_run_details": "yes"}, "registries[2].fetch_run_details", "true or false"),
        ({"url": URL, "tracking_uri": URL}, "registries[2].tracking_uri", "unknown key"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        factory.validate(registry(2, **options))
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_validate_needs_no_secrets_and_no_network() -> None:
    # The variable is not set: validate() only checks shape; create() reads secrets.
    factory.validate(registry(url="http://unreachable.invalid:1", token_env="MG_NOT_SET"))


def test_missing_secret_variable_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        factory.create(registry(url=URL, token_env="MG_MLFLOW_TOKEN"), context(tmp_path))
    assert caught.value.key == "registries[0].token_env"
    assert "MG_MLFLOW_TOKEN is not set" in caught.value.problem


async def _captured_headers(adapter: MlflowAdapter) -> httpx.Headers:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(SEARCH).respond(200, json={})
        await adapter.list_models()
    await adapter.aclose()
    return route.calls.last.request.headers


async def test_bearer_token_from_environment(tmp_path: Path) -> None:
    adapter = factory.create(
        registry(url=URL, token_env="MG_TOKEN"), context(tmp_path, {"MG_TOKEN": "tok-123\n"})
    )
    headers = await _captured_headers(adapter)
    assert headers["authorization"] == "Bearer tok-123"


async def test_basic_auth_from_files(tmp_path: Path) -> None:
    (tmp_path / "user").write_text("svc-modelgate\n")
    (tmp_path / "password").write_text("p@ss:word\n")
    adapter = factory.create(
        registry(url=URL, username_file=str(tmp_path / "user"), password_file=str(tmp_path / "password")),
        context(tmp_path),
    )
    headers = await _captured_headers(adapter)
    expected = base64.b64encode(b"svc-modelgate:p@ss:word").decode()
    assert headers["authorization"] == f"Basic {expected}"


async def test_no_auth_sends_no_authorization_header(tmp_path: Path) -> None:
    headers = await _captured_headers(factory.create(registry(url=URL), context(tmp_path)))
    assert "authorization" not in headers


def test_unreadable_secret_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        factory.create(registry(url=URL, webhook_secret_file=str(tmp_path / "nope")), context(tmp_path))
    assert caught.value.key == "registries[0].webhook_secret_file"


def test_empty_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty"):
        factory.create(registry(url=URL, token_env="T"), context(tmp_path, {"T": "  "}))
