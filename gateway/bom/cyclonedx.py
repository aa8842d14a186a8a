"""A version as a CycloneDX 1.6 ML-BOM (ECMA-424), in its JSON form.

The model is the BOM's subject (``metadata.component``), a
``machine-learning-model`` component with its ``modelCard``; its datasets, its
parent model, its training code and its runtime environment are components it
depends on. Built as plain dicts: ``cyclonedx-python-lib`` has no model-card
classes, and its validator (used by the tests) checks the result against the
official schema.

Where the schema has no field for a fact (hyperparameters, the stage, the
risk tier), it is a ``modelgate:`` property, so nothing recorded is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from gateway import __version__
from gateway.bom.facts import BomFacts, metric_text, parse_digest
from gateway.domain import DatasetRef, parse_uri

SPEC_VERSION = "1.6"
SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
# Characters a URL keeps as they are; anything else (a space in a path) is
# percent-encoded, since the schema wants an IRI reference.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
_REQUIREMENTS_SUFFIXES = (".txt", ".in", ".yaml", ".yml", ".toml", ".lock", ".cfg")


def cyclonedx_document(facts: BomFacts, *, serial: uuid.UUID | None = None) -> dict[str, Any]:
    """The BOM of one version (``serial``: the BOM's serial number, fresh when None)."""
    model, components, dependencies = _version_parts(facts)
    return _bom(model, components, dependencies, facts.generated_at, serial)


def cyclonedx_collection(
    versions: Sequence[BomFacts],
    at: datetime,
    *,
    subject: dict[str, Any] | None = None,
    serial: uuid.UUID | None = None,
) -> dict[str, Any]:
    """One BOM of several versions (a model's, an organisation's inventory): each a
    ``machine-learning-model`` component with what it depends on, every component
    once (two versions trained on one dataset still name it apart, by version).
    ``subject`` (``metadata.component``, e.g. the model) depends on every version."""
    components: dict[str, dict[str, Any]] = {}
    dependencies: dict[str, dict[str, Any]] = {}
    for facts in versions:
        model, parts, needs = _version_parts(facts)
        components[model["bom-ref"]] = model
        for part in parts:
            components.setdefault(part["bom-ref"], part)
        for need in needs:
            if need["ref"] not in dependencies or need.get("dependsOn"):
                dependencies[need["ref"]] = need
    if subject is not None:
        refs = [f.version.uri for f in versions]
        dependencies[subject["bom-ref"]] = {"ref": subject["bom-ref"], "dependsOn": refs}
    return _bom(subject, list(components.values()), list(dependencies.values()), at, serial)


def _bom(
    subject: dict[str, Any] | None,
    components: list[dict[str, Any]],
    dependencies: list[dict[str, Any]],
    at: datetime,
    serial: uuid.UUID | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "tools": {"components": [{"type": "application", "name": "modelgate", "version": __version__}]},
    }
    if subject is not None:
        metadata["component"] = subject
    return {
        "$schema": SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": (serial or uuid.uuid4()).urn,
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    }


def _version_parts(facts: BomFacts) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """A version's model component, the components it depends on, and the dependencies."""
    v = facts.version
    components: list[dict[str, Any]] = []
    depends_on: list[str] = []
    dataset_refs = []
    for index, dataset in enumerate(facts.datasets, start=1):
        ref = f"{v.uri}#dataset-{index}"
        components.append(_dataset(dataset, ref))
        dataset_refs.append(ref)
        depends_on.append(ref)
    if facts.parent:
        components.append(_parent(facts.parent))
        depends_on.append(facts.parent)
    if (code := _code(facts)) is not None:
        components.append(code)
        depends_on.append(code["bom-ref"])
    if (environment := _environment(facts)) is not None:
        components.append(environment)
        depends_on.append(environment["bom-ref"])
    dependencies: list[dict[str, Any]] = [{"ref": v.uri, "dependsOn": depends_on}]
    dependencies += [{"ref": ref} for ref in depends_on]
    return _model(facts, dataset_refs), components, dependencies


def _model(facts: BomFacts, dataset_refs: list[str]) -> dict[str, Any]:
    v = facts.version
    component: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": v.uri,
        "group": v.registry_id,
        "name": v.model_name,
        "version": v.version,
        "supplier": {"name": facts.supplier},
    }
    if facts.description:
        component["description"] = facts.description
    if (digest := parse_digest(v.artifact_digest)) is not None:
        component["hashes"] = [{"alg": digest.algorithm, "content": digest.hex}]
    references = []
    if facts.source_url:
        references.append(
            {"type": "website", "url": _url(facts.source_url), "comment": "the source registry"}
        )
        component["supplier"]["url"] = [_url(facts.source_url)]
    if v.artifact_uri:
        references.append({"type": "distribution", "url": _url(v.artifact_uri), "comment": "the artifact"})
    if references:
        component["externalReferences"] = references
    component["modelCard"] = _model_card(facts, dataset_refs)
    component["properties"] = _properties(facts)
    if v.tags:
        component["tags"] = sorted({f"{k}={val}" if val else k for k, val in v.tags.items()})
    return component


def _model_card(facts: BomFacts, dataset_refs: list[str]) -> dict[str, Any]:
    v = facts.version
    card = v.model_card
    parameters: dict[str, Any] = {}
    if facts.task:
        parameters["task"] = facts.task
    if facts.architecture_family:
        parameters["architectureFamily"] = facts.architecture_family
    if dataset_refs:
        parameters["datasets"] = [{"ref": ref} for ref in dataset_refs]
    if inputs := facts.inputs:
        parameters["inputs"] = [{"format": field.text} for field in inputs]
    model_card: dict[str, Any] = {"bom-ref": f"{v.uri}#model-card"}
    if parameters:
        model_card["modelParameters"] = parameters
    if v.metrics:
        model_card["quantitativeAnalysis"] = {
            "performanceMetrics": [
                {"type": k, "value": metric_text(val)} for k, val in sorted(v.metrics.items())
            ]
        }
    considerations: dict[str, Any] = {}
    if users := v.tags.get("intended_users"):
        considerations["users"] = [users]
    if card.intended_use:
        considerations["useCases"] = [card.intended_use]
    if card.limitations:
        considerations["technicalLimitations"] = [card.limitations]
    if card.warnings:
        considerations["ethicalConsiderations"] = [{"name": card.warnings}]
    if card.bias_assessment:
        # A free-text assessment: what was checked is how the risk is mitigated.
        considerations["fairnessAssessments"] = [{"mitigationStrategy": card.bias_assessment}]
    if considerations:
        model_card["considerations"] = considerations
    card_properties = [
        {"name": f"modelgate:card:{name}", "value": text}
        for name, text in (
            ("summary", card.summary),
            ("trainingData", card.training_data_summary),
            ("evaluation", card.evaluation),
        )
        if text
    ]
    card_properties += [
        {"name": f"modelgate:hyperparameter:{k}", "value": str(val)}
        for k, val in sorted(v.hyperparameters.items())
    ]
    if card_properties:
        model_card["properties"] = card_properties
    return model_card


def _properties(facts: BomFacts) -> list[dict[str, str]]:
    v = facts.version
    found = {
        "modelgate:uri": v.uri,
        "modelgate:registry": v.registry_id,
        "modelgate:registryKind": facts.registry_kind,
        "modelgate:team": facts.team,
        "modelgate:stage": v.stage.value,
        "modelgate:nativeStage": v.native_stage,
        "modelgate:semver": v.semver,
        "modelgate:riskTier": facts.risk_tier,
        "modelgate:artifactDigest": v.artifact_digest,
        "modelgate:preprocessing": v.preprocessing,
        "modelgate:createdBy": v.created_by,
        "modelgate:createdAt": v.created_at.isoformat() if v.created_at else None,
    }
    return [{"name": k, "value": val} for k, val in found.items() if val]


def _dataset(dataset: DatasetRef, ref: str) -> dict[str, Any]:
    name = dataset.name or dataset.uri
    component: dict[str, Any] = {
        "type": "data",
        "bom-ref": ref,
        "name": name,
        "data": [{"type": "dataset", "name": name, "contents": {"url": _url(dataset.uri)}}],
        "externalReferences": [{"type": "distribution", "url": _url(dataset.uri)}],
    }
    if (digest := parse_digest(dataset.digest)) is not None:
        component["hashes"] = [{"alg": digest.algorithm, "content": digest.hex}]
    properties = [
        {"name": "modelgate:dataset:role", "value": dataset.role or "training"},
        {"name": "modelgate:dataset:uri", "value": dataset.uri},
    ]
    if dataset.digest:
        properties.append({"name": "modelgate:dataset:digest", "value": dataset.digest})
    component["properties"] = properties
    return component


def _parent(uri: str) -> dict[str, Any]:
    try:
        parsed = parse_uri(uri)
    except ValueError:  # a registry's own reference the catalogue does not hold
        return {
            "type": "machine-learning-model",
            "bom-ref": uri,
            "name": uri,
            "properties": [{"name": "modelgate:relation", "value": "parent"}],
        }
    return {
        "type": "machine-learning-model",
        "bom-ref": uri,
        "group": parsed.registry_id,
        "name": parsed.model_name,
        **({"version": parsed.version} if parsed.version else {}),
        "properties": [
            {"name": "modelgate:relation", "value": "parent"},
            {"name": "modelgate:uri", "value": uri},
        ],
    }


def _code(facts: BomFacts) -> dict[str, Any] | None:
    code = facts.version.training_code
    if code is None or not (code.repository or code.commit):
        return None
    ref = f"{facts.version.uri}#training-code"
    name = code.path or (
        code.repository.rstrip("/").rsplit("/", 1)[-1] if code.repository else "training code"
    )
    component: dict[str, Any] = {
        "type": "data",
        "bom-ref": ref,
        "name": name,
        "data": [{"type": "source-code", "name": str(code)}],
        "properties": [{"name": "modelgate:relation", "value": "trainingCode"}],
    }
    if code.commit:
        component["version"] = code.commit
    if code.repository:
        component["externalReferences"] = [{"type": "vcs", "url": _url(code.repository)}]
    return component


def _environment(facts: BomFacts) -> dict[str, Any] | None:
    environment = facts.version.environment
    if not environment:
        return None
    requirements = environment.lower().endswith(_REQUIREMENTS_SUFFIXES)
    name, _, tag = environment.rpartition(":") if not requirements and "/" in environment else ("", "", "")
    if "/" in tag:  # a registry port, not a tag
        name, tag = "", ""
    component: dict[str, Any] = {
        "type": "file" if requirements else "container",
        "bom-ref": f"{facts.version.uri}#environment",
        "name": name or environment,
        "properties": [{"name": "modelgate:relation", "value": "environment"}],
    }
    if tag:
        component["version"] = tag
    return component


def _url(text: str) -> str:
    return quote(text.strip(), safe=_URL_SAFE)
