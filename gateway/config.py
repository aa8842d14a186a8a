"""Typed configuration: a TOML file plus environment overrides.

Every error names the file, the key and what is wrong (``ConfigError``), and
nothing starts on a bad config. Unknown keys are errors too: a typo that is
silently ignored is a setting that silently does not apply.

Environment overrides: ``MODELGATE_<SECTION>_<KEY>`` for the scalar keys of the
fixed sections, e.g. ``MODELGATE_STORAGE_URL=postgresql://db/modelgate``.
Secrets never sit in the file: keys ending in ``_env`` name an environment
variable and keys ending in ``_file`` name a file that holds the secret.

``[auth]`` (see ``gateway.auth``): ``mode`` none | oidc | apikey. For ``oidc``:
``issuer``, ``audience``, optional ``jwks_url`` (else OIDC discovery from the
issuer), ``roles_claim``, ``teams_claim``, ``name_claim``, ``algorithms`` (an
allow-list of asymmetric JWS algorithms), ``leeway_seconds`` for exp/nbf/iat,
``jwks_cache_seconds`` (how long fetched keys are trusted) and
``jwks_min_refetch_seconds`` (the least time between refetches triggered by an
unknown ``kid``). For ``apikey``: ``[[auth.api_keys]]`` entries ``{ name,
sha256, roles, teams }``; only the SHA-256 of each key is stored
(``modelgate apikey new`` makes one). With ``oidc``, ``[[auth.workload_issuers]]``
trusts CI platforms' issuers too (``{ issuer, audience, jwks_url, rules }``), each
rule ``{ match, roles, teams, name }`` mapping a job's claims to a principal
(docs/ci-identity.md).

``[graphql]`` (see ``gateway.api.limits``): ``max_depth`` (nesting of
selections, 12), ``max_aliases`` (30), ``max_tokens`` (lexical tokens in a
document, 5000), ``max_cost`` (estimated fields resolved, each list field
multiplied by its ``first``; 50000), ``max_page_size`` (largest ``first`` of a
catalogue connection, 100), ``timeout_seconds`` (execution deadline of a query,
10), ``introspection`` (true; false also hides "Did you mean" suggestions),
``max_body_bytes`` (request body limit, 1 MiB), ``max_json_depth`` (nesting of
the JSON body, 32), ``max_search_chars`` (256) and ``max_search_terms`` (16) of a
catalogue search string, ``cache_bytes`` (the parse and validation caches, 32 MiB).

``[server]``: ``max_header_bytes`` (request line and headers, 32 KiB; 431
beyond), ``max_webhook_bytes`` (one webhook body, 1 MiB; 413 beyond),
``header_timeout_seconds`` and ``body_timeout_seconds`` (to receive a request's
head, 10, and the longest its body may stall, 60; 408 and the connection closed beyond) and
``allowed_hosts`` (with ``auth.mode = "none"``, host names beyond ``host`` and
loopback that ``Host`` and ``Origin`` may name; ``gateway.http_guard``).
``[observability]``: ``operation_names`` (an allow-list of operation-name
labels) or ``max_operation_labels`` (the first N names seen, 100); any other
name is counted as ``other``.

Per registry, beside its adapter's keys: ``call_timeout_seconds`` (30; every
adapter call), ``breaker_failures`` (5 consecutive unavailability failures open
the circuit) and ``breaker_reset_seconds`` (30; how long it stays open before
one trial call); ``max_removal_share`` (0.5: a sync that would remove more of the
registry's models is held) and ``max_response_bytes`` (64 MiB; any one response body).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import string
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

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
    # Request line plus headers of one request (HTTP 431 beyond; ``gateway.http_budgets``).
    # Above the 16 KiB a bearer token may have, so an oversized token gets its own 401.
    max_header_bytes: int = 32 * 1024
    # Body of one webhook delivery, by Content-Length and while it streams (HTTP 413).
    max_webhook_bytes: int = 1024 * 1024
    # Time to receive a request's line and headers, and then its body (HTTP 408; ``gateway.http_deadlines``).
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    # With auth.mode = "none": further names the gateway is reached by (``gateway.http_guard``).
    allowed_hosts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StorageSettings:
    url: str = "sqlite:///./data/modelgate.db"
    artifacts_dir: str = "./data/artifacts"


# Credential pairs an ``[artifacts]`` store may take (each as ``<name>_env`` or
# ``<name>_file``); without them the store's own chain answers (IAM role, workload identity).
ARTIFACT_SECRETS = (
    "access_key_id",
    "secret_access_key",
    "session_token",
    "account_key",
    "service_account_key",
)
ARTIFACT_SCHEMES = ("file://", "s3://", "gs://", "az://")


@dataclass(frozen=True)
class ArtifactSettings:
    """``[artifacts]``: where native registries keep their files (gateway.artifacts)."""

    # file:// (the default, ``storage.artifacts_dir``), s3://bucket/prefix, gs://bucket/prefix,
    # az://container/prefix. None here means "not given"; the loader fills it in.
    url: str | None = None
    # S3-compatible servers (MinIO, Ceph, R2, moto); the Azure or GCS endpoint of an emulator.
    endpoint: str | None = None
    region: str | None = None
    # Azure: the storage account (a name, not a secret).
    account_name: str | None = None
    access_key_id_env: str | None = None
    access_key_id_file: str | None = None
    secret_access_key_env: str | None = None
    secret_access_key_file: str | None = None
    session_token_env: str | None = None
    session_token_file: str | None = None
    account_key_env: str | None = None
    account_key_file: str | None = None
    service_account_key_env: str | None = None
    service_account_key_file: str | None = None
    # Downloads hand out URLs signed for this long where the store signs; 0: through the gateway.
    presigned_seconds: int = 900
    # One file's limit (PUT answers 413 beyond it).
    max_artifact_bytes: int = 50 * 1024**3
    # Files of versions ARCHIVED at least this many days move to ``archive_storage_class``
    # (``modelgate artifacts retain``); both unset: they stay where they are.
    archive_after_days: int | None = None
    archive_storage_class: str | None = None

    def credentials(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The credentials given by ``*_env``/``*_file`` keys, read now (name -> value)."""
        env = os.environ if environ is None else environ
        found = {}
        for name in ARTIFACT_SECRETS:
            value = read_secret(
                getattr(self, f"{name}_env"), getattr(self, f"{name}_file"), "artifacts", name, env
            )
            if value is not None:
                found[name] = value
        return found


@dataclass(frozen=True)
class CacheSettings:
    url: str = "memory://"
    ttl_seconds: float = 30.0
    max_entries: int = 10_000
    # Identical searches within this many seconds share one answer (0: off). Writes
    # through this gateway clear it at once; other replicas' writes show within it.
    search_ttl_seconds: float = 2.0


# Asymmetric JWS algorithms only: a shared-secret (HS*) algorithm would let anyone
# holding the public JWKS forge tokens, and "none" is no signature at all.
ASYMMETRIC_ALGORITHMS = (
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "EdDSA", "Ed25519"),
)
DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", "Ed25519")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ApiKeySettings:
    """One ``[[auth.api_keys]]`` entry: the key itself is never in the config."""

    name: str
    sha256: str
    roles: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WorkloadRuleSettings:
    """One ``[[auth.workload_issuers.rules]]`` entry: a CI job whose verified claims
    all match ``match`` (exact, or a ``*`` glob) acts with ``roles`` and ``teams``,
    named by the ``name`` template (``"github:{repository}"``; unset: its ``sub``)."""

    match: dict[str, str]
    roles: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    name: str | None = None


@dataclass(frozen=True)
class WorkloadIssuerSettings:
    """One ``[[auth.workload_issuers]]`` entry: a CI platform's OIDC issuer trusted
    beside the main one (GitHub Actions, GitLab CI). Its tokens carry no roles:
    ``rules`` map their claims to a principal, and a token no rule matches is refused."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    rules: list[WorkloadRuleSettings] = field(default_factory=list)


@dataclass(frozen=True)
class AuthSettings:
    mode: str = "none"
    issuer: str | None = None
    audience: str | None = None
    jwks_url: str | None = None
    roles_claim: str = "roles"
    teams_claim: str = "groups"
    name_claim: str = "sub"
    algorithms: list[str] = field(default_factory=lambda: list(DEFAULT_ALGORITHMS))
    leeway_seconds: int = 30
    jwks_cache_seconds: float = 3600.0
    jwks_min_refetch_seconds: float = 30.0
    api_keys: list[ApiKeySettings] = field(default_factory=list)
    workload_issuers: list[WorkloadIssuerSettings] = field(default_factory=list)


@dataclass(frozen=True)
class GraphQLSettings:
    """Limits on what one GraphQL request may ask for (``gateway.api.limits``)."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_cost: int = 50_000
    max_page_size: int = 100
    timeout_seconds: float = 10.0
    introspection: bool = True
    max_body_bytes: int = 1024 * 1024
    # Nesting of the JSON request body (objects and arrays), checked before it is decoded.
    max_json_depth: int = 32
    # A catalogue search string: characters, and words once tokenised.
    max_search_chars: int = 256
    max_search_terms: int = 16
    # The parse and validation caches together, in (estimated) bytes.
    cache_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True)
class ObservabilitySettings:
    # OpenTelemetry spans for GraphQL operations and registry calls (extra ``otel``);
    # exported over OTLP/HTTP as the standard OTEL_* environment variables say.
    tracing: bool = False
    # GraphQL operation names that become metric labels: these, if listed; else the
    # first ``max_operation_labels`` distinct names seen. Any other name is "other".
    operation_names: list[str] = field(default_factory=list)
    max_operation_labels: int = 100


@dataclass(frozen=True)
class GovernanceSettings:
    policies: str | None = None
    # The audit log's HMAC key, kept outside the database (gateway.governance.audit):
    # the name of an environment variable holding it, or of a file holding it.
    audit_hmac_key_env: str | None = None
    audit_hmac_key_file: str | None = None

    def audit_key(self, environ: Mapping[str, str] | None = None) -> bytes | None:
        """The audit HMAC key's bytes, or None when none is configured; a named
        variable that is unset, or a file that cannot be read, is a ConfigError."""
        options = {
            k: v
            for k, v in (
                ("audit_hmac_key_env", self.audit_hmac_key_env),
                ("audit_hmac_key_file", self.audit_hmac_key_file),
            )
            if v is not None
        }
        secret = resolve_secret(options, "audit_hmac_key", "governance", environ)
        if secret is not None and len(secret) < 16:
            raise ConfigError(
                "governance.audit_hmac_key", "the audit key must be at least 16 characters long"
            )
        return secret.encode("utf-8") if secret is not None else None


@dataclass(frozen=True)
class RolloutSettings:
    """``[rollouts]``: how canary rollouts are driven (gateway.rollouts)."""

    # How often each replica looks for rollout work (a step's watch time is per rollout).
    poll_seconds: float = 5.0
    # A replica's hold on a rollout it drives; renewed on every pass, taken over
    # by another replica once it has expired (the holder died).
    lease_seconds: float = 60.0
    # Where a rolled-back rollout is reported: a POST signed like Standard Webhooks
    # with the secret read from ``webhook_secret_env`` or ``webhook_secret_file``.
    webhook_url: str | None = None
    webhook_secret_env: str | None = None
    webhook_secret_file: str | None = None
    # Judge rollouts by a PromQL error-rate query (gateway.rollouts.prometheus)
    # instead of the serving system's own metrics: for the registries listed in
    # ``prometheus_registries``, or, if that is empty, for every registry whose
    # adapter reads no error rate itself.
    prometheus_url: str | None = None
    prometheus_error_rate_query: str | None = None
    prometheus_registries: list[str] = field(default_factory=list)

    def webhook_secret(self, environ: Mapping[str, str] | None = None) -> str | None:
        options = {
            k: v
            for k, v in (
                ("webhook_secret_env", self.webhook_secret_env),
                ("webhook_secret_file", self.webhook_secret_file),
            )
            if v is not None
        }
        return resolve_secret(options, "webhook_secret", "rollouts", environ)


@dataclass(frozen=True)
class RegistrySettings:
    id: str
    kind: str
    team: str | None = None
    sync_interval_seconds: float = 60.0
    restricted: bool = False
    # Resilience around every adapter call (gateway.resilience).
    call_timeout_seconds: float = 30.0
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    # A sync that would remove more than this share of the registry's indexed models
    # is held (gateway.catalogue.sync); 1 lets every removal through.
    max_removal_share: float = 0.5
    # The most of any one response body read from the registry (adapters.base).
    max_response_bytes: int = 64 * 1024 * 1024
    # Every other key belongs to the adapter, which validates it (``parse_section``).
    options: Mapping[str, Any] = field(default_factory=dict)
    key: str = "registries[0]"  # where it stood in the file, for error messages


# The keys every [[registries]] entry may have; the rest belong to its adapter.
REGISTRY_COMMON_KEYS = tuple(
    f.name for f in dataclasses.fields(RegistrySettings) if f.name not in ("options", "key")
)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)
    graphql: GraphQLSettings = field(default_factory=GraphQLSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    rollouts: RolloutSettings = field(default_factory=RolloutSettings)
    artifacts: ArtifactSettings = field(
        default_factory=lambda: ArtifactSettings(url="file://./data/artifacts")
    )
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
    "graphql": GraphQLSettings,
    "observability": ObservabilitySettings,
    "rollouts": RolloutSettings,
    "artifacts": ArtifactSettings,
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


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``word`` looks like a typo of a known word, else ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_key_error(key: str, name: str, known: Iterable[str]) -> ConfigError:
    names = sorted(set(known))
    listed = ", ".join(names) if names else "none"
    return ConfigError(f"{key}.{name}", f"unknown key{did_you_mean(name, names)} (known keys: {listed})")


def parse_section(cls: type[T], raw: Mapping[str, Any], key: str, *, also_known: Iterable[str] = ()) -> T:
    """Build dataclass ``cls`` from ``raw``, naming ``key.<field>`` in every error.
    ``also_known`` are keys of the same table that another parser owns (a
    registry's common keys beside its adapter's options): listed as known."""
    if not isinstance(raw, Mapping):
        raise ConfigError(key, f"expected a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise unknown_key_error(key, unknown[0], [*fields, *also_known])
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], f"{key}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}.{name}", "is required")
    return cls(**values)


def registry_options(cls: type[T], registry: RegistrySettings, *, secrets: Iterable[str] = ()) -> T:
    """An adapter's options for ``registry``, parsed into ``cls``: unknown keys are
    errors that list the adapter's keys and the keys every registry has. A secret
    of ``secrets`` given inline is refused first, with the advice an "unknown key"
    would hide."""
    refuse_inline_secrets(registry.options, registry.key, secrets)
    return parse_section(cls, registry.options, registry.key, also_known=REGISTRY_COMMON_KEYS)


def refuse_inline_secrets(options: Mapping[str, Any], key: str, names: Iterable[str]) -> None:
    """Secrets are never inline (config files end up in repositories): a ``<name>``
    key is an error that says to use ``<name>_env`` or ``<name>_file``."""
    for name in names:
        if name in options:
            raise ConfigError(f"{key}.{name}", f"secrets are never inline: use {name}_env or {name}_file")


def _env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            env_name = f"{ENV_PREFIX}{section}_{f.name}".upper()
            if env_name not in environ:
                continue
            text = environ[env_name]
            tp = typing.get_type_hints(cls)[f.name]
            if typing.get_origin(tp) in (list, tuple):  # lists and tables belong in the file
                raise ConfigError(env_name, f"{section}.{f.name} can only be set in the config file")
            value: Any = text
            if tp is int or tp is float:
                try:
                    value = tp(text)
                except ValueError:
                    raise ConfigError(env_name, f"expected {_type_name(tp)}, got {text!r}") from None
            elif tp is bool:
                value = text.strip().lower() in ("1", "true", "yes", "on")
            raw.setdefault(section, {})[f.name] = value


# Schemes whose userinfo is a login: any user name there may be a token
# (https://TOKEN@host). Elsewhere a user name alone is no secret (an ssh login,
# an abfss:// container); a password is, in every scheme.
_LOGIN_SCHEMES = frozenset({"http", "https", "ws", "wss"})


def check_no_credentials(value: Any, key: str) -> None:
    """Secrets never sit in the file: a URL anywhere in ``value`` (a registry's
    options, nested tables and lists included) that carries credentials in its
    userinfo is an error naming the key, never the value. Were it accepted, the
    URL would be published wherever the registry's address is (``/readyz``,
    errors, every ``sourceUrl``)."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            check_no_credentials(item, f"{key}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_no_credentials(item, f"{key}[{i}]")
    elif isinstance(value, str) and "://" in value and "@" in value:
        try:
            parts = urlsplit(value.strip())
            user, password = parts.username, parts.password
        except ValueError:  # not a URL the adapter will accept either; it says why
            return
        if password is not None or (user is not None and parts.scheme.lower() in _LOGIN_SCHEMES):
            raise ConfigError(
                key,
                "credentials never sit in the URL (user:password@ or token@): remove them and give "
                "the secret through the registry's *_env or *_file key",
            )


def _parse_registries(raw: Any) -> tuple[RegistrySettings, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("registries", "expected an array of tables ([[registries]])")
    seen: set[str] = set()
    result = []
    common = set(REGISTRY_COMMON_KEYS)
    for i, entry in enumerate(raw):
        key = f"registries[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(key, "expected a table")
        base = parse_section(RegistrySettings, {k: v for k, v in entry.items() if k in common}, key)
        if not REGISTRY_ID.match(base.id):
            raise ConfigError(f"{key}.id", f"must match [a-z0-9-]+, got {base.id!r}")
        if base.id in seen:
            raise ConfigError(f"{key}.id", f"duplicate registry id {base.id!r}")
        for name in ("sync_interval_seconds", "call_timeout_seconds", "breaker_reset_seconds"):
            if getattr(base, name) <= 0:
                raise ConfigError(f"{key}.{name}", "must be greater than 0")
        if base.breaker_failures < 1:
            raise ConfigError(f"{key}.breaker_failures", "must be at least 1")
        if not 0 <= base.max_removal_share <= 1:
            raise ConfigError(f"{key}.max_removal_share", "must be between 0 and 1")
        if base.max_response_bytes < 1024:
            raise ConfigError(f"{key}.max_response_bytes", "must be at least 1024")
        seen.add(base.id)
        options = {k: v for k, v in entry.items() if k not in common}
        check_no_credentials(options, key)  # every kind's URLs, plugins' too
        result.append(dataclasses.replace(base, options=options, key=key))
    return tuple(result)


def settings_from_mapping(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    _env_overrides(data, os.environ if environ is None else environ)
    known = {*_SECTIONS, "registries"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            unknown[0],
            f"unknown section{did_you_mean(unknown[0], known)} (known: {', '.join(sorted(known))})",
        )
    sections: dict[str, Any] = {
        name: parse_section(cls, data.get(name, {}), name) for name, cls in _SECTIONS.items()
    }
    sections["auth"] = _check_auth(sections["auth"])
    _check_graphql(sections["graphql"])
    _check_positive(
        sections["server"],
        "server",
        ("max_header_bytes", "max_webhook_bytes", "header_timeout_seconds", "body_timeout_seconds"),
    )
    _check_positive(sections["observability"], "observability", ("max_operation_labels",))
    _check_positive(sections["rollouts"], "rollouts", ("poll_seconds", "lease_seconds"))
    rollouts: RolloutSettings = sections["rollouts"]
    if rollouts.webhook_url is not None and not rollouts.webhook_url.startswith(("http://", "https://")):
        raise ConfigError("rollouts.webhook_url", f"must be an http(s) URL, got {rollouts.webhook_url!r}")
    if rollouts.webhook_url and rollouts.webhook_secret_env is None and rollouts.webhook_secret_file is None:
        raise ConfigError(
            "rollouts.webhook_url", "needs webhook_secret_env or webhook_secret_file: alerts are signed"
        )
    if (rollouts.prometheus_url is None) != (rollouts.prometheus_error_rate_query is None):
        missing = "prometheus_error_rate_query" if rollouts.prometheus_url else "prometheus_url"
        raise ConfigError(f"rollouts.{missing}", "prometheus_url and prometheus_error_rate_query go together")
    if rollouts.prometheus_url is not None and not rollouts.prometheus_url.startswith(
        ("http://", "https://")
    ):
        raise ConfigError(
            "rollouts.prometheus_url", f"must be an http(s) URL, got {rollouts.prometheus_url!r}"
        )
    cache: CacheSettings = sections["cache"]
    if not cache.url.startswith(("memory://", "redis://", "rediss://")):
        raise ConfigError("cache.url", f"must start with memory:// or redis://, got {cache.url!r}")
    storage: StorageSettings = sections["storage"]
    if not storage.url.startswith(("sqlite://", "postgresql://", "postgres://")):
        raise ConfigError("storage.url", f"must be a sqlite:/// or postgresql:// URL, got {storage.url!r}")
    sections["artifacts"] = _check_artifacts(
        sections["artifacts"], "artifacts_dir" in data.get("storage", {}), storage.artifacts_dir, environ
    )
    return Settings(**sections, registries=_parse_registries(data.get("registries")))


# Colder classes whose objects still read at once (a GET, a signed URL): the gateway
# serves and verifies archived versions' files like any other. S3 GLACIER and
# DEEP_ARCHIVE and Azure's Archive tier need a restore first and are refused.
ARCHIVE_STORAGE_CLASSES = {
    "s3": ("STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR"),
    "gs": ("NEARLINE", "COLDLINE", "ARCHIVE"),
    "az": ("Cool", "Cold"),
}


def _check_archive(artifacts: ArtifactSettings, url: str) -> None:
    days, storage_class = artifacts.archive_after_days, artifacts.archive_storage_class
    if (days is None) != (storage_class is None):
        raise ConfigError(
            "artifacts.archive_storage_class",
            "give archive_after_days and archive_storage_class together (or neither)",
        )
    if days is not None and days < 0:
        raise ConfigError("artifacts.archive_after_days", f"must be 0 or more, got {days}")
    allowed = ARCHIVE_STORAGE_CLASSES.get(url.split("://", 1)[0])
    if storage_class is not None and allowed is not None and storage_class not in allowed:
        raise ConfigError(
            "artifacts.archive_storage_class",
            f"{storage_class!r} is not a class this store reads at once; use one of {', '.join(allowed)}",
        )


def _check_artifacts(
    artifacts: ArtifactSettings, dir_given: bool, artifacts_dir: str, environ: Mapping[str, str] | None
) -> ArtifactSettings:
    """One place names the artifact store: ``[artifacts] url`` or the older
    ``storage.artifacts_dir`` (a ``file://`` store), not both."""
    if artifacts.url is not None and dir_given:
        raise ConfigError(
            "artifacts.url",
            "give artifacts.url or storage.artifacts_dir, not both (artifacts_dir is file://)",
        )
    url = artifacts.url if artifacts.url is not None else f"file://{artifacts_dir}"
    if not url.startswith(ARTIFACT_SCHEMES):
        raise ConfigError("artifacts.url", f"must start with {', '.join(ARTIFACT_SCHEMES)}; got {url!r}")
    if "@" in url.split("://", 1)[1].split("/", 1)[0]:
        raise ConfigError("artifacts.url", "credentials never go in the URL: use the *_env or *_file keys")
    if not url.startswith("file://") and not url.split("://", 1)[1].strip("/"):
        raise ConfigError("artifacts.url", f"names no bucket or container: {url!r}")
    if artifacts.endpoint is not None and not artifacts.endpoint.startswith(("http://", "https://")):
        raise ConfigError("artifacts.endpoint", f"must be an http(s) URL, got {artifacts.endpoint!r}")
    if artifacts.presigned_seconds < 0 or artifacts.presigned_seconds > 7 * 24 * 3600:
        raise ConfigError("artifacts.presigned_seconds", "must be between 0 and 604800 (7 days, S3's limit)")
    if artifacts.max_artifact_bytes < 1:
        raise ConfigError("artifacts.max_artifact_bytes", "must be at least 1")
    _check_archive(artifacts, url)
    artifacts = dataclasses.replace(artifacts, url=url)
    artifacts.credentials(environ)  # a named variable that is unset fails now, naming its key
    return artifacts


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback address: the one place that decides what "local" means."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _is_local_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


def _check_auth(auth: AuthSettings) -> AuthSettings:
    """Cross-key rules of ``[auth]``; returns it with ``api_keys`` parsed."""
    if auth.mode not in _AUTH_MODES:
        raise ConfigError("auth.mode", f"must be one of {', '.join(_AUTH_MODES)}, got {auth.mode!r}")
    if auth.mode == "oidc" and not (auth.issuer and auth.audience):
        raise ConfigError("auth", "mode 'oidc' needs both issuer and audience")
    for name in ("issuer", "jwks_url"):
        url = getattr(auth, name)
        # Keys fetched over plain HTTP could be swapped by anyone on the path.
        if url and not (url.startswith("https://") or _is_local_http(url)):
            raise ConfigError(f"auth.{name}", f"must be an https:// URL (http only on loopback), got {url!r}")
    if not auth.algorithms:
        raise ConfigError("auth.algorithms", "must name at least one algorithm")
    for i, alg in enumerate(auth.algorithms):
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise ConfigError(
                f"auth.algorithms[{i}]",
                f"{alg!r} is not allowed (asymmetric algorithms only: {', '.join(ASYMMETRIC_ALGORITHMS)})",
            )
    if auth.leeway_seconds < 0 or auth.leeway_seconds > 300:
        raise ConfigError("auth.leeway_seconds", "must be between 0 and 300")
    for name in ("jwks_cache_seconds", "jwks_min_refetch_seconds"):
        if getattr(auth, name) <= 0:
            raise ConfigError(f"auth.{name}", "must be greater than 0")
    keys: list[ApiKeySettings] = []
    names: set[str] = set()
    hashes: set[str] = set()
    for i, raw in enumerate(auth.api_keys):
        key = f"auth.api_keys[{i}]"
        entry = parse_section(ApiKeySettings, raw, key)  # type: ignore[arg-type]
        if not entry.name:
            raise ConfigError(f"{key}.name", "must not be empty")
        if entry.name in names:
            raise ConfigError(f"{key}.name", f"duplicate api key name {entry.name!r}")
        if not _SHA256_HEX.match(entry.sha256):
            raise ConfigError(
                f"{key}.sha256", "must be 64 lowercase hex digits (print one with: modelgate apikey hash)"
            )
        if entry.sha256 in hashes:
            raise ConfigError(f"{key}.sha256", "the same key is configured twice")
        names.add(entry.name)
        hashes.add(entry.sha256)
        keys.append(entry)
    if auth.mode == "apikey" and not keys:
        raise ConfigError("auth.api_keys", "mode 'apikey' needs at least one [[auth.api_keys]] entry")
    return dataclasses.replace(auth, api_keys=keys, workload_issuers=_check_workload_issuers(auth))


# A name template's fields: plain claim names ("{repository}"), no attribute or index access.
_TEMPLATE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_workload_issuers(auth: AuthSettings) -> list[WorkloadIssuerSettings]:
    """``[[auth.workload_issuers]]`` parsed and checked (``gateway.auth.workload``)."""
    if auth.workload_issuers and auth.mode != "oidc":
        raise ConfigError("auth.workload_issuers", f'needs mode = "oidc" (mode is {auth.mode!r})')
    parsed: list[WorkloadIssuerSettings] = []
    seen = {(auth.issuer or "").rstrip("/")}
    for i, raw in enumerate(auth.workload_issuers):
        key = f"auth.workload_issuers[{i}]"
        entry = parse_section(WorkloadIssuerSettings, raw, key)  # type: ignore[arg-type]
        for name in ("issuer", "jwks_url"):
            url = getattr(entry, name)
            if url is not None and not (url.startswith("https://") or _is_local_http(url)):
                raise ConfigError(
                    f"{key}.{name}", f"must be an https:// URL (http only on loopback), got {url!r}"
                )
        if entry.issuer.rstrip("/") in seen:
            raise ConfigError(
                f"{key}.issuer", f"{entry.issuer!r} is already trusted (auth.issuer or an earlier entry)"
            )
        seen.add(entry.issuer.rstrip("/"))
        if not entry.audience:
            raise ConfigError(f"{key}.audience", "must not be empty (tokens must be minted for this gateway)")
        if not entry.rules:
            raise ConfigError(
                f"{key}.rules",
                "needs a [[auth.workload_issuers.rules]] entry (without one every token is refused)",
            )
        rules = [_check_workload_rule(r, f"{key}.rules[{j}]") for j, r in enumerate(entry.rules)]
        parsed.append(dataclasses.replace(entry, rules=rules))
    return parsed


def _check_workload_rule(raw: Any, key: str) -> WorkloadRuleSettings:
    rule = parse_section(WorkloadRuleSettings, raw, key)
    if not rule.match:
        raise ConfigError(
            f"{key}.match", "must name at least one claim: an empty match would admit every job"
        )
    for claim, pattern in rule.match.items():
        if not isinstance(pattern, str) or not pattern or pattern.strip("*") == "":
            raise ConfigError(
                f"{key}.match.{claim}", f'must be a non-empty string that is not only "*", got {pattern!r}'
            )
    for name in ("roles", "teams"):
        if any(not v for v in getattr(rule, name)):
            raise ConfigError(f"{key}.{name}", "must not hold an empty string")
    if rule.name is not None:
        try:
            fields = [
                (f, conv, spec)
                for _text, f, spec, conv in string.Formatter().parse(rule.name)
                if f is not None
            ]
        except ValueError as exc:
            raise ConfigError(f"{key}.name", f"is not a valid template: {exc}") from None
        for f, conv, spec in fields:
            if not _TEMPLATE_FIELD.match(f) or conv or spec:
                raise ConfigError(
                    f"{key}.name", f"{{{f}}}: a field is a plain claim name, e.g. {{repository}}"
                )
        if not rule.name.strip():
            raise ConfigError(f"{key}.name", "must not be empty")
    return rule


def _check_graphql(graphql: GraphQLSettings) -> None:
    for f in dataclasses.fields(GraphQLSettings):
        value = getattr(graphql, f.name)
        if not isinstance(value, bool) and value <= 0:
            raise ConfigError(f"graphql.{f.name}", "must be greater than 0")


def _check_positive(section: Any, name: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        if getattr(section, key) <= 0:
            raise ConfigError(f"{name}.{key}", "must be greater than 0")


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


@dataclass(frozen=True)
class SecretSource:
    """Where a secret comes from: a value read once at load (an environment
    variable), or a file re-read when it changes (a rotated token), or neither."""

    value: str | None = None
    path: Path | None = None


def secret_source(
    env_name: str | None, file_name: str | None, key: str, what: str, environ: Mapping[str, str]
) -> SecretSource:
    """The ``<what>_env`` / ``<what>_file`` pair of a section, checked now: one of
    them at most, a set variable, a readable non-empty file. Errors name the key,
    never the value."""
    env_key, file_key = f"{key}.{what}_env", f"{key}.{what}_file"
    if env_name and file_name:
        raise ConfigError(file_key, f"give {what}_env or {what}_file, not both")
    if env_name:
        value = environ.get(env_name, "").strip()
        if not value:
            raise ConfigError(env_key, f"environment variable {env_name} is not set")
        return SecretSource(value=value)
    if file_name:
        path = Path(file_name)
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(file_key, f"cannot read {file_name}: {exc.strerror}") from None
        if not text:
            raise ConfigError(file_key, f"{file_name} is empty")
        return SecretSource(path=path)
    return SecretSource()


def read_secret(
    env_name: str | None, file_name: str | None, key: str, what: str, environ: Mapping[str, str]
) -> str | None:
    """The secret of a ``<what>_env`` / ``<what>_file`` pair, read now (None: neither given)."""
    source = secret_source(env_name, file_name, key, what, environ)
    if source.path is not None:
        return source.path.read_text(encoding="utf-8").strip()
    return source.value


def resolve_secret(
    options: Mapping[str, Any], name: str, key: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """Read secret ``name`` from ``<name>_env`` (a variable) or ``<name>_file`` (a file).

    An inline ``<name>`` is refused: config files end up in repositories.
    """
    env = os.environ if environ is None else environ
    refuse_inline_secrets(options, key, [name])
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
