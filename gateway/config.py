"""Typed configuration: a TOML file plus environment overrides.

Every error names the file, the key and what is wrong (``ConfigError``), and
nothing starts on a bad config. Unknown keys are errors too: a typo that is
silently ignored is a setting that silently does not apply.

Environment overrides: ``MODELGATE_<SECTION>_<KEY>`` for the scalar keys of the
fixed sections, e.g. ``MODELGATE_STORAGE_URL=postgresql://db/modelgate``.
Secrets never sit in the file: keys ending in ``_env`` name an environment
variable and keys ending in ``_file`` name a file that holds the secret.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REGISTRY_ID = re.compile(r"^[a-z0-9-]+$")
ENV_PREFIX = "MODELGATE_"


class ConfigError(Exception):
    """A configuration problem, pinned to a file and a key."""

    def __init__(self, key: str, problem: str, file: str | os.PathLike[str] | None = None):
        self.key = key
        self.problem = problem
        self.file = str(file) if file else None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.key}: {self.problem}"

    def in_file(self, file: str | os.PathLike[str]) -> ConfigError:
        return ConfigError(self.key, self.problem, self.file or file)


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Running without auth on a non-loopback address must be asked for by name.
    allow_unauthenticated_remote: bool = False


@dataclass(frozen=True)
class StorageSettings:
    url: str = "sqlite:///./data/modelgate.db"
    artifacts_dir: str = "./data/artifacts"


@dataclass(frozen=True)
class CacheSettings:
    url: str = "memory://"
    ttl_seconds: float = 30.0
    max_entries: int = 10_000


@dataclass(frozen=True)
class AuthSettings:
    mode: str = "none"
    issuer: str | None = None
    audience: str | None = None
    jwks_url: str | None = None
    roles_claim: str = "roles"
    teams_claim: str = "groups"


@dataclass(frozen=True)
class GovernanceSettings:
    policies: str | None = None


@dataclass(frozen=True)
class RegistrySettings:
    id: str
    kind: str
    team: str | None = None
    sync_interval_seconds: float = 60.0
    restricted: bool = False
    # Every other key belongs to the adapter, which validates it (``parse_section``).
    options: Mapping[str, Any] = field(default_factory=dict)
    key: str = "registries[0]"  # where it stood in the file, for error messages


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)
    registries: tuple[RegistrySettings, ...] = ()
    source: str | None = None

    def registry(self, registry_id: str) -> RegistrySettings | None:
        return next((r for r in self.registries if r.id == registry_id), None)


_SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "storage": StorageSettings,
    "cache": CacheSettings,
    "auth": AuthSettings,
    "governance": GovernanceSettings,
}
_AUTH_MODES = ("none", "oidc", "apikey")


def _type_name(tp: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against a simple annotation (str, int, float, bool, X | None, list, dict)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(key, f"expected a list, got {value!r}")
        (item_type, *_) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table, got {value!r}")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and (isinstance(value, bool) or not isinstance(value, tp)):
        raise ConfigError(key, f"expected {_type_name(tp)}, got {value!r}")
    if tp is str and not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {value!r}")
    return value


def parse_section(cls: type[T], raw: Mapping[str, Any], key: str) -> T:
    """Build dataclass ``cls`` from ``raw``, naming ``key.<field>`` in every error."""
    if not isinstance(raw, Mapping):
        raise ConfigError(key, f"expected a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}",
            f"unknown key (known keys: {', '.join(sorted(fields))})",
        )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], f"{key}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}.{name}", "is required")
    return cls(**values)


def _env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            env_name = f"{ENV_PREFIX}{section}_{f.name}".upper()
            if env_name not in environ:
                continue
            text = environ[env_name]
            tp = typing.get_type_hints(cls)[f.name]
            value: Any = text
            if tp is int or tp is float:
                try:
                    value = tp(text)
                except ValueError:
                    raise ConfigError(env_name, f"expected {_type_name(tp)}, got {text!r}") from None
            elif tp is bool:
                value = text.strip().lower() in ("1", "true", "yes", "on")
            raw.setdefault(section, {})[f.name] = value


def _parse_registries(raw: Any) -> tuple[RegistrySettings, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("registries", "expected an array of tables ([[registries]])")
    seen: set[str] = set()
    result = []
    common = {f.name for f in dataclasses.fields(RegistrySettings)} - {"options", "key"}
    for i, entry in enumerate(raw):
        key = f"registries[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(key, "expected a table")
        base = parse_section(RegistrySettings, {k: v for k, v in entry.items() if k in common}, key)
        if not REGISTRY_ID.match(base.id):
            raise ConfigError(f"{key}.id", f"must match [a-z0-9-]+, got {base.id!r}")
        if base.id in seen:
            raise ConfigError(f"{key}.id", f"duplicate registry id {base.id!r}")
        if base.sync_interval_seconds <= 0:
            raise ConfigError(f"{key}.sync_interval_seconds", "must be greater than 0")
        seen.add(base.id)
        options = {k: v for k, v in entry.items() if k not in common}
        result.append(dataclasses.replace(base, options=options, key=key))
    return tuple(result)


def settings_from_mapping(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    _env_overrides(data, os.environ if environ is None else environ)
    known = {*_SECTIONS, "registries"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(unknown[0], f"unknown section (known: {', '.join(sorted(known))})")
    sections = {name: parse_section(cls, data.get(name, {}), name) for name, cls in _SECTIONS.items()}
    auth: AuthSettings = sections["auth"]
    if auth.mode not in _AUTH_MODES:
        raise ConfigError("auth.mode", f"must be one of {', '.join(_AUTH_MODES)}, got {auth.mode!r}")
    if auth.mode == "oidc" and not (auth.issuer and auth.audience):
        raise ConfigError("auth", "mode 'oidc' needs both issuer and audience")
    cache: CacheSettings = sections["cache"]
    if not cache.url.startswith(("memory://", "redis://", "rediss://")):
        raise ConfigError("cache.url", f"must start with memory:// or redis://, got {cache.url!r}")
    storage: StorageSettings = sections["storage"]
    if not storage.url.startswith(("sqlite://", "postgresql://", "postgres://")):
        raise ConfigError("storage.url", f"must be a sqlite:/// or postgresql:// URL, got {storage.url!r}")
    return Settings(**sections, registries=_parse_registries(data.get("registries")))


def load_settings(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a config file; raises ``ConfigError`` naming the file and key."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("(file)", "no such file", p) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", f"invalid TOML: {exc}", p) from None
    try:
        settings = settings_from_mapping(raw, environ)
    except ConfigError as exc:
        raise exc.in_file(p) from None
    return dataclasses.replace(settings, source=str(p))


def resolve_secret(
    options: Mapping[str, Any], name: str, key: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """Read secret ``name`` from ``<name>_env`` (a variable) or ``<name>_file`` (a file).

    An inline ``<name>`` is refused: config files end up in repositories.
    """
    env = os.environ if environ is None else environ
    if name in options:
        raise ConfigError(f"{key}.{name}", f"secrets are never inline: use {name}_env or {name}_file")
    if (var := options.get(f"{name}_env")) is not None:
        if var not in env:
            raise ConfigError(f"{key}.{name}_env", f"environment variable {var} is not set")
        return env[var]
    if (file := options.get(f"{name}_file")) is not None:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}.{name}_file", f"cannot read {file}: {exc.strerror}") from None
    return None
