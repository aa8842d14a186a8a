"""Naming things in the lineage graph: dataset URIs normalised so two registries
that spell the same data differently meet at one node, and registry references
resolved to the ``mg://`` URI of the configured registry that owns them.

Reference resolution rules (``ReferenceResolver.resolve``):

``mg://<registry>/<model>[/<version>]``
    Taken as is (the registry need not be configured: it may have been removed).
A registry's own reference (an ARN, an MLflow model URI, a resource name)
    Each configured registry whose adapter factory is a ``ReferenceParser``
    (``adapters.base``) is asked whether it owns the reference; the core knows
    no wire format, each kind's rules live with its adapter
    (``adapters/<kind>/refs.py``). Of the registries that claim it, the
    referencing version's own registry wins; else the only one whose claim is
    firm (not ``weak``); else the only claimant, unless its claim holds in its
    own registry's context only (``context_only``). Several claimants and no
    context: unresolved (write ``mg://`` to be exact). A ``case_insensitive``
    claim tells the caller to look the model's real spelling up in the catalogue.

Anything unresolved keeps its own text as the node URI (an external node).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.base import load_factories, reference_parser
from adapters.protocol import AdapterFactory, ReferenceMatch, ReferenceParser
from gateway.config import RegistrySettings
from gateway.domain import URI_SCHEME, model_uri, parse_uri, version_uri

# Schemes whose paths are object-store keys or file paths: duplicate and
# trailing slashes carry no meaning there. Other schemes' paths are left alone.
PATH_SCHEMES = frozenset(
    {"s3", "gs", "abfs", "abfss", "wasb", "wasbs", "adl", "hdfs", "file", "dbfs", "oss", "r2", "az"}
)
SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)$", re.DOTALL)


@functools.lru_cache(maxsize=65536)  # pure, and datasets repeat across thousands of versions
def normalize_dataset_uri(uri: str) -> str:
    """One spelling per dataset: scheme and host lowercased, ``s3a://``/``s3n://`` →
    ``s3://``, ``gcs://`` → ``gs://``; for object stores and files, duplicate slashes
    in the path collapsed and a trailing slash stripped. Other schemes' paths (an
    ``https`` URL's path is case- and slash-sensitive) and text that is not a URI
    are left as they are, apart from surrounding whitespace."""
    text = uri.strip()
    match = _URI.match(text)
    if not match:
        return text
    scheme, authority, rest = match.groups()
    scheme = scheme.lower()
    scheme = SCHEME_ALIASES.get(scheme, scheme)
    userinfo, at, host = authority.rpartition("@")
    authority = f"{userinfo}{at}{host.lower()}"
    if scheme in PATH_SCHEMES:
        cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
        path, tail = rest[:cut], rest[cut:]
        path = re.sub(r"/{2,}", "/", path).rstrip("/")
        rest = path + tail
    return f"{scheme}://{authority}{rest}"


def artifact_key(uri: str | None, relative_schemes: frozenset[str] = frozenset()) -> str | None:
    """The ``lineage_artifacts`` key of an artifact location, or None when the
    location is relative to one registry (it cannot link two): it has no
    authority, or its scheme is one the adapters declare registry-relative
    (``ReferenceResolver.relative_schemes``)."""
    if not uri or "://" not in uri:
        return None
    normalized = normalize_dataset_uri(uri)
    scheme = normalized.split("://", 1)[0]
    if scheme in relative_schemes or normalized.endswith("://"):
        return None
    return f"uri:{normalized}"


def digest_key(digest: str | None) -> str | None:
    """The ``lineage_artifacts`` key of a content digest (``sha256:<hex>``; a bare
    64-digit hex digest is taken as SHA-256)."""
    if not digest or not digest.strip():
        return None
    text = digest.strip().lower()
    if ":" not in text and re.fullmatch(r"[0-9a-f]{64}", text):
        text = f"sha256:{text}"
    return f"digest:{text}"


@dataclass(frozen=True, slots=True)
class Resolved:
    """A reference resolved to a configured registry."""

    registry_id: str
    model_name: str
    version: str | None
    # The model name came from a case-folded source (SageMaker ARNs): the caller
    # should look up its real spelling in the catalogue.
    case_insensitive: bool = False

    @property
    def uri(self) -> str:
        if self.version is None:
            return model_uri(self.registry_id, self.model_name)
        return version_uri(self.registry_id, self.model_name, self.version)

    @property
    def kind(self) -> str:
        return "model" if self.version is None else "model_version"

    @property
    def label(self) -> str:
        return self.model_name if self.version is None else f"{self.model_name} v{self.version}"


def installed_factories() -> Mapping[str, AdapterFactory]:
    """Every adapter kind installed (entry points), discovered once per process."""
    global _installed
    if _installed is None:
        _installed = load_factories()
    return _installed


_installed: Mapping[str, AdapterFactory] | None = None


def reference_parsers(factories: Mapping[str, AdapterFactory] | None = None) -> dict[str, ReferenceParser]:
    """The kinds (of ``factories``, default: every installed kind) that parse their own references."""
    found = installed_factories() if factories is None else factories
    return {kind: parser for kind, f in found.items() if (parser := reference_parser(f)) is not None}


def is_reference(text: str, factories: Mapping[str, AdapterFactory] | None = None) -> bool:
    """Whether ``text`` has the shape of a model reference modelgate understands
    (resolvable or not): ``mg://``, or a reference an installed adapter kind
    recognises as its own."""
    return ReferenceResolver((), factories).is_reference(text)


class ReferenceResolver:
    """Maps model references to the configured registry that owns them (rules in
    the module docstring). Pure: no I/O, so it is cheap enough to run per edge.
    ``factories``: the installed adapter kinds (default: the entry points)."""

    def __init__(
        self,
        registries: Sequence[RegistrySettings],
        factories: Mapping[str, AdapterFactory] | None = None,
    ):
        self.registries = {r.id: r for r in registries}
        self.parsers = reference_parsers(factories)
        self._claimants = [(r, self.parsers[r.kind]) for r in registries if r.kind in self.parsers]
        # Locations meaningful inside one registry only cannot link two (artifact_key).
        self.relative_schemes: frozenset[str] = frozenset().union(
            *(p.relative_schemes for p in self.parsers.values())
        )

    def kind_of(self, registry_id: str | None) -> str | None:
        registry = self.registries.get(registry_id or "")
        return registry.kind if registry else None

    def folds_case(self, registry_id: str | None) -> bool:
        """Whether references into this registry may spell model names case-folded
        (its factory's ``case_insensitive_references``): the catalogue's spelling
        must then be looked up."""
        parser = self.parsers.get(self.kind_of(registry_id) or "")
        return parser is not None and parser.case_insensitive_references

    def is_reference(self, text: str) -> bool:
        """``is_reference`` over the kinds this resolver knows."""
        text = text.strip()
        return text.startswith(URI_SCHEME) or any(p.is_reference(text) for p in self.parsers.values())

    def qualify(self, text: str) -> str:
        """A model-card value (``base_model``) as a reference: as given when it already
        is one, else the reference the one kind whose cards use such bare names
        makes of it (its parser's ``bare_reference``), else as given."""
        text = text.strip()
        if self.is_reference(text):
            return text
        spelled = {full for parser in self.parsers.values() if (full := parser.bare_reference(text))}
        return spelled.pop() if len(spelled) == 1 else text

    def external(self, ref: str) -> str:
        """The node URI of a reference no configured registry owns: its kind's one
        spelling (the parser's ``canonical_reference``), so that spellings of
        one external model meet at one node; else the reference as given."""
        text = ref.strip()
        for parser in self.parsers.values():
            if parser.is_reference(text) and (spelled := parser.canonical_reference(text)):
                return spelled
        return text

    def fingerprint(self) -> str:
        """What resolution depends on: each registry's id, kind and options (any of
        which a kind's parser may read). Stored references are resolved again when
        it changes. A digest, so that no option value is stored."""
        registries = sorted(self.registries.values(), key=lambda r: r.id)
        described = [[r.id, r.kind, r.options] for r in registries]
        text = json.dumps(described, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def resolve(self, ref: str, *, context_registry: str | None = None) -> Resolved | None:
        """The registry version (or model) ``ref`` names, or None if no configured
        registry can be said to own it."""
        text = ref.strip()
        if text.startswith(URI_SCHEME):
            try:
                parsed = parse_uri(text)
            except ValueError:
                return None
            return Resolved(parsed.registry_id, parsed.model_name, parsed.version)
        claims = [
            (registry, match)
            for registry, parser in self._claimants
            if (match := parser.parse_reference(text, registry)) is not None
        ]
        owner = _owner(claims, context_registry)
        if owner is None:
            return None
        registry, match = owner
        return Resolved(registry.id, match.model_name, match.version, case_insensitive=match.case_insensitive)


Claim = tuple[RegistrySettings, ReferenceMatch]


def _owner(claims: Sequence[Claim], context_registry: str | None) -> Claim | None:
    """The claim that holds: the context registry's, else the only firm one, else
    the only claim at all unless it holds in its own registry's context only."""
    for claim in claims:
        if claim[0].id == context_registry:
            return claim
    firm = [c for c in claims if not c[1].weak]
    if len(firm) == 1:
        return firm[0]
    if not firm and len(claims) == 1 and not claims[0][1].context_only:
        return claims[0]
    return None


def resolve_reference(
    ref: str,
    registries: Sequence[RegistrySettings],
    *,
    context_registry: str | None = None,
    factories: Mapping[str, AdapterFactory] | None = None,
) -> str | None:
    """``mg://<registry>/<model>/<version>`` for a reference a configured registry
    owns, else None (the caller keeps the reference as an external node)."""
    resolved = ReferenceResolver(registries, factories).resolve(ref, context_registry=context_registry)
    return resolved.uri if resolved else None
