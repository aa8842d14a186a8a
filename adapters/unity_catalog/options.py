"""Options of a ``kind = "unity_catalog"`` registry, checked without touching the network.

```toml
[[registries]]
id = "uc"
kind = "unity_catalog"
url = "http://unity-catalog.internal:8080"   # the server's root; /api/2.1/unity-catalog is added
catalog = "ml"
# schema = "prod"              only this schema (default: every schema of the catalog)
# flavor = "oss"               "oss" (status only, read-only lifecycle) | "databricks" (aliases)
# token_env = "UC_TOKEN"       a variable holding the bearer token    | token_file = "/run/uc-token"
# production_aliases = ["champion", "production"]   staging_aliases = ["challenger", "staging"]
# runs_registry = "mlflow"     the MLflow registry whose tracking server holds the runs
# timeout_seconds = 10         page_size = 50 (the server's limit)
```

Each ``*_aliases`` list is recognised on read (case-insensitively); its first
alias is the one modelgate sets. A token file is read again when it changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from adapters.toolkit.http import registry_url
from gateway.config import ConfigError, RegistrySettings, SecretSource, registry_options, secret_source
from gateway.domain import Stage

PREFIX = "/api/2.1/unity-catalog"
FLAVORS = ("oss", "databricks")
MAX_PAGE = 50  # the spec's maximum for max_results
URL_EXAMPLE = "http://localhost:8080"
# A catalog or schema name: no dot (it separates the three levels), no slash.
NAME = re.compile(r"^[^./\s]+$")


@dataclass(frozen=True)
class UnityCatalogOptions:
    url: str
    catalog: str
    schema: str | None = None
    flavor: str = "oss"
    token_env: str | None = None
    token_file: str | None = None
    production_aliases: list[str] = field(default_factory=lambda: ["champion", "production"])
    staging_aliases: list[str] = field(default_factory=lambda: ["challenger", "staging"])
    runs_registry: str | None = None
    timeout_seconds: float = 10.0
    page_size: int = MAX_PAGE


@dataclass(frozen=True)
class AliasMapping:
    """Which aliases mean which stage (Databricks); the first of each is written."""

    production: tuple[str, ...]
    staging: tuple[str, ...]

    def stage_for(self, aliases: list[str]) -> tuple[Stage, str] | None:
        """The highest stage any alias means, and that alias."""
        folded = {a.casefold(): a for a in aliases}
        for stage, names in ((Stage.PRODUCTION, self.production), (Stage.STAGING, self.staging)):
            for name in names:
                if name.casefold() in folded:
                    return stage, folded[name.casefold()]
        return None

    def meaning(self, stage: Stage) -> tuple[str, ...]:
        return {Stage.PRODUCTION: self.production, Stage.STAGING: self.staging}.get(stage, ())


@dataclass(frozen=True)
class UnityCatalogSettings:
    base_url: str  # scheme://host[:port][/path], no trailing slash
    catalog: str
    schema: str | None
    flavor: str
    token: SecretSource
    aliases: AliasMapping
    runs_registry: str  # the registry id run nodes are named under
    timeout_seconds: float
    page_size: int

    @property
    def has_aliases(self) -> bool:
        return self.flavor == "databricks"


def _check_url(value: str, key: str) -> str:
    url = registry_url(value, key, expected=f"the server's http(s) URL, e.g. {URL_EXAMPLE}", bare=True)
    if PREFIX in urlsplit(value).path:
        raise ConfigError(key, f"give the server's root URL; modelgate adds {PREFIX} itself")
    return url


def _check_name(value: str | None, key: str) -> None:
    if value is not None and not NAME.match(value):
        raise ConfigError(key, f"must be one name without '.', '/' or spaces, got {value!r}")


def _check_aliases(values: list[str], key: str) -> tuple[str, ...]:
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(key, "needs at least one non-empty alias (the first is the one written)")
    return tuple(v.strip() for v in values)


def _token(options: UnityCatalogOptions, key: str, environ: Mapping[str, str]) -> SecretSource:
    # Neither given: an OSS server without authorization enabled.
    return secret_source(options.token_env, options.token_file, key, "token", environ)


def load_settings(
    registry: RegistrySettings, environ: Mapping[str, str] | None = None
) -> UnityCatalogSettings:
    """Validate a unity_catalog registry's options; raises ``ConfigError`` naming the key."""
    key = registry.key
    env: Mapping[str, str] = os.environ if environ is None else environ
    options = registry_options(UnityCatalogOptions, registry, secrets=["token"])
    base_url = _check_url(options.url, f"{key}.url")
    _check_name(options.catalog, f"{key}.catalog")
    _check_name(options.schema, f"{key}.schema")
    if options.flavor not in FLAVORS:
        raise ConfigError(f"{key}.flavor", f"must be one of {', '.join(FLAVORS)}, got {options.flavor!r}")
    production = _check_aliases(options.production_aliases, f"{key}.production_aliases")
    staging = _check_aliases(options.staging_aliases, f"{key}.staging_aliases")
    if clash := {a.casefold() for a in production} & {a.casefold() for a in staging}:
        raise ConfigError(f"{key}.staging_aliases", f"{sorted(clash)[0]!r} also means PRODUCTION")
    if options.timeout_seconds <= 0:
        raise ConfigError(f"{key}.timeout_seconds", "must be greater than 0")
    if not 1 <= options.page_size <= MAX_PAGE:
        raise ConfigError(f"{key}.page_size", f"must be between 1 and {MAX_PAGE} (the server's limit)")
    return UnityCatalogSettings(
        base_url=base_url,
        catalog=options.catalog,
        schema=options.schema,
        flavor=options.flavor,
        token=_token(options, key, env),
        aliases=AliasMapping(production, staging),
        runs_registry=options.runs_registry or registry.id,
        timeout_seconds=options.timeout_seconds,
        page_size=options.page_size,
    )
