"""What a bill of materials says about a version, gathered once for every format.

``BomFacts`` is the version record plus what only the gateway knows about it
(its registry's kind, the owning team, the registry's page, the parent as a
catalogue URI, the risk tier). The format modules (``cyclonedx``, ``spdx``) are
pure functions of it; ``gather_facts`` is the one place that reads the gateway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from adapters.base import source_url_of
from gateway.catalogue.index import framework_of
from gateway.domain import DatasetRef, ModelVersion, utcnow

if TYPE_CHECKING:
    from gateway.auth.access import AccessPolicy
    from gateway.runtime import Gateway

# Digest algorithms by the prefix registries write (``sha256:<hex>``), as the
# standards spell them, with the hex length each has.
_ALGORITHMS = {
    "md5": ("MD5", 32),
    "sha1": ("SHA-1", 40),
    "sha256": ("SHA-256", 64),
    "sha384": ("SHA-384", 96),
    "sha512": ("SHA-512", 128),
}
_HEX = re.compile(r"^[0-9a-fA-F]+$")

# Where registries record a model's task (tags first: a team's own word wins).
_TASK_KEYS = ("task", "pipeline_tag")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str  # SHA-256, as CycloneDX and SPDX spell it
    hex: str


def parse_digest(text: str | None) -> Digest | None:
    """``sha256:<hex>`` (or a bare 64-hex SHA-256) as a digest both standards accept;
    None for anything else (a registry's opaque etag, a truncated value)."""
    if not text:
        return None
    prefix, _, value = text.strip().rpartition(":")
    if not prefix and len(value) == 64:
        prefix = "sha256"
    known = _ALGORITHMS.get(prefix.lower().replace("-", ""))
    if known is None or len(value) != known[1] or not _HEX.match(value):
        return None
    return Digest(known[0], value.lower())


def metric_text(value: float) -> str:
    """A metric as both standards carry it (text): 0.914, 32."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


@dataclass(frozen=True, slots=True)
class SignatureField:
    """One input (or output) of the model as its signature records it."""

    name: str | None
    type: str | None

    @property
    def text(self) -> str:
        return ": ".join(p for p in (self.name, self.type) if p) or "unnamed"


def signature_fields(signature: str | None) -> list[SignatureField]:
    """The fields of a recorded signature: MLflow's column or tensor specs (a JSON
    list of objects with ``name`` and ``type``), else the text as one field."""
    if not signature or not signature.strip():
        return []
    try:
        parsed = json.loads(signature)
    except ValueError:
        return [SignatureField(None, signature.strip())]
    if isinstance(parsed, dict):
        parsed = parsed.get("inputs", [parsed])
    if not isinstance(parsed, list):
        return [SignatureField(None, str(parsed))]
    fields = []
    for spec in parsed:
        if isinstance(spec, dict):
            kind = spec.get("type")
            if kind == "tensor" and isinstance(spec.get("tensor-spec"), dict):
                kind = f"tensor {spec['tensor-spec'].get('dtype', '')}".strip()
            fields.append(SignatureField(_text(spec.get("name")), _text(kind)))
        else:
            fields.append(SignatureField(None, str(spec)))
    return fields


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class BomFacts:
    """A version and what the gateway knows around it, for one BOM."""

    version: ModelVersion
    registry_kind: str
    team: str | None = None
    source_url: str | None = None
    parent: str | None = None  # the parent as a catalogue URI (or the record's reference)
    risk_tier: str | None = None
    model_description: str | None = None
    generated_at: datetime = field(default_factory=utcnow)

    @property
    def task(self) -> str | None:
        for key in _TASK_KEYS:
            value = self.version.tags.get(key) or self.version.native.get(key)
            if value:
                return str(value)
        return None

    @property
    def architecture_family(self) -> str | None:
        return framework_of(self.version)

    @property
    def datasets(self) -> tuple[DatasetRef, ...]:
        return self.version.training_data

    @property
    def inputs(self) -> list[SignatureField]:
        return signature_fields(self.version.input_signature)

    @property
    def supplier(self) -> str:
        """Who supplies the model: the owning team, else its registry."""
        return self.team or self.version.registry_id

    @property
    def description(self) -> str | None:
        return self.version.description or self.version.model_card.summary or self.model_description


async def gather_facts(gateway: Gateway, version: ModelVersion, access: AccessPolicy | None) -> BomFacts:
    """The facts of ``version`` as ``access``'s principal may see them: a parent
    hidden from them is left out, as if the record named none (None: everything)."""
    (facts,) = await gather_many(gateway, [version], access)
    return facts


async def gather_many(
    gateway: Gateway, versions: Sequence[ModelVersion], access: AccessPolicy | None
) -> list[BomFacts]:
    """``gather_facts`` of several versions, with one read each of tiers, models and
    visibility for all of them."""
    model_uris = list(dict.fromkeys(v.model_uri for v in versions))
    tiers = await gateway.governance.tiers_of(model_uris)
    models = await gateway.index.get_models(model_uris)
    parents: dict[str, str] = {}
    for v in versions:
        if v.parent:
            resolved = await gateway.lineage.resolve(v.parent, context_registry=v.registry_id)
            parents[v.uri] = resolved or v.parent
    hidden = await access.hidden_uris(gateway.index, parents.values()) if access is not None else set()
    gathered = []
    for v in versions:
        registry = gateway.settings.registry(v.registry_id)
        model = models.get(v.model_uri)
        assigned = tiers.get(v.model_uri)
        parent = parents.get(v.uri)
        gathered.append(
            BomFacts(
                version=v,
                registry_kind=registry.kind if registry else "native",
                team=v.team or (registry.team if registry else None) or (model.team if model else None),
                source_url=source_url_of(gateway.adapters.get(v.registry_id), v.model_name, v.version),
                parent=None if parent in hidden else parent,
                risk_tier=assigned.tier if assigned else None,
                model_description=model.description if model else None,
            )
        )
    return gathered
