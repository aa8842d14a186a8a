"""Options of a ``kind = "huggingface"`` registry, checked without touching the network.

```toml
[[registries]]
id = "hub"
kind = "huggingface"
organization = "acme"                       # every model repository of the organisation
# repositories = ["acme/llm", "meta-llama/Llama-3.1-8B"]   and/or a fixed list
# endpoint = "https://huggingface.co"
# token_env = "HF_TOKEN"                    or token_file = "/run/secrets/hf-token"
# version_tag_pattern = "v*"                 a glob over tag names: the tags that are versions
# include_main = true                       the ``main`` branch is a version too
# production_tags = ["prod"]   staging_tags = ["staging"]
# timeout_seconds = 10   page_size = 100
```

A stage is a tag pointing at a version's commit: the first tag of each list is
the one modelgate moves on a promotion. Secrets are never inline.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from adapters.toolkit.http import registry_url
from gateway.config import ConfigError, RegistrySettings, read_secret, registry_options
from gateway.domain import Stage

DEFAULT_ENDPOINT = "https://huggingface.co"
MAX_PAGE = 1000
# The Hub's repository id rules: ``namespace/name``, letters, digits, ``-``, ``_``, ``.``.
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
MAIN = "main"


@dataclass(frozen=True)
class HuggingFaceOptions:
    organization: str | None = None
    repositories: list[str] = field(default_factory=list)
    endpoint: str = DEFAULT_ENDPOINT
    token_env: str | None = None
    token_file: str | None = None
    version_tag_pattern: str = "v*"
    include_main: bool = True
    production_tags: list[str] = field(default_factory=lambda: ["prod"])
    staging_tags: list[str] = field(default_factory=lambda: ["staging"])
    timeout_seconds: float = 10.0
    page_size: int = 100


@dataclass(frozen=True)
class StageTags:
    """Which tags mean which stage; the first of each list is the one written."""

    tags: Mapping[Stage, tuple[str, ...]]

    def stage_for(self, tag: str) -> Stage | None:
        for stage, names in self.tags.items():
            if tag in names:
                return stage
        return None

    def written(self, stage: Stage) -> str | None:
        names = self.tags.get(stage)
        return names[0] if names else None

    def all(self) -> set[str]:
        return {t for names in self.tags.values() for t in names}


@dataclass(frozen=True)
class HuggingFaceSettings:
    endpoint: str  # scheme://host[:port], no trailing slash
    organization: str | None
    repositories: tuple[str, ...]
    token: str | None  # read at start; never logged
    version_tag_pattern: str
    include_main: bool
    stages: StageTags
    timeout_seconds: float
    page_size: int

    def is_version_ref(self, name: str) -> bool:
        """Whether a tag or branch name is one of this registry's versions."""
        if name == MAIN:
            return self.include_main
        return fnmatchcase(name, self.version_tag_pattern) and name not in self.stages.all()

    def owns(self, repo_id: str) -> bool:
        """Whether a repository belongs to this registry (its organisation or its list)."""
        if repo_id in self.repositories:
            return True
        namespace = repo_id.split("/", 1)[0]
        return self.organization is not None and namespace.casefold() == self.organization.casefold()

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc.lower()


def _endpoint(value: str, key: str) -> str:
    registry_url(value, key, expected=f"the Hub's http(s) URL, e.g. {DEFAULT_ENDPOINT}")
    parts = urlsplit(value)
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ConfigError(key, f"give the Hub's root URL (no path, query or fragment), got {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _tags(values: list[str], key: str) -> tuple[str, ...]:
    if not values or not all(isinstance(v, str) and v.strip() and "/" not in v for v in values):
        raise ConfigError(key, "needs at least one tag name without '/' (the first is the one moved)")
    return tuple(v.strip() for v in values)


def _token(options: HuggingFaceOptions, key: str, environ: Mapping[str, str]) -> str | None:
    # None: anonymous, public repositories only, and no write-through.
    return read_secret(options.token_env, options.token_file, key, "token", environ)


def load_settings(
    registry: RegistrySettings, environ: Mapping[str, str] | None = None
) -> HuggingFaceSettings:
    """Validate a huggingface registry's options; raises ``ConfigError`` naming the key."""
    key = registry.key
    env: Mapping[str, str] = os.environ if environ is None else environ
    options = registry_options(HuggingFaceOptions, registry, secrets=["token"])
    if options.organization is not None and not NAMESPACE.match(options.organization):
        raise ConfigError(f"{key}.organization", f"is not a Hub namespace: {options.organization!r}")
    for i, repo in enumerate(options.repositories):
        if not isinstance(repo, str) or not REPO_ID.match(repo):
            raise ConfigError(f"{key}.repositories[{i}]", f"expected 'namespace/name', got {repo!r}")
    if options.organization is None and not options.repositories:
        raise ConfigError(f"{key}.organization", "give an organization and/or repositories to read")
    if not options.version_tag_pattern.strip():
        raise ConfigError(f"{key}.version_tag_pattern", "must be a glob over tag names, e.g. 'v*'")
    tags = {
        Stage.PRODUCTION: _tags(options.production_tags, f"{key}.production_tags"),
        Stage.STAGING: _tags(options.staging_tags, f"{key}.staging_tags"),
    }
    if overlap := set(tags[Stage.PRODUCTION]) & set(tags[Stage.STAGING]):
        raise ConfigError(f"{key}.staging_tags", f"{sorted(overlap)[0]!r} is also a production tag")
    if options.timeout_seconds <= 0:
        raise ConfigError(f"{key}.timeout_seconds", "must be greater than 0")
    if not 1 <= options.page_size <= MAX_PAGE:
        raise ConfigError(f"{key}.page_size", f"must be between 1 and {MAX_PAGE}")
    return HuggingFaceSettings(
        endpoint=_endpoint(options.endpoint, f"{key}.endpoint"),
        organization=options.organization,
        repositories=tuple(dict.fromkeys(options.repositories)),
        token=_token(options, key, env),
        version_tag_pattern=options.version_tag_pattern.strip(),
        include_main=options.include_main,
        stages=StageTags(tags),
        timeout_seconds=options.timeout_seconds,
        page_size=options.page_size,
    )
