"""Naming things in the lineage graph: dataset URIs normalised so two registries
that spell the same data differently meet at one node, and registry references
(MLflow, SageMaker, Vertex) resolved to the ``mg://`` URI of the configured
registry that owns them.

Reference resolution rules (``ReferenceResolver.resolve``):

``mg://<registry>/<model>[/<version>]``
    Taken as is (the registry need not be configured: it may have been removed).
MLflow ``models:/<name>/<version>``
    MLflow references carry no server, so the registry comes from context: the
    referencing version's own registry if it is an MLflow registry, else the
    only configured MLflow registry; with several MLflow registries and no
    MLflow context the reference stays unresolved (write ``mg://`` to be exact).
    ``models:/<name>@<alias>`` (moves over time) and ``models:/m-<id>`` (a
    LoggedModel, not a registry version) stay unresolved.
SageMaker ``arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>``
    The SageMaker registry configured for that region (the referencing
    version's own registry when several share the region, else unresolved).
    AWS and moto lowercase the group name in package ARNs, so the model name is
    matched case-insensitively: ``Resolved.case_insensitive`` tells the caller
    to look the real spelling up in the catalogue. ``model-package-group/<g>``
    ARNs resolve to the model.
Vertex ``projects/<p>/locations/<l>/models/<id>@<version>``
    (optionally behind ``https://<host>/v1/`` or ``//aiplatform.googleapis.com/``)
    The Vertex registry configured with that project and location; the
    referencing version's own Vertex registry when the project is spelled as a
    number in the same location. Without ``@version`` it names the model;
    ``@<alias>`` stays unresolved (aliases move).

Anything unresolved keeps its own text as the node URI (an external node).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.config import RegistrySettings
from gateway.domain import URI_SCHEME, model_uri, parse_uri, version_uri

# Schemes whose paths are object-store keys or file paths: duplicate and
# trailing slashes carry no meaning there. Other schemes' paths are left alone.
PATH_SCHEMES = frozenset(
    {"s3", "gs", "abfs", "abfss", "wasb", "wasbs", "adl", "hdfs", "file", "dbfs", "oss", "r2", "az"}
)
SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)$", re.DOTALL)
# Schemes that only mean something inside one registry (MLflow's artifact proxy and
# model/run references): never evidence that two registries hold the same bytes.
REGISTRY_RELATIVE_SCHEMES = frozenset({"models", "runs", "mlflow-artifacts"})

MLFLOW_REF = re.compile(r"^models:/+(?P<name>[^/@]+)/(?P<version>[0-9]+)/?$")
SAGEMAKER_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:(?P<region>[a-z0-9\-]+):(?P<account>[0-9]*):"
    r"(?P<what>model-package|model-package-group)/(?P<name>[^/]+)(?:/(?P<version>[0-9]+))?$"
)
VERTEX_NAME = re.compile(
    r"^(?:https?://[^/]+/v1(?:beta1)?/|//aiplatform\.googleapis\.com/)?"
    r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/models/(?P<model>[^/@?#]+)"
    r"(?:@(?P<version>[^/?#]+))?$"
)


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


def artifact_key(uri: str | None) -> str | None:
    """The ``lineage_artifacts`` key of an artifact location, or None when the
    location is relative to one registry (it cannot link two)."""
    if not uri or "://" not in uri:
        return None
    normalized = normalize_dataset_uri(uri)
    scheme = normalized.split("://", 1)[0]
    if scheme in REGISTRY_RELATIVE_SCHEMES or normalized.endswith("://"):
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


def is_reference(text: str) -> bool:
    """Whether ``text`` has the shape of a model reference modelgate understands
    (resolvable or not): ``mg://``, ``models:/``, a SageMaker model-package ARN,
    or a Vertex model resource name."""
    text = text.strip()
    return (
        text.startswith(URI_SCHEME)
        or text.startswith("models:/")
        or bool(SAGEMAKER_ARN.match(text))
        or bool(VERTEX_NAME.match(text))
    )


class ReferenceResolver:
    """Maps model references to the configured registry that owns them (rules in
    the module docstring). Pure: no I/O, so it is cheap enough to run per edge."""

    def __init__(self, registries: Sequence[RegistrySettings]):
        self.registries = {r.id: r for r in registries}
        self._by_kind: dict[str, list[RegistrySettings]] = {}
        for r in registries:
            self._by_kind.setdefault(r.kind, []).append(r)

    def kind_of(self, registry_id: str | None) -> str | None:
        registry = self.registries.get(registry_id or "")
        return registry.kind if registry else None

    def fingerprint(self) -> str:
        """What resolution depends on; stored references are resolved again when it changes."""
        parts = []
        for r in sorted(self.registries.values(), key=lambda r: r.id):
            o = r.options
            parts.append(
                f"{r.id}|{r.kind}|{o.get('region', '')}|{o.get('project', '')}|{o.get('location', '')}"
            )
        return ";".join(parts)

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
        if match := MLFLOW_REF.match(text):
            registry = self._pick("mlflow", context_registry, lambda r: True)
            return Resolved(registry.id, match["name"], match["version"]) if registry else None
        if match := SAGEMAKER_ARN.match(text):
            if match["what"] == "model-package" and match["version"] is None:
                return None  # an unversioned package: not a registry version
            region = match["region"]
            registry = self._pick("sagemaker", context_registry, lambda r: r.options.get("region") == region)
            if registry is None:
                return None
            version = match["version"] if match["what"] == "model-package" else None
            return Resolved(registry.id, match["name"], version, case_insensitive=True)
        if match := VERTEX_NAME.match(text):
            version = match["version"]
            if version is not None and not version.isdigit():
                return None  # an alias: it moves from version to version
            project, location = match["project"], match["location"]
            registry = self._pick(
                "vertex",
                None,
                lambda r: r.options.get("project") == project and r.options.get("location") == location,
            )
            context = self.registries.get(context_registry or "")
            if (
                registry is None
                and project.isdigit()
                and context is not None
                and context.kind == "vertex"
                and context.options.get("location") == location
            ):
                registry = context  # Vertex may spell a project by its number
            return Resolved(registry.id, match["model"], version) if registry else None
        return None

    def _pick(
        self, kind: str, context_registry: str | None, fits: Callable[[RegistrySettings], bool]
    ) -> RegistrySettings | None:
        candidates = [r for r in self._by_kind.get(kind, []) if fits(r)]
        context = next((r for r in candidates if r.id == context_registry), None)
        if context is not None:
            return context
        return candidates[0] if len(candidates) == 1 else None


def resolve_reference(
    ref: str, registries: Sequence[RegistrySettings], *, context_registry: str | None = None
) -> str | None:
    """``mg://<registry>/<model>/<version>`` for a reference a configured registry
    owns, else None (the caller keeps the reference as an external node)."""
    resolved = ReferenceResolver(registries).resolve(ref, context_registry=context_registry)
    return resolved.uri if resolved else None
