"""A version as an SPDX 3.0.1 document (JSON-LD) in the AI and Dataset profiles.

The model is an ``ai_AIPackage`` (hyperparameters, metrics, limitation,
application and training information, the safety risk assessment from its
risk tier); each dataset is a ``dataset_DatasetPackage`` the model is
``trainedOn`` or ``testedOn`` (by its role); the parent is an AIPackage the
model is a ``descendantOf``; the training code ``generates`` the model. One
``CreationInfo`` (a blank node) serves every element.

Element ids are the version's ``mg://`` URI and fragments of it, so two
documents about one version name its parts alike.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway import __version__
from gateway.bom.facts import BomFacts, metric_text, parse_digest
from gateway.domain import VALIDATION_ROLES, DatasetRef

CONTEXT = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
SPEC_VERSION = "3.0.1"
CREATION = "_:creationinfo"
# Risk tier names (the shipped ones and the EU AI Act's words) as SPDX's four
# levels; a tier of another name is not asserted.
SAFETY_RISK = {
    "unacceptable": "serious",
    "prohibited": "serious",
    "serious": "serious",
    "high": "high",
    "limited": "medium",
    "medium": "medium",
    "minimal": "low",
    "low": "low",
}
_IRI = re.compile(r"^(?!_:)[^\s]+:[^\s]+$")  # the schema's IRI pattern, without white space
_HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def spdx_document(facts: BomFacts, *, serial: uuid.UUID | None = None) -> dict[str, Any]:
    """The SPDX 3.0.1 document of one version (``serial``: the document's id, fresh when None)."""
    return spdx_collection([facts], facts.generated_at, name=f"AI BOM of {facts.version.uri}", serial=serial)


def spdx_collection(
    versions: Sequence[BomFacts], at: datetime, *, name: str, serial: uuid.UUID | None = None
) -> dict[str, Any]:
    """One SPDX document of several versions (a model's, an organisation's
    inventory), each a root element; an element two versions share (a supplier, a
    parent that is itself in the document) appears once."""
    document_id = (serial or uuid.uuid4()).urn
    agent_id, tool_id = f"{document_id}#agent", f"{document_id}#tool"
    elements: dict[str, dict[str, Any]] = {}
    # modelgate made the document (an agent) with itself (a tool).
    for element in (
        {"type": "SoftwareAgent", "spdxId": agent_id, "creationInfo": CREATION, "name": "modelgate"},
        {"type": "Tool", "spdxId": tool_id, "creationInfo": CREATION, "name": f"modelgate {__version__}"},
    ):
        elements[element["spdxId"]] = element
    suppliers: dict[str, str] = {}
    for facts in versions:
        if facts.supplier not in suppliers:
            suppliers[facts.supplier] = supplier_id = f"{document_id}#supplier-{len(suppliers) + 1}"
            elements[supplier_id] = {
                "type": "Organization",
                "spdxId": supplier_id,
                "creationInfo": CREATION,
                "name": facts.supplier,
            }
        model, parts = _version_parts(facts, suppliers[facts.supplier])
        elements[model["spdxId"]] = model  # the version itself wins over a parent's stand-in
        for part in parts:
            elements.setdefault(part["spdxId"], part)
    creation = {
        "type": "CreationInfo",
        "@id": CREATION,
        "specVersion": SPEC_VERSION,
        "created": _time(at),
        "createdBy": [agent_id],
        "createdUsing": [tool_id],
    }
    document = {
        "type": "SpdxDocument",
        "spdxId": document_id,
        "creationInfo": CREATION,
        "name": name,
        "profileConformance": ["core", "software", "ai", "dataset"],
        "rootElement": [f.version.uri for f in versions],
        "element": list(elements),
    }
    return {"@context": CONTEXT, "@graph": [creation, *elements.values(), document]}


def _version_parts(facts: BomFacts, supplier_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A version's AIPackage and the elements around it (datasets, parent, code, relationships)."""
    v = facts.version
    parts: list[dict[str, Any]] = []
    trained: list[str] = []
    tested: list[str] = []
    for index, dataset in enumerate(facts.datasets, start=1):
        element = _dataset(dataset, f"{v.uri}#dataset-{index}")
        parts.append(element)
        (tested if (dataset.role or "").lower() in VALIDATION_ROLES else trained).append(element["spdxId"])
    relationships = [("trainedOn", trained), ("testedOn", tested)]
    if facts.parent:
        parent = _parent(facts.parent, f"{v.uri}#parent")
        parts.append(parent)
        relationships.append(("descendantOf", [parent["spdxId"]]))
    for kind, targets in relationships:
        if targets:
            parts.append(_relationship(f"{v.uri}#{kind}", v.uri, kind, targets))
    if (code := _code(facts)) is not None:
        parts.append(code)
        parts.append(_relationship(f"{v.uri}#generatedBy", code["spdxId"], "generates", [v.uri]))
    return _model(facts, supplier_id), parts


def _model(facts: BomFacts, supplier_id: str) -> dict[str, Any]:
    v = facts.version
    card = v.model_card
    model: dict[str, Any] = {
        "type": "ai_AIPackage",
        "spdxId": v.uri,
        "creationInfo": CREATION,
        "name": v.model_name,
        "software_packageVersion": v.version,
        "software_primaryPurpose": "model",
        "suppliedBy": supplier_id,
        "software_downloadLocation": v.artifact_uri or "NOASSERTION",
    }
    if facts.description:
        model["description"] = facts.description
    if card.summary:
        model["summary"] = card.summary
    if v.created_at:
        model["releaseTime"] = _time(v.created_at)
    if (digest := _hash(v.artifact_digest)) is not None:
        model["verifiedUsing"] = [digest]
    if facts.source_url:
        model["software_homePage"] = facts.source_url
        model["externalRef"] = [
            {"type": "ExternalRef", "externalRefType": "altWebPage", "locator": [facts.source_url]}
        ]
    if facts.task:
        model["ai_domain"] = [facts.task]
    if facts.architecture_family:
        model["ai_typeOfModel"] = [facts.architecture_family]
    if v.hyperparameters:
        model["ai_hyperparameter"] = _entries({k: str(val) for k, val in v.hyperparameters.items()})
    if v.metrics:
        model["ai_metric"] = _entries({k: metric_text(val) for k, val in v.metrics.items()})
    if limitations := "\n".join(t for t in (card.limitations, card.warnings) if t):
        model["ai_limitation"] = limitations
    if card.intended_use:
        model["ai_informationAboutApplication"] = card.intended_use
    if card.training_data_summary:
        model["ai_informationAboutTraining"] = card.training_data_summary
    if v.preprocessing:
        model["ai_modelDataPreprocessing"] = [v.preprocessing]
    if card.bias_assessment:
        model["ai_modelExplainability"] = [card.bias_assessment]
    if (risk := SAFETY_RISK.get((facts.risk_tier or "").lower())) is not None:
        model["ai_safetyRiskAssessment"] = risk
    return model


def _dataset(dataset: DatasetRef, spdx_id: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "dataset_DatasetPackage",
        "spdxId": spdx_id,
        "creationInfo": CREATION,
        "name": dataset.name or dataset.uri,
        "software_primaryPurpose": "data",
        "software_downloadLocation": dataset.uri,
        "dataset_datasetType": ["noAssertion"],  # the registries do not record it
        "comment": f"role: {dataset.role or 'training'}",
    }
    if (digest := _hash(dataset.digest)) is not None:
        element["verifiedUsing"] = [digest]
    return element


def _parent(reference: str, fallback_id: str) -> dict[str, Any]:
    """The parent by its URI; a reference that is no IRI (a bare name) gets an id of
    this document and stays its name."""
    return {
        "type": "ai_AIPackage",
        "spdxId": reference if _IRI.match(reference) else fallback_id,
        "creationInfo": CREATION,
        "name": reference,
        "software_primaryPurpose": "model",
    }


def _code(facts: BomFacts) -> dict[str, Any] | None:
    code = facts.version.training_code
    if code is None or not (code.repository or code.commit):
        return None
    element: dict[str, Any] = {
        "type": "software_Package",
        "spdxId": f"{facts.version.uri}#training-code",
        "creationInfo": CREATION,
        "name": str(code),
        "software_primaryPurpose": "source",
    }
    if code.repository:
        element["software_downloadLocation"] = code.repository
        element["externalRef"] = [
            {"type": "ExternalRef", "externalRefType": "vcs", "locator": [code.repository]}
        ]
    if code.commit:
        element["software_packageVersion"] = code.commit
    return element


def _relationship(spdx_id: str, source: str, kind: str, targets: list[str]) -> dict[str, Any]:
    return {
        "type": "Relationship",
        "spdxId": spdx_id,
        "creationInfo": CREATION,
        "from": source,
        "relationshipType": kind,
        "to": targets,
    }


def _hash(text: str | None) -> dict[str, str] | None:
    digest = parse_digest(text)
    if digest is None:
        return None
    return {"type": "Hash", "algorithm": _HASH_ALGORITHMS[digest.algorithm], "hashValue": digest.hex}


def _entries(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"type": "DictionaryEntry", "key": k, "value": val} for k, val in sorted(values.items())]


def _time(at: datetime) -> str:
    """SPDX's one spelling of a time: UTC, whole seconds, ``Z``."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
