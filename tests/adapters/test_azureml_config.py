"""Options of ``kind = "azureml"`` and Azure ML's model references for lineage (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.azureml import factory, load_settings
from adapters.azureml.mapping import stage_of
from adapters.base import load_factories
from adapters.protocol import ReferenceMatch, ReferenceParser
from gateway.config import ConfigError, RegistrySettings, settings_from_mapping
from gateway.domain import Stage
from gateway.runtime import validate_settings

SUB = "0b8e6d52-3c9f-4e3a-8c1d-6f2a9b7e4d10"
TENANT = "7f3c1c2e-5b7a-4b8e-9a53-2f4b6b0e7c11"
CLIENT = "3d9b1f40-8e2c-4a6b-b1d7-9c0e5f2a8b33"
ENV = {"AZ_SECRET": "s3cr3t"}


def options(**overrides: Any) -> dict[str, Any]:
    base = {
        "subscription_id": SUB,
        "resource_group": "ml-rg",
        "workspace": "risk-ws",
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret_env": "AZ_SECRET",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def registry(**overrides: Any) -> RegistrySettings:
    return RegistrySettings(
        id="azure-risk", kind="azureml", options=options(**overrides), key="registries[2]"
    )


def test_defaults_are_public_azure() -> None:
    settings = load_settings(registry(), ENV)
    assert settings.endpoint == "https://management.azure.com"
    assert settings.token_url == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    assert settings.token_scope == "https://management.azure.com/.default"
    assert settings.scope_path == (
        f"/subscriptions/{SUB}/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/risk-ws"
    )
    assert settings.credential.secret == "s3cr3t" and "s3cr3t" not in repr(settings.credential)
    assert (settings.stages.production, settings.stages.staging, settings.stages.draft) == (
        ("Production",),
        ("Staging",),
        ("Development",),
    )


def test_a_sovereign_cloud_is_configured_by_its_hosts() -> None:
    settings = load_settings(
        registry(
            registry="org-registry",
            workspace=None,
            endpoint="https://management.usgovcloudapi.net/",
            authority="https://login.microsoftonline.us",
            token_scope="https://management.usgovcloudapi.net/.default",
        ),
        ENV,
    )
    assert settings.is_registry and settings.scope_path.endswith("/registries/org-registry")
    assert settings.endpoint == "https://management.usgovcloudapi.net"
    assert settings.token_url.startswith("https://login.microsoftonline.us/")


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"subscription_id": "not-a-uuid"}, "subscription_id", "UUID"),
        ({"client_id": "x"}, "client_id", "UUID"),
        ({"tenant_id": "no spaces"}, "tenant_id", "tenant"),
        ({"workspace": None}, "workspace", "exactly one"),
        ({"registry": "org-registry"}, "workspace", "exactly one"),
        ({"workspace": "a"}, "workspace", "workspace name"),
        ({"endpoint": "http://management.azure.com"}, "endpoint", "https"),
        ({"authority": "ftp://login"}, "authority", "http(s)"),
        ({"client_secret_env": "MISSING"}, "client_secret_env", "not set"),
        ({"client_secret_env": None}, "client_secret_env", "required"),
        ({"client_secret_file": "/nonexistent/secret"}, "client_secret_file", "give one of"),
        ({"page_size": 0}, "page_size", "between"),
        ({"staging_stages": ["Production"]}, "staging_stages", "also in production_stages"),
        ({"draft_stages": []}, "draft_stages", "at least one"),
        ({"colour": "blue"}, "colour", "unknown key"),
    ],
)
def test_bad_options_name_the_key(overrides: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(registry(**overrides), ENV)
    assert raised.value.key == f"registries[2].{key}"
    assert fragment in str(raised.value)


def test_secrets_come_from_files_too(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    settings = load_settings(registry(client_secret_env=None, client_secret_file=str(secret)), {})
    assert settings.credential.secret == "from-a-file"
    token = tmp_path / "token"
    token.write_text("eyJ...")
    federated = load_settings(registry(client_secret_env=None, federated_token_file=str(token)), {})
    assert federated.credential.secret is None and federated.credential.federated_token_file == str(token)
    with pytest.raises(ConfigError) as raised:
        load_settings(registry(client_secret_env=None, federated_token_file=str(tmp_path / "gone")), {})
    assert raised.value.key == "registries[2].federated_token_file"


def test_the_kind_is_installed_and_validated_before_start(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "azureml" in load_factories()
    monkeypatch.setenv("AZ_SECRET", "s3cr3t")
    good = {"registries": [{"id": "azure-risk", "kind": "azureml", **options()}]}
    validate_settings(settings_from_mapping(good, environ={}))
    bad = {"registries": [{"id": "azure-risk", "kind": "azureml", **options(page_size=5000)}]}
    with pytest.raises(ConfigError) as raised:
        validate_settings(settings_from_mapping(bad, environ={}))
    assert raised.value.key == "registries[0].page_size"


@pytest.mark.parametrize(
    ("props", "stage", "native"),
    [
        ({"stage": "Production"}, Stage.PRODUCTION, "Production"),
        ({"stage": "production"}, Stage.PRODUCTION, "production"),
        ({"stage": "Staging"}, Stage.STAGING, "Staging"),
        ({"stage": "Development"}, Stage.DRAFT, "Development"),
        ({"stage": "Shadow"}, Stage.DRAFT, "Shadow"),
        ({}, Stage.DRAFT, None),
        ({"stage": "Production", "isArchived": True}, Stage.ARCHIVED, "Production"),
        ({"isArchived": True}, Stage.ARCHIVED, "Archived"),
    ],
)
def test_stage_mapping(props: dict[str, Any], stage: Stage, native: str | None) -> None:
    stages = load_settings(registry(), ENV).stages
    assert stage_of(props, stages) == (stage, native)


# --- references ---------------------------------------------------------------

ARM = f"/subscriptions/{SUB}/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices"


def test_the_factory_parses_azure_ml_references() -> None:
    assert isinstance(factory, ReferenceParser)
    ws = registry()
    reg = registry(workspace=None, registry="org-registry")
    assert factory.parse_reference(f"{ARM}/workspaces/risk-ws/models/fraud/versions/3", ws) == ReferenceMatch(
        "fraud", "3"
    )
    # Azure compares subscription, resource group and workspace without case.
    upper = f"{ARM.upper()}/WORKSPACES/RISK-WS/models/fraud"
    assert factory.parse_reference(upper, ws) == ReferenceMatch("fraud", None)
    assert factory.parse_reference(f"{ARM}/workspaces/other-ws/models/fraud/versions/3", ws) is None
    assert factory.parse_reference(f"{ARM}/registries/org-registry/models/fraud/versions/3", ws) is None
    assert factory.parse_reference(
        f"{ARM}/registries/org-registry/models/fraud/versions/3", reg
    ) == ReferenceMatch("fraud", "3")
    uri = "azureml://registries/org-registry/models/fraud/versions/2"
    assert factory.parse_reference(uri, reg) == ReferenceMatch("fraud", "2")
    assert factory.parse_reference(uri, ws) is None
    assert factory.parse_reference("azureml:fraud:4", ws) == ReferenceMatch("fraud", "4", weak=True)
    assert factory.is_reference("azureml:fraud:4") and factory.is_reference(uri)
    for other in ("models:/fraud/3", "s3://bucket/fraud", "azureml://datastores/x/paths/y", "azureml:fraud"):
        assert not factory.is_reference(other)
        assert factory.parse_reference(other, ws) is None
