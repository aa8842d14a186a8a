"""Options of a ``kind = "kubeflow"`` registry, checked without touching the network.

```toml
[[registries]]
id = "kf"
kind = "kubeflow"
url = "http://model-registry.kubeflow.svc:8080"
# api_version = "auto"        "v1" | "v1alpha3" | "auto" (ask v1 first, fall back to v1alpha3)
# token_env = "KF_TOKEN"      a variable holding the bearer token itself
# token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token"   (the default, when it exists)
# stage_property = "stage"    the version custom property that carries the stage
# production_values = ["production"]   staging_values = ["staging"]
# draft_values = ["draft"]             archived_values = ["archived"]
# param_prefix = "param."     string/int/bool custom properties under it are hyperparameters
# deployed_is_production = true   timeout_seconds = 10   page_size = 100
```

Each ``*_values`` list is recognised on read (case-insensitively); its first
value is the one modelgate writes. A token file is read again whenever it
changes, because Kubernetes rotates projected service-account tokens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from adapters.toolkit.http import registry_url
from gateway.config import ConfigError, RegistrySettings, SecretSource, registry_options, secret_source
from gateway.domain import Stage

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
API_VERSIONS = ("auto", "v1", "v1alpha3")
PREFIX = "/api/model_registry/"
MAX_PAGE = 1000
API_EXAMPLE = "http://model-registry.kubeflow.svc:8080"


@dataclass(frozen=True)
class KubeflowOptions:
    url: str
    api_version: str = "auto"
    token_env: str | None = None
    token_file: str | None = None
    stage_property: str = "stage"
    production_values: list[str] = field(default_factory=lambda: ["production"])
    staging_values: list[str] = field(default_factory=lambda: ["staging"])
    draft_values: list[str] = field(default_factory=lambda: ["draft"])
    archived_values: list[str] = field(default_factory=lambda: ["archived"])
    param_prefix: str = "param."
    deployed_is_production: bool = True
    timeout_seconds: float = 10.0
    page_size: int = 100


@dataclass(frozen=True)
class StageMapping:
    """Which values of the stage property mean which unified stage."""

    property: str
    values: Mapping[Stage, tuple[str, ...]]  # every stage, the written value first
    deployed_is_production: bool

    def stage_for(self, value: str) -> Stage | None:
        folded = value.strip().casefold()
        for stage, names in self.values.items():
            if folded in (n.casefold() for n in names):
                return stage
        return None

    def written(self, stage: Stage) -> str:
        return self.values[stage][0]


@dataclass(frozen=True)
class KubeflowSettings:
    base_url: str  # scheme://host[:port][/path], no trailing slash
    api_version: str  # "auto" | "v1" | "v1alpha3"
    token: SecretSource
    stages: StageMapping
    param_prefix: str
    timeout_seconds: float
    page_size: int

    @property
    def host(self) -> str:
        """``host[:port]`` as ``model-registry://`` storage URIs spell the registry."""
        return urlsplit(self.base_url).netloc


def _check_url(value: str, key: str) -> str:
    url = registry_url(value, key, expected=f"the registry's http(s) URL, e.g. {API_EXAMPLE}", bare=True)
    if PREFIX.rstrip("/") in urlsplit(value).path:
        raise ConfigError(key, f"give the server's root URL; modelgate adds {PREFIX}<version> itself")
    return url


def _check_values(values: list[str], key: str) -> tuple[str, ...]:
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(key, "needs at least one non-empty value (the first is the one written)")
    return tuple(values)


def _token(options: KubeflowOptions, key: str, environ: Mapping[str, str]) -> SecretSource:
    source = secret_source(options.token_env, options.token_file, key, "token", environ)
    if source.value or source.path:
        return source
    default = Path(SERVICE_ACCOUNT_TOKEN)
    # Inside a pod the service account's token is the usual credential; outside, no token.
    return SecretSource(path=default) if default.is_file() else SecretSource()


def load_settings(registry: RegistrySettings, environ: Mapping[str, str] | None = None) -> KubeflowSettings:
    """Validate a kubeflow registry's options; raises ``ConfigError`` naming the key."""
    key = registry.key
    env: Mapping[str, str] = os.environ if environ is None else environ
    options = registry_options(KubeflowOptions, registry, secrets=["token"])
    base_url = _check_url(options.url, f"{key}.url")
    if options.api_version not in API_VERSIONS:
        raise ConfigError(
            f"{key}.api_version", f"must be one of {', '.join(API_VERSIONS)}, got {options.api_version!r}"
        )
    if not options.stage_property.strip():
        raise ConfigError(f"{key}.stage_property", "must name a custom property")
    values = {
        Stage.PRODUCTION: _check_values(options.production_values, f"{key}.production_values"),
        Stage.STAGING: _check_values(options.staging_values, f"{key}.staging_values"),
        Stage.DRAFT: _check_values(options.draft_values, f"{key}.draft_values"),
        Stage.ARCHIVED: _check_values(options.archived_values, f"{key}.archived_values"),
    }
    seen: dict[str, Stage] = {}
    for stage, names in values.items():
        for name in names:
            other = seen.setdefault(name.casefold(), stage)
            if other is not stage:
                option = f"{key}.{stage.value.lower()}_values"
                raise ConfigError(option, f"{name!r} also means {other.value}")
    if options.timeout_seconds <= 0:
        raise ConfigError(f"{key}.timeout_seconds", "must be greater than 0")
    if not 1 <= options.page_size <= MAX_PAGE:
        raise ConfigError(f"{key}.page_size", f"must be between 1 and {MAX_PAGE}")
    return KubeflowSettings(
        base_url=base_url,
        api_version=options.api_version,
        token=_token(options, key, env),
        stages=StageMapping(options.stage_property, values, options.deployed_is_production),
        param_prefix=options.param_prefix,
        timeout_seconds=options.timeout_seconds,
        page_size=options.page_size,
    )
