"""Options of a ``kind = "wandb"`` registry (the W&B Registry), checked without
touching the network.

```toml
[[registries]]
id = "research-wandb"
kind = "wandb"
organization = "acme"               # the W&B organization (its display or org-entity name)
api_key_env = "WANDB_API_KEY"       # or api_key_file = "/run/secrets/wandb-key"
# url = "https://api.wandb.ai"      a dedicated or self-managed server's API URL
# registry = "model"                read one registry: model names are its collection names;
#                                   without it every registry is read, names <registry>%2F<collection>
# production_aliases = ["production"]   staging_aliases = ["staging"]   archived_tag = "archived"
# webhook_token_env = "WANDB_WEBHOOK_TOKEN"   (or webhook_token_file) the automation's access token
# timeout_seconds = 10   page_size = 100
```

Each alias list is recognised on read; its first alias is the one modelgate
writes. ``archived_tag`` is a version tag meaning ARCHIVED.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from adapters.toolkit.http import registry_url
from gateway.config import ConfigError, RegistrySettings, read_secret, registry_options
from gateway.domain import Stage

DEFAULT_URL = "https://api.wandb.ai"
MAX_PAGE = 1000
# W&B alias rules: no ``/`` or ``:``; ``latest`` and ``v<N>`` are W&B's own.
ALIAS = re.compile(r"^[^/:]{1,128}$")
AUTOMATIC_ALIAS = re.compile(r"^(latest|v\d+)$")
TAG = re.compile(r"^[-\w]+( +[-\w]+)*$")  # TagInput.tagName's pattern in the SDK


@dataclass(frozen=True)
class WandbOptions:
    organization: str
    api_key_env: str | None = None
    api_key_file: str | None = None
    url: str = DEFAULT_URL
    registry: str | None = None
    production_aliases: list[str] = field(default_factory=lambda: ["production"])
    staging_aliases: list[str] = field(default_factory=lambda: ["staging"])
    archived_tag: str = "archived"
    webhook_token_env: str | None = None
    webhook_token_file: str | None = None
    timeout_seconds: float = 10.0
    page_size: int = 100


@dataclass(frozen=True)
class StageAliases:
    production: tuple[str, ...]
    staging: tuple[str, ...]
    archived_tag: str

    def stage_of(self, aliases: tuple[str, ...], tags: tuple[str, ...]) -> tuple[Stage, str | None]:
        """The unified stage and the registry's word that decided it: the archived
        tag wins, then a production alias, then a staging one."""
        if self.archived_tag in tags:
            return Stage.ARCHIVED, self.archived_tag
        own = [a for a in aliases if not AUTOMATIC_ALIAS.match(a)]
        for stage, names in ((Stage.PRODUCTION, self.production), (Stage.STAGING, self.staging)):
            if hits := [a for a in own if a in names]:
                return stage, ",".join(hits)
        return Stage.DRAFT, ",".join(own) or None

    def all(self) -> tuple[str, ...]:
        return (*self.production, *self.staging)


@dataclass(frozen=True)
class WandbSettings:
    base_url: str
    organization: str
    api_key: str = field(repr=False)
    registry: str | None
    stages: StageAliases
    webhook_token: str | None = field(repr=False)
    timeout_seconds: float
    page_size: int


def _check_url(value: str, key: str) -> str:
    url = registry_url(value, key, expected=f"the W&B API URL, e.g. {DEFAULT_URL}")
    if urlsplit(value).path.rstrip("/").endswith("/graphql"):
        raise ConfigError(key, "give the server's API URL; modelgate adds /graphql itself")
    return url


def _aliases(values: list[str], key: str) -> tuple[str, ...]:
    if not values:
        raise ConfigError(key, "needs at least one alias (the first is the one written)")
    for value in values:
        if not isinstance(value, str) or not ALIAS.match(value):
            raise ConfigError(key, f"{value!r} is not a W&B alias (1-128 characters, no '/' or ':')")
        if AUTOMATIC_ALIAS.match(value):
            raise ConfigError(key, f"{value!r} is set by W&B itself and cannot mean a stage")
    return tuple(values)


def load_settings(registry: RegistrySettings, environ: Mapping[str, str] | None = None) -> WandbSettings:
    """Validate a wandb registry's options; raises ``ConfigError`` naming the key."""
    key = registry.key
    env: Mapping[str, str] = os.environ if environ is None else environ
    options = registry_options(WandbOptions, registry, secrets=["api_key", "webhook_token"])
    if not options.organization.strip():
        raise ConfigError(f"{key}.organization", "must name the W&B organization")
    api_key = read_secret(options.api_key_env, options.api_key_file, key, "api_key", env)
    if api_key is None:
        raise ConfigError(f"{key}.api_key_env", "is required (or api_key_file): W&B needs an API key")
    production = _aliases(options.production_aliases, f"{key}.production_aliases")
    staging = _aliases(options.staging_aliases, f"{key}.staging_aliases")
    if both := set(production) & set(staging):
        raise ConfigError(f"{key}.staging_aliases", f"{sorted(both)[0]!r} also means PRODUCTION")
    if not TAG.match(options.archived_tag):
        raise ConfigError(f"{key}.archived_tag", f"{options.archived_tag!r} is not a W&B tag name")
    if options.registry is not None and not options.registry.strip():
        raise ConfigError(f"{key}.registry", "must name a registry (e.g. 'model') or be left out")
    if options.timeout_seconds <= 0:
        raise ConfigError(f"{key}.timeout_seconds", "must be greater than 0")
    if not 1 <= options.page_size <= MAX_PAGE:
        raise ConfigError(f"{key}.page_size", f"must be between 1 and {MAX_PAGE}")
    registry_name = options.registry.removeprefix("wandb-registry-") if options.registry else None
    return WandbSettings(
        base_url=_check_url(options.url, f"{key}.url"),
        organization=options.organization.strip(),
        api_key=api_key,
        registry=registry_name,
        stages=StageAliases(production, staging, options.archived_tag),
        webhook_token=read_secret(
            options.webhook_token_env, options.webhook_token_file, key, "webhook_token", env
        ),
        timeout_seconds=options.timeout_seconds,
        page_size=options.page_size,
    )
