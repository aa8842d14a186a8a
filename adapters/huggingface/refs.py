"""Hugging Face Hub model references.

Claimed spellings: ``hf://<namespace>/<name>[@<revision>]`` (the ``HfFileSystem``
spelling), ``https://huggingface.co/<namespace>/<name>[/tree/<revision>]`` (any
configured endpoint's host too), and, where a card names a base model, the bare
``<namespace>/<name>`` (``bare_reference``: only the gateway's ``base_model`` tag
reads bare names, so ``a/b`` elsewhere is never taken for a model).

A registry owns a reference to a repository in its ``organization`` or its
``repositories``. A revision that is one of its versions (a tag matching
``version_tag_pattern``, or ``main``) names that version; any other revision (a
commit, another branch) names the model, whose versions are tags the reference
cannot be matched to without asking the Hub. A Hub reference no registry owns
stays an external node spelled ``hf://<namespace>/<name>`` (``canonical_reference``),
whatever the spelling and revision, so every fine-tune of one external base meets
at one node.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from urllib.parse import unquote, urlsplit

from adapters.base import ReferenceMatch
from adapters.huggingface.mapping import SCHEME, domain_name
from adapters.huggingface.options import DEFAULT_ENDPOINT, MAIN, REPO_ID
from gateway.config import RegistrySettings

HUB_HOSTS = frozenset({"huggingface.co", "hf.co"})
_HTTP = re.compile(
    r"^https?://(?P<host>[^/]+)/(?P<repo>[^/]+/[^/@?#]+)(?:/tree/(?P<rev>[^?#]+))?/?(?:[?#].*)?$"
)


def split_reference(text: str, hosts: frozenset[str] = HUB_HOSTS) -> tuple[str, str | None] | None:
    """``(repo_id, revision)`` of a Hub model reference, or None when ``text`` is none."""
    text = text.strip()
    if text.startswith(SCHEME):
        body = text[len(SCHEME) :].split("?", 1)[0].split("#", 1)[0]
        repo, _, revision = body.partition("@")
        if repo.startswith(("datasets/", "spaces/")):
            return None
        rev = unquote(revision) or None
    elif match := _HTTP.match(text):
        if match["host"].lower() not in hosts or match["repo"].startswith(("datasets/", "spaces/")):
            return None
        repo, rev = match["repo"], unquote(match["rev"]) if match["rev"] else None
    else:
        return None
    return (repo, rev) if REPO_ID.match(repo) else None


def _hosts(registry: RegistrySettings) -> frozenset[str]:
    endpoint = str(registry.options.get("endpoint") or DEFAULT_ENDPOINT)
    host = urlsplit(endpoint).netloc.lower()
    return HUB_HOSTS | {host} if host else HUB_HOSTS


def _owns(registry: RegistrySettings, repo_id: str) -> bool:
    repositories = registry.options.get("repositories") or []
    if isinstance(repositories, list) and repo_id in repositories:
        return True
    organization = registry.options.get("organization")
    return isinstance(organization, str) and repo_id.split("/", 1)[0].casefold() == organization.casefold()


def _is_version(registry: RegistrySettings, revision: str) -> bool:
    if revision == MAIN:
        return bool(registry.options.get("include_main", True))
    pattern = str(registry.options.get("version_tag_pattern") or "v*")
    stage_tags = [
        *(registry.options.get("production_tags") or ["prod"]),
        *(registry.options.get("staging_tags") or ["staging"]),
    ]
    return fnmatchcase(revision, pattern) and revision not in stage_tags


class HubReferences:
    """``ReferenceParser`` for Hub model references (rules in the module docstring)."""

    def is_reference(self, text: str) -> bool:
        return split_reference(text) is not None

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        parts = split_reference(text, _hosts(registry))
        if parts is None or not _owns(registry, parts[0]):
            return None
        repo, revision = parts
        version = revision if revision and _is_version(registry, revision) else None
        return ReferenceMatch(model_name=domain_name(repo), version=version)

    def bare_reference(self, text: str) -> str | None:
        """A card's bare ``namespace/name`` as ``hf://namespace/name``."""
        text = text.strip()
        return f"{SCHEME}{text}" if REPO_ID.match(text) else None

    def canonical_reference(self, text: str) -> str | None:
        """The external node's one spelling: ``hf://<namespace>/<name>``."""
        parts = split_reference(text)
        return f"{SCHEME}{parts[0]}" if parts else None
