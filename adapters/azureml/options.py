"""Options of a ``kind = "azureml"`` registry, checked without touching the network.

```toml
[[registries]]
id = "azure-risk"
kind = "azureml"
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "ml"
workspace = "risk-ws"                     # or registry = "org-registry" (an Azure ML registry)
tenant_id = "11111111-1111-1111-1111-111111111111"
client_id = "22222222-2222-2222-2222-222222222222"
client_secret_env = "AZURE_CLIENT_SECRET" # or client_secret_file, or federated_token_file
# endpoint = "https://management.azure.com"      authority = "https://login.microsoftonline.com"
# token_scope = "https://management.azure.com/.default"   api_version = "2025-12-01"
# production_stages = ["Production"]   staging_stages = ["Staging"]   draft_stages = ["Development"]
# timeout_seconds = 10   page_size = 100   archived_probe_limit = 500
```

Credentials are an Entra ID app registration's client credentials: a secret
(from ``client_secret_env`` or ``client_secret_file``), or, on Kubernetes with
workload identity, ``federated_token_file`` (the projected service-account token,
``AZURE_FEDERATED_TOKEN_FILE`` in the pod; it is re-read at every token refresh
because the kubelet rotates it). Exactly one of the three.

Stages: Azure ML's version ``stage`` is a free string. A stage in
``production_stages`` means PRODUCTION, one in ``staging_stages`` STAGING, and
anything else (``draft_stages``, no stage, an unknown word) DRAFT; matching
ignores case. ``isArchived`` means ARCHIVED whatever the stage says. Writing a
stage writes the first name of its list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.toolkit.auth import read_credential_file
from adapters.toolkit.http import registry_url
from gateway.config import ConfigError, RegistrySettings, registry_options

ARM_ENDPOINT = "https://management.azure.com"
ENTRA_AUTHORITY = "https://login.microsoftonline.com"
ARM_SCOPE = "https://management.azure.com/.default"
API_VERSION = "2025-12-01"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# mfe.json's parameter patterns.
WORKSPACE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")
REGISTRY = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{2,32}$")
RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")
TENANT_NAME = re.compile(r"^[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$")  # e.g. contoso.onmicrosoft.com


@dataclass(frozen=True)
class AzureMLOptions:
    subscription_id: str
    resource_group: str
    tenant_id: str
    client_id: str
    workspace: str | None = None
    registry: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    federated_token_file: str | None = None
    endpoint: str = ARM_ENDPOINT
    authority: str = ENTRA_AUTHORITY
    token_scope: str = ARM_SCOPE
    api_version: str = API_VERSION
    production_stages: list[str] = field(default_factory=lambda: ["Production"])
    staging_stages: list[str] = field(default_factory=lambda: ["Staging"])
    draft_stages: list[str] = field(default_factory=lambda: ["Development"])
    timeout_seconds: float = 10.0
    page_size: int = 100
    archived_probe_limit: int = 500


@dataclass(frozen=True)
class StageMapping:
    """Which ``stage`` strings mean which unified stage (compared case-insensitively);
    the first of each list is the one written."""

    production: tuple[str, ...]
    staging: tuple[str, ...]
    draft: tuple[str, ...]


@dataclass(frozen=True)
class Credential:
    """How to get a token: a client secret, or a federated assertion read from a file."""

    tenant_id: str
    client_id: str
    secret: str | None = None
    federated_token_file: str | None = None

    def __repr__(self) -> str:  # never print the secret
        kind = "secret" if self.secret else f"federated token file {self.federated_token_file}"
        return f"Credential(tenant {self.tenant_id}, client {self.client_id}, {kind})"


@dataclass(frozen=True)
class AzureMLSettings:
    subscription_id: str
    resource_group: str
    scope_kind: str  # "workspaces" | "registries"
    scope_name: str
    endpoint: str
    token_url: str
    token_scope: str
    api_version: str
    credential: Credential
    stages: StageMapping
    timeout_seconds: float
    page_size: int
    archived_probe_limit: int

    @property
    def is_registry(self) -> bool:
        return self.scope_kind == "registries"

    @property
    def scope_path(self) -> str:
        """The ARM path of the workspace or registry."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/{self.scope_kind}/{self.scope_name}"
        )


def _check_url(value: str, key: str) -> str:
    # Client secrets and bearer tokens must not cross a network in clear text.
    return registry_url(value, key, https_off_loopback=True, bare=True)


def _check_stages(values: list[str], key: str) -> tuple[str, ...]:
    if not values or any(not isinstance(v, str) or not v.strip() for v in values):
        raise ConfigError(key, "needs at least one non-empty stage name")
    return tuple(values)


def _read_secret(options: AzureMLOptions, key: str, environ: Mapping[str, str]) -> Credential:
    given = [
        name
        for name in ("client_secret_env", "client_secret_file", "federated_token_file")
        if getattr(options, name)
    ]
    if not given:
        raise ConfigError(
            f"{key}.client_secret_env",
            "is required (or client_secret_file, or federated_token_file for workload identity)",
        )
    if len(given) > 1:
        raise ConfigError(f"{key}.{given[1]}", f"give one of {', '.join(given)}, not several")
    base = Credential(options.tenant_id, options.client_id)
    if options.client_secret_env:
        secret = environ.get(options.client_secret_env)
        if not secret:
            raise ConfigError(
                f"{key}.client_secret_env", f"environment variable {options.client_secret_env} is not set"
            )
        return Credential(base.tenant_id, base.client_id, secret=secret)
    if options.client_secret_file:
        text = read_credential_file(options.client_secret_file, f"{key}.client_secret_file").strip()
        if not text:
            raise ConfigError(f"{key}.client_secret_file", f"{options.client_secret_file} is empty")
        return Credential(base.tenant_id, base.client_id, secret=text)
    assert options.federated_token_file is not None
    # Read once now so a wrong path fails at start-up; re-read at every refresh.
    read_credential_file(options.federated_token_file, f"{key}.federated_token_file")
    return Credential(base.tenant_id, base.client_id, federated_token_file=options.federated_token_file)


def load_settings(registry: RegistrySettings, environ: Mapping[str, str] | None = None) -> AzureMLSettings:
    """Validate an azureml registry's options and read its secret; raises ``ConfigError``."""
    key = registry.key
    env: Mapping[str, str] = os.environ if environ is None else environ
    options = registry_options(AzureMLOptions, registry)
    if not UUID.match(options.subscription_id):
        raise ConfigError(
            f"{key}.subscription_id", f"not a subscription ID (a UUID): {options.subscription_id!r}"
        )
    if not RESOURCE_GROUP.match(options.resource_group):
        raise ConfigError(f"{key}.resource_group", f"not a resource group name: {options.resource_group!r}")
    if not (UUID.match(options.tenant_id) or TENANT_NAME.match(options.tenant_id)):
        raise ConfigError(f"{key}.tenant_id", f"not a tenant ID or domain: {options.tenant_id!r}")
    if not UUID.match(options.client_id):
        raise ConfigError(
            f"{key}.client_id", f"not an application (client) ID (a UUID): {options.client_id!r}"
        )
    if bool(options.workspace) == bool(options.registry):
        raise ConfigError(
            f"{key}.workspace", "give workspace (an Azure ML workspace) or registry, exactly one"
        )
    if options.workspace:
        if not WORKSPACE.match(options.workspace):
            raise ConfigError(f"{key}.workspace", f"not a workspace name: {options.workspace!r}")
        scope_kind, scope_name = "workspaces", options.workspace
    else:
        assert options.registry is not None
        if not REGISTRY.match(options.registry):
            raise ConfigError(f"{key}.registry", f"not a registry name: {options.registry!r}")
        scope_kind, scope_name = "registries", options.registry
    if options.timeout_seconds <= 0:
        raise ConfigError(f"{key}.timeout_seconds", "must be greater than 0")
    if not 1 <= options.page_size <= 1000:
        raise ConfigError(f"{key}.page_size", "must be between 1 and 1000")
    if not 0 <= options.archived_probe_limit <= 10_000:
        raise ConfigError(f"{key}.archived_probe_limit", "must be between 0 and 10000")
    if not options.api_version.strip():
        raise ConfigError(f"{key}.api_version", "must not be empty")
    production = _check_stages(options.production_stages, f"{key}.production_stages")
    staging = _check_stages(options.staging_stages, f"{key}.staging_stages")
    draft = _check_stages(options.draft_stages, f"{key}.draft_stages")
    lists = {"production_stages": production, "staging_stages": staging, "draft_stages": draft}
    seen: dict[str, str] = {}
    for name, values in lists.items():
        for value in values:
            other = seen.setdefault(value.casefold(), name)
            if other != name:
                raise ConfigError(f"{key}.{name}", f"stage {value!r} is also in {other}")
    endpoint = _check_url(options.endpoint, f"{key}.endpoint")
    authority = _check_url(options.authority, f"{key}.authority")
    credential = _read_secret(options, key, env)
    return AzureMLSettings(
        subscription_id=options.subscription_id.lower(),
        resource_group=options.resource_group,
        scope_kind=scope_kind,
        scope_name=scope_name,
        endpoint=endpoint,
        token_url=f"{authority}/{options.tenant_id}/oauth2/v2.0/token",
        token_scope=options.token_scope,
        api_version=options.api_version,
        credential=credential,
        stages=StageMapping(production, staging, draft),
        timeout_seconds=options.timeout_seconds,
        page_size=options.page_size,
        archived_probe_limit=options.archived_probe_limit,
    )
