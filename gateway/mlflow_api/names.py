"""MLflow model names over the federation, and MLflow's legacy stage words.

An MLflow model name is ``<registry-id>.<model-name>``: registry ids hold no dot,
so the first dot splits it (a model's own name may hold dots)."""

from __future__ import annotations

from gateway.domain import Stage, model_uri, version_uri
from gateway.mlflow_api.errors import MlflowApiError, invalid

# The unified stage in MLflow's legacy vocabulary (``current_stage``).
MLFLOW_STAGE = {
    Stage.DRAFT: "None",
    Stage.STAGING: "Staging",
    Stage.PRODUCTION: "Production",
    Stage.ARCHIVED: "Archived",
}
_STAGE_OF_WORD = {word.lower(): stage for stage, word in MLFLOW_STAGE.items()}
# Aliases that stand for a unified stage: setting one is a promotion.
STAGE_ALIASES = {"production": Stage.PRODUCTION, "staging": Stage.STAGING}


def mlflow_name(registry_id: str, model_name: str) -> str:
    return f"{registry_id}.{model_name}"


def split_name(name: str | None) -> tuple[str, str]:
    """(registry id, model name) of an MLflow name; a name without a registry part is
    ``RESOURCE_DOES_NOT_EXIST`` (no such model can exist), an empty one invalid."""
    if not name:
        raise invalid("Missing value for required parameter 'name'.")
    registry_id, dot, model = name.partition(".")
    if not dot or not registry_id or not model:
        raise MlflowApiError(
            "RESOURCE_DOES_NOT_EXIST",
            f"Registered Model with name={name} not found (names are <registry-id>.<model-name>)",
        )
    return registry_id, model


def model_uri_of(name: str | None) -> str:
    return model_uri(*split_name(name))


def version_uri_of(name: str | None, version: str | None) -> str:
    if not version:
        raise invalid("Missing value for required parameter 'version'.")
    return version_uri(*split_name(name), version)


def stage_of_word(word: str) -> Stage:
    """MLflow's stage word (any case) as the unified stage; INVALID_PARAMETER_VALUE else."""
    stage = _STAGE_OF_WORD.get(word.strip().lower())
    if stage is None:
        allowed = ", ".join(MLFLOW_STAGE.values())
        raise invalid(f"Invalid Model Version stage: {word}. Value must be one of {allowed}.")
    return stage
