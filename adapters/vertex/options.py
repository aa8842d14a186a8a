"""Options of a ``kind = "vertex"`` registry, checked without touching the network.

```toml
[[registries]]
id = "vision-vertex"
kind = "vertex"
project = "acme-ml"                       # project ID (or number)
location = "us-central1"
credentials_file = "service-account.json" # or credentials_env = "VERTEX_SA" (see below)
# endpoint = "https://us-central1-aiplatform.googleapis.com"   (default from location)
# token_url = "https://oauth2.googleapis.com/token"            (default: the key file's token_uri)
# token_audience = "https://oauth2.googleapis.com/token"       (the JWT's aud; see below)
# production_aliases = ["production"]   staging_aliases = ["staging"]   archived_label = "stage=archived"
# model_filter = 'labels.team="vision"'   incremental_sync = false   timeout_seconds = 10   page_size = 100
# monitoring_endpoint = "https://monitoring.googleapis.com"   deploy_wait_seconds = 30   (rollouts)
```

``credentials_env`` names an environment variable holding either the *path* of
the service-account key file (like ``GOOGLE_APPLICATION_CREDENTIALS``) or, when
its value starts with ``{``, the key file's JSON itself (for secret stores that
inject contents, not files). The key never sits in the config file. A relative
``credentials_file`` is read from the gateway's working directory, like every
other ``*_file`` secret.

Stage aliases: any alias of a list is recognised on read, the first is the one
written. ``model_filter`` (Vertex filter syntax) scopes which models the
catalogue lists. ``incremental_sync`` trusts ``updateTime`` for incremental
syncs (see ``VertexRegistry.changes_since`` for why it is off by default).

``monitoring_endpoint`` is the Cloud Monitoring API root a canary rollout reads
error rates from (same OAuth token, scope ``cloud-platform``);
``deploy_wait_seconds`` is how long one rollout pass waits for a candidate's
``endpoints.deployModel`` (a long-running operation that takes minutes) before
leaving it to the next pass; keep it well below ``[rollouts] lease_seconds``.

``token_url`` is where the signed assertion is POSTed; ``token_audience`` is the
assertion's ``aud`` claim. They differ on purpose: Google's own google-auth
library always signs ``aud = https://oauth2.googleapis.com/token``, whatever
``token_uri`` a key file names (older files say
``https://accounts.google.com/o/oauth2/token``), so that is the default here too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from adapters.toolkit.auth import read_credential_file
from adapters.toolkit.http import registry_url
from gateway.config import (
    ConfigError,
    RegistrySettings,
    registry_options,
)

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MONITORING_URL = "https://monitoring.googleapis.com"
# Vertex's alias grammar (discovery doc, MergeVersionAliasesRequest); numbers are version ids.
ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-]$")
# Label keys start with a lowercase letter; keys and values use [a-z0-9_-], at most 63 characters.
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
PROJECT = re.compile(r"^([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})$")
LOCATION = re.compile(r"^[a-z][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class VertexOptions:
    project: str
    location: str
    credentials_file: str | None = None
    credentials_env: str | None = None
    endpoint: str | None = None
    token_url: str | None = None
    token_audience: str | None = None
    production_aliases: list[str] = field(default_factory=lambda: ["production"])
    staging_aliases: list[str] = field(default_factory=lambda: ["staging"])
    archived_label: str = "stage=archived"
    model_filter: str | None = None
    incremental_sync: bool = False
    timeout_seconds: float = 10.0
    page_size: int = 100
    monitoring_endpoint: str = MONITORING_URL
    deploy_wait_seconds: float = 30.0


@dataclass(frozen=True)
class ServiceAccount:
    """The fields of a Google service-account key file that the JWT flow needs."""

    client_email: str
    private_key: str  # PEM
    private_key_id: str | None
    token_uri: str | None
    project_id: str | None


@dataclass(frozen=True)
class StageMapping:
    """Which aliases and label mean which unified stage; the first alias of a
    list is the one modelgate writes, any of them is recognised on read."""

    production_aliases: tuple[str, ...]
    staging_aliases: tuple[str, ...]
    archived_label: tuple[str, str]  # (key, value)

    @property
    def stage_aliases(self) -> tuple[str, ...]:
        return self.production_aliases + self.staging_aliases


@dataclass(frozen=True)
class VertexSettings:
    """Everything the adapter needs, validated and resolved."""

    project: str
    location: str
    api_base: str  # ends with /v1/
    token_url: str
    token_audience: str
    account: ServiceAccount
    stages: StageMapping
    model_filter: str | None
    incremental_sync: bool
    timeout_seconds: float
    page_size: int
    monitoring_base: str = f"{MONITORING_URL}/v3/"  # ends with /v3/
    deploy_wait_seconds: float = 30.0

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


def default_endpoint(location: str) -> str:
    # The global location has no regional host.
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def _check_url(value: str, key: str) -> str:
    # Bearer tokens and signed assertions must not cross a network in clear text.
    return registry_url(value, key, https_off_loopback=True)


def _check_aliases(values: list[str], key: str) -> tuple[str, ...]:
    if not values:
        raise ConfigError(key, "needs at least one alias")
    for alias in values:
        if not ALIAS.match(alias):
            raise ConfigError(key, f"{alias!r} is not a Vertex alias (a-z, then a-z A-Z 0-9 -)")
        if alias == "default":
            # Vertex requires exactly one 'default' per model and refuses to remove it.
            raise ConfigError(key, "'default' cannot be a stage alias: Vertex never lets it be removed")
    return tuple(values)


def _check_label(value: str, key: str) -> tuple[str, str]:
    label_key, sep, label_value = value.partition("=")
    if not sep or not LABEL_KEY.match(label_key) or not label_value or not LABEL_VALUE.match(label_value):
        raise ConfigError(key, f"expected key=value with lowercase label characters, got {value!r}")
    return label_key, label_value


def parse_service_account(text: str, key: str) -> ServiceAccount:
    """Read a service-account key file's JSON; errors name ``key``."""
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(key, f"the service-account key is not JSON ({exc.msg})") from None
    if not isinstance(info, dict):
        raise ConfigError(key, "the service-account key is not a JSON object")
    if info.get("type") != "service_account":
        raise ConfigError(
            key, f"expected a key file of type 'service_account', got type {info.get('type')!r}"
        )
    for name in ("client_email", "private_key"):
        if not isinstance(info.get(name), str) or not info[name]:
            raise ConfigError(key, f"the service-account key has no {name}")
    try:
        private_key = load_pem_private_key(info["private_key"].encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(key, f"the service-account private_key does not load ({exc})") from None
    if not isinstance(private_key, RSAPrivateKey):
        raise ConfigError(key, "the service-account private_key is not an RSA key (RS256 needs one)")
    return ServiceAccount(
        client_email=info["client_email"],
        private_key=info["private_key"],
        private_key_id=info.get("private_key_id") or None,
        token_uri=info.get("token_uri") or None,
        project_id=info.get("project_id") or None,
    )


def _read_credentials(options: VertexOptions, key: str, environ: Mapping[str, str]) -> ServiceAccount:
    if options.credentials_file and options.credentials_env:
        raise ConfigError(f"{key}.credentials_env", "give credentials_file or credentials_env, not both")
    if options.credentials_env:
        env_key = f"{key}.credentials_env"
        value = environ.get(options.credentials_env)
        if not value:
            raise ConfigError(env_key, f"environment variable {options.credentials_env} is not set")
        if value.lstrip().startswith("{"):
            return parse_service_account(value, env_key)
        return parse_service_account(read_credential_file(value, env_key), env_key)
    if options.credentials_file:
        file_key = f"{key}.credentials_file"
        return parse_service_account(read_credential_file(options.credentials_file, file_key), file_key)
    raise ConfigError(
        f"{key}.credentials_file", "is required (or credentials_env naming a variable with the key file)"
    )


def load_settings(registry: RegistrySettings, environ: Mapping[str, str] | None = None) -> VertexSettings:
    """Validate a vertex registry's options and read its key file; raises ``ConfigError``."""
    key = registry.key
    env: Mapping[str, str] = os.environ if environ is None else environ
    options = registry_options(VertexOptions, registry)
    if not PROJECT.match(options.project):
        raise ConfigError(f"{key}.project", f"not a Google Cloud project ID or number: {options.project!r}")
    if not LOCATION.match(options.location):
        raise ConfigError(f"{key}.location", f"not a Google Cloud location: {options.location!r}")
    if options.timeout_seconds <= 0:
        raise ConfigError(f"{key}.timeout_seconds", "must be greater than 0")
    if not 1 <= options.page_size <= 1000:
        raise ConfigError(f"{key}.page_size", "must be between 1 and 1000")
    if options.deploy_wait_seconds <= 0:
        raise ConfigError(f"{key}.deploy_wait_seconds", "must be greater than 0")
    monitoring = _check_url(options.monitoring_endpoint, f"{key}.monitoring_endpoint")
    production = _check_aliases(options.production_aliases, f"{key}.production_aliases")
    staging = _check_aliases(options.staging_aliases, f"{key}.staging_aliases")
    if overlap := set(production) & set(staging):
        raise ConfigError(f"{key}.staging_aliases", f"alias {sorted(overlap)[0]!r} also means PRODUCTION")
    archived = _check_label(options.archived_label, f"{key}.archived_label")
    endpoint = _check_url(options.endpoint or default_endpoint(options.location), f"{key}.endpoint")
    account = _read_credentials(options, key, env)
    if options.token_url:
        token_url = _check_url(options.token_url, f"{key}.token_url")
    elif account.token_uri:
        token_url = _check_url(account.token_uri, f"{key}.credentials_file (token_uri)")
    else:
        token_url = GOOGLE_TOKEN_URL
    return VertexSettings(
        project=options.project,
        location=options.location,
        api_base=f"{endpoint}/v1/",
        token_url=token_url,
        token_audience=options.token_audience or GOOGLE_TOKEN_URL,
        account=account,
        stages=StageMapping(production, staging, archived),
        model_filter=options.model_filter or None,
        incremental_sync=options.incremental_sync,
        timeout_seconds=options.timeout_seconds,
        page_size=options.page_size,
        monitoring_base=f"{monitoring}/v3/",
        deploy_wait_seconds=options.deploy_wait_seconds,
    )
