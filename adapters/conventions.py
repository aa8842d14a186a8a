"""The documented metadata conventions every adapter reads (docs/registries/index.md, "Metadata
conventions").

Registries have no field for a semantic version, a model card or a runtime
environment (SageMaker has a model card, MLflow and Vertex have none), so teams
state them in the string maps each registry does have: MLflow version tags,
SageMaker ``CustomerMetadataProperties``, Vertex ``metadata``. One spelling
everywhere:

- ``modelgate.semver``: the semantic version (a leading ``v`` is dropped);
- ``modelgate.environment``: the container image or pinned requirements;
- ``model_card.<field>``: one model card field each (``intended_use`` or
  ``intendedUse``; ``summary``, ``limitations``, ``training_data_summary``,
  ``evaluation``, ``bias_assessment``, ``warnings``, and a few model-card-toolkit
  synonyms such as ``ethical_considerations``);
- ``modelgate.code.repository`` / ``.commit`` / ``.path``: the training code,
  where the registry has no field for it.

Each adapter decides which map it reads and what its registry's own fields
contribute (MLflow run tags and model files, SageMaker ``ModelCard`` and
``MetadataProperties``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gateway.domain import CodeRef, ModelCard

SEMVER_KEY = "modelgate.semver"
ENVIRONMENT_KEY = "modelgate.environment"
MODEL_CARD_PREFIX = "model_card."
CODE_KEYS = ("modelgate.code.repository", "modelgate.code.commit", "modelgate.code.path")
CARD_KEYS = {
    "summary": "summary",
    "description": "summary",
    "intended_use": "intended_use",
    "intendeduse": "intended_use",
    "limitations": "limitations",
    "training_data_summary": "training_data_summary",
    "trainingdatasummary": "training_data_summary",
    "training_data": "training_data_summary",
    "evaluation": "evaluation",
    "bias_assessment": "bias_assessment",
    "biasassessment": "bias_assessment",
    "ethical_considerations": "bias_assessment",
    "warnings": "warnings",
    "caveats": "warnings",
}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def semver_of(values: Mapping[str, Any]) -> str | None:
    text = _text(values.get(SEMVER_KEY))
    return text.removeprefix("v") if text else None


def environment_of(values: Mapping[str, Any]) -> str | None:
    return _text(values.get(ENVIRONMENT_KEY))


def model_card_of(values: Mapping[str, Any]) -> ModelCard:
    """``model_card.<field>`` entries as a model card; unknown fields are ignored
    (they stay in the tags)."""
    fields: dict[str, str] = {}
    for key in sorted(values):
        if not key.startswith(MODEL_CARD_PREFIX) or (text := _text(values[key])) is None:
            continue
        name = CARD_KEYS.get(key[len(MODEL_CARD_PREFIX) :].lower())
        if name and name not in fields:
            fields[name] = text
    return ModelCard(**fields)


def merge_cards(primary: ModelCard, fallback: ModelCard) -> ModelCard:
    """``primary``'s fields, each missing one taken from ``fallback``."""
    return ModelCard(
        **{
            f.name: getattr(primary, f.name) or getattr(fallback, f.name)
            for f in dataclasses.fields(ModelCard)
        }
    )


def code_of(values: Mapping[str, Any]) -> CodeRef | None:
    repository, commit, path = (_text(values.get(k)) for k in CODE_KEYS)
    return CodeRef(repository, commit, path) if repository or commit else None


# Lineage node names for MLflow runs and logged models: one rule for every adapter that
# names them (MLflow's own versions, Unity Catalog's run_id), so their nodes meet.
def mlflow_run_uri(tracking_registry: str, run_id: str) -> str:
    """The lineage node of an MLflow run, named under the registry whose tracking
    server holds it. One rule for every adapter that names MLflow runs (MLflow's
    own versions, Unity Catalog's ``run_id``), so their nodes meet."""
    return f"mlflow-run://{tracking_registry}/{run_id}"


def mlflow_logged_model_uri(tracking_registry: str, model_id: str) -> str:
    """The lineage node of an MLflow 3 LoggedModel (``models:/m-<id>``), by the same rule."""
    return f"mlflow-logged-model://{tracking_registry}/{model_id}"
