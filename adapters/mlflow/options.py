"""The ``mlflow`` registry options, checked without touching the network.

Every key sits in the registry's ``[[registries]]`` table next to the common
keys (``id``, ``kind``, ``team``...). Secrets are never inline: ``<name>_env``
names an environment variable, ``<name>_file`` a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.toolkit.http import registry_url
from gateway.config import (
    ConfigError,
    RegistrySettings,
    registry_options,
    resolve_secret,
)
from gateway.domain import Stage

# MLflow's own alias rules: ``^[\w\-]*$``, and ``latest`` / ``v<digits>`` are reserved.
ALIAS_NAME = re.compile(r"^[\w\-]+$")
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
MAX_MODEL_PAGE = 1000  # registered-models/search refuses more
MAX_VERSION_PAGE = 200_000  # model-versions/search refuses more
SECRETS = ("token", "username", "password", "webhook_secret")


@dataclass(frozen=True)
class MlflowOptions:
    url: str
    # Where people open MLflow's UI, when not at ``url`` (a cluster-internal address).
    ui_url: str | None = None
    # "aliases" (MLflow's current way) or "stages" (the legacy None/Staging/Production/Archived).
    stage_mapping: str = "aliases"
    production_aliases: list[str] = field(default_factory=lambda: ["production", "champion"])
    staging_aliases: list[str] = field(default_factory=lambda: ["staging", "challenger"])
    # A version tag ``key=value`` that means ARCHIVED in aliases mode (MLflow has no alias for it).
    archived_tag: str = "modelgate.stage=archived"
    # Stages mode: pass ``archive_existing_versions`` to transition-stage on promotions.
    archive_existing_versions: bool = False
    token_env: str | None = None
    token_file: str | None = None
    username_env: str | None = None
    username_file: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    webhook_secret_env: str | None = None
    webhook_secret_file: str | None = None
    webhook_tolerance_seconds: float = 300.0
    timeout_seconds: float = 10.0
    page_size: int = MAX_MODEL_PAGE
    # Pages of 1,000 let a full sync index the first models while MLflow is still
    # listing the rest (one 10,000-version page holds the whole sync up until it ends).
    version_page_size: int = 1_000
    fetch_run_details: bool = True
    # Read MLmodel and requirements.txt of MLflow-logged models (environment, signature).
    read_model_files: bool = True
    run_concurrency: int = 8
    # Incremental passes cannot see version-tag edits (MLflow bumps no timestamp for
    # them); after this long the adapter asks for a full listing again.
    full_resync_seconds: float = 3600.0

    @property
    def archived_tag_pair(self) -> tuple[str, str]:
        key, _, value = self.archived_tag.partition("=")
        return key, value

    def aliases_for(self, stage: Stage) -> list[str]:
        if stage is Stage.PRODUCTION:
            return self.production_aliases
        if stage is Stage.STAGING:
            return self.staging_aliases
        return []

    @property
    def mapped_aliases(self) -> set[str]:
        return {*self.production_aliases, *self.staging_aliases}


def parse_options(registry: RegistrySettings) -> MlflowOptions:
    """Parse and check every option; ``ConfigError`` names ``registries[i].<key>``."""
    key = registry.key
    options = registry_options(MlflowOptions, registry, secrets=SECRETS)
    _check_url(options.url, f"{key}.url")
    if options.ui_url is not None:
        _check_url(options.ui_url, f"{key}.ui_url")
    if options.stage_mapping not in ("aliases", "stages"):
        raise ConfigError(
            f"{key}.stage_mapping", f"must be 'aliases' or 'stages', got {options.stage_mapping!r}"
        )
    for field_name in ("production_aliases", "staging_aliases"):
        aliases: list[str] = getattr(options, field_name)
        if not aliases:
            raise ConfigError(f"{key}.{field_name}", "needs at least one alias (the one modelgate writes)")
        for i, alias in enumerate(aliases):
            if not ALIAS_NAME.match(alias) or RESERVED_ALIAS.match(alias):
                raise ConfigError(
                    f"{key}.{field_name}[{i}]",
                    f"{alias!r} is not an MLflow alias (letters, digits, '_' and '-'; "
                    "'latest' and 'v<digits>' are reserved)",
                )
    both = set(options.production_aliases) & set(options.staging_aliases)
    if both:
        raise ConfigError(f"{key}.staging_aliases", f"{sorted(both)[0]!r} also means PRODUCTION")
    tag_key, sep, tag_value = options.archived_tag.partition("=")
    if not sep or not tag_key.strip() or not tag_value:
        raise ConfigError(f"{key}.archived_tag", f"expected 'key=value', got {options.archived_tag!r}")
    for name in SECRETS:
        if (
            registry.options.get(f"{name}_env") is not None
            and registry.options.get(f"{name}_file") is not None
        ):
            raise ConfigError(f"{key}.{name}_file", f"give {name}_env or {name}_file, not both")
    has_user = _given(registry.options, "username")
    has_password = _given(registry.options, "password")
    if has_user != has_password:
        missing = "password" if has_user else "username"
        raise ConfigError(f"{key}.{missing}_env", f"basic auth needs {missing}_env or {missing}_file too")
    if has_user and _given(registry.options, "token"):
        raise ConfigError(f"{key}.token_env", "use a bearer token or basic auth, not both")
    _positive(options.timeout_seconds, f"{key}.timeout_seconds")
    _positive(options.webhook_tolerance_seconds, f"{key}.webhook_tolerance_seconds")
    _positive(options.full_resync_seconds, f"{key}.full_resync_seconds")
    _in_range(options.page_size, 1, MAX_MODEL_PAGE, f"{key}.page_size")
    _in_range(options.version_page_size, 1, MAX_VERSION_PAGE, f"{key}.version_page_size")
    _in_range(options.run_concurrency, 1, 64, f"{key}.run_concurrency")
    return options


def _given(options: Mapping[str, Any], name: str) -> bool:
    return options.get(f"{name}_env") is not None or options.get(f"{name}_file") is not None


def _check_url(url: str, key: str) -> None:
    registry_url(url, key, expected="the MLflow server's http(s) URL, e.g. http://127.0.0.1:5000", bare=True)


def _positive(value: float, key: str) -> None:
    if value <= 0:
        raise ConfigError(key, f"must be greater than 0, got {value!r}")


def _in_range(value: int, low: int, high: int, key: str) -> None:
    if not low <= value <= high:
        raise ConfigError(key, f"must be between {low} and {high}, got {value!r}")


@dataclass(frozen=True)
class Credentials:
    """What authenticates modelgate to MLflow: nothing, basic auth or a bearer token."""

    auth: httpx.Auth | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    webhook_secret: str | None = None


def resolve_credentials(registry: RegistrySettings, environ: Mapping[str, str] | None = None) -> Credentials:
    """Read the secrets named in the config (raises ``ConfigError`` naming the key)."""
    options, key = registry.options, registry.key
    token = resolve_secret(options, "token", key, environ)
    username = resolve_secret(options, "username", key, environ)
    password = resolve_secret(options, "password", key, environ)
    webhook_secret = resolve_secret(options, "webhook_secret", key, environ)
    for name, value in (("token", token), ("username", username), ("webhook_secret", webhook_secret)):
        if value is not None and not value.strip():
            raise ConfigError(f"{key}.{name}_env", f"the {name} is empty")
    if token is not None:
        return Credentials(
            headers={"Authorization": f"Bearer {token.strip()}"}, webhook_secret=webhook_secret
        )
    if username is not None and password is not None:
        return Credentials(auth=httpx.BasicAuth(username, password), webhook_secret=webhook_secret)
    return Credentials(webhook_secret=webhook_secret)
