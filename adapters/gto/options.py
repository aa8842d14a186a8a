"""Options of a ``kind = "gto"`` registry, checked without touching the network.

```toml
[[registries]]
id = "nlp-gto"
kind = "gto"
team = "nlp"
repo = "git://git.internal/nlp/models.git"   # file://, git://, https:// or ssh (ssh://… or user@host:path)
# branch = "main"                    the branch whose dvc.yaml declares models without versions yet
# production_stages = ["prod", "production"]   staging_stages = ["staging"]
# token_env = "GTO_TOKEN" / token_file = "…"   https only: sent as HTTP basic auth (user token_user)
# ssh_key_file = "~/.ssh/id_ed25519"            ssh only
# mirror_dir = "./data/gto-mirrors"             default: next to the gateway's artifacts directory
# model_types = ["model"]   timeout_seconds = 60   page_size = 100
# committer_name = "modelgate"  committer_email = "modelgate@localhost"   who signs stage tags
```

Stage lists: any name of a list is recognised on read, the first is the one
written. GTO stage names follow its name grammar (letters, digits, ``-``,
``_``, ``/``; starting and ending with a letter or digit).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from gateway.config import ConfigError, RegistrySettings, registry_options

# gto/constants.py: ``name``.
STAGE_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?$")
SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:.+$")  # git@host:org/repo.git
SCHEMES = ("file", "git", "https", "http", "ssh")


@dataclass(frozen=True)
class GtoOptions:
    repo: str
    branch: str | None = None
    production_stages: list[str] = field(default_factory=lambda: ["prod", "production"])
    staging_stages: list[str] = field(default_factory=lambda: ["staging"])
    token_env: str | None = None
    token_file: str | None = None
    token_user: str = "x-access-token"
    ssh_key_file: str | None = None
    mirror_dir: str | None = None
    model_types: list[str] = field(default_factory=lambda: ["model"])
    timeout_seconds: float = 60.0
    page_size: int = 100
    committer_name: str = "modelgate"
    committer_email: str = "modelgate@localhost"


@dataclass(frozen=True)
class StageMapping:
    production: tuple[str, ...]
    staging: tuple[str, ...]

    def rank(self, stage_name: str) -> int:
        """2 for a production name, 1 for staging, 0 for any other GTO stage."""
        if stage_name in self.production:
            return 2
        return 1 if stage_name in self.staging else 0


@dataclass(frozen=True)
class GtoSettings:
    repo: str
    branch: str | None
    stages: StageMapping
    token: str | None
    token_user: str
    ssh_key_file: str | None
    mirror_dir: Path | None  # None: the factory places it under the gateway's data directory
    model_types: frozenset[str]
    timeout_seconds: float
    page_size: int
    committer_name: str
    committer_email: str


def check_repo_url(value: str, key: str) -> str:
    if SCP_LIKE.match(value):
        return value
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES:
        raise ConfigError(key, f"expected a Git URL (file://, git://, https://, ssh://), got {value!r}")
    if parts.scheme != "file" and not parts.hostname:
        raise ConfigError(key, f"the URL names no host: {value!r}")
    return value


def _check_stages(values: list[str], key: str) -> tuple[str, ...]:
    if not values:
        raise ConfigError(key, "needs at least one GTO stage name")
    for name in values:
        if not STAGE_NAME.match(name):
            raise ConfigError(key, f"{name!r} is not a GTO stage name")
    return tuple(values)


def _read_token(options: GtoOptions, key: str, environ: Mapping[str, str]) -> str | None:
    if options.token_env and options.token_file:
        raise ConfigError(f"{key}.token_env", "give token_env or token_file, not both")
    if options.token_env:
        value = environ.get(options.token_env)
        if not value:
            raise ConfigError(f"{key}.token_env", f"environment variable {options.token_env} is not set")
        return value.strip()
    if options.token_file:
        try:
            return Path(options.token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{key}.token_file", f"cannot read {options.token_file}: {exc.strerror}"
            ) from None
    return None


def load_settings(registry: RegistrySettings, environ: Mapping[str, str] | None = None) -> GtoSettings:
    """Validate a gto registry's options; raises ``ConfigError`` naming the key."""
    key = registry.key
    env: Mapping[str, str] = os.environ if environ is None else environ
    options = registry_options(GtoOptions, registry, secrets=["token"])
    repo = check_repo_url(options.repo, f"{key}.repo")
    scheme = "ssh" if SCP_LIKE.match(repo) else urlsplit(repo).scheme
    production = _check_stages(options.production_stages, f"{key}.production_stages")
    staging = _check_stages(options.staging_stages, f"{key}.staging_stages")
    if overlap := set(production) & set(staging):
        raise ConfigError(f"{key}.staging_stages", f"stage {sorted(overlap)[0]!r} also means PRODUCTION")
    token = _read_token(options, key, env)
    if token and scheme not in ("https", "http"):
        raise ConfigError(
            f"{key}.token_env" if options.token_env else f"{key}.token_file",
            "a token only applies to an https:// repo",
        )
    if options.ssh_key_file:
        if scheme != "ssh":
            raise ConfigError(f"{key}.ssh_key_file", "an SSH key only applies to an ssh repo")
        if not Path(options.ssh_key_file).expanduser().is_file():
            raise ConfigError(f"{key}.ssh_key_file", f"no such file: {options.ssh_key_file}")
    if options.timeout_seconds <= 0:
        raise ConfigError(f"{key}.timeout_seconds", "must be greater than 0")
    if not 1 <= options.page_size <= 1000:
        raise ConfigError(f"{key}.page_size", "must be between 1 and 1000")
    if not options.model_types:
        raise ConfigError(f"{key}.model_types", "needs at least one artifact type")
    return GtoSettings(
        repo=repo,
        branch=options.branch or None,
        stages=StageMapping(production, staging),
        token=token,
        token_user=options.token_user,
        ssh_key_file=str(Path(options.ssh_key_file).expanduser()) if options.ssh_key_file else None,
        mirror_dir=Path(options.mirror_dir).expanduser() if options.mirror_dir else None,
        model_types=frozenset(options.model_types),
        timeout_seconds=options.timeout_seconds,
        page_size=options.page_size,
        committer_name=options.committer_name,
        committer_email=options.committer_email,
    )
