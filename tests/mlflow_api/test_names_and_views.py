"""``gateway.mlflow_api.names`` and ``views``: federation names, MLflow's stage words
and the JSON MLflow's client reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain import Model, ModelVersion, Stage
from gateway.mlflow_api.errors import MlflowApiError
from gateway.mlflow_api.names import mlflow_name, model_uri_of, split_name, stage_of_word, version_uri_of
from gateway.mlflow_api.views import millis, model_aliases, model_version, registered_model, version_aliases

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_first_dot_splits_a_name_and_a_model_may_hold_dots() -> None:
    assert split_name("prod.team.churn.v2") == ("prod", "team.churn.v2")
    assert mlflow_name("prod", "team.churn") == "prod.team.churn"
    assert model_uri_of("prod.churn") == "mg://prod/churn"
    assert version_uri_of("prod.churn", "3") == "mg://prod/churn/3"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        (None, "INVALID_PARAMETER_VALUE"),
        ("", "INVALID_PARAMETER_VALUE"),
        ("churn", "RESOURCE_DOES_NOT_EXIST"),
        (".churn", "RESOURCE_DOES_NOT_EXIST"),
        ("prod.", "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_a_name_without_both_parts_is_refused(name: str | None, code: str) -> None:
    with pytest.raises(MlflowApiError) as refused:
        split_name(name)
    assert refused.value.as_body()["error_code"] == code


def test_a_version_uri_needs_a_version() -> None:
    with pytest.raises(MlflowApiError) as refused:
        version_uri_of("prod.churn", "")
    assert "'version'" in refused.value.as_body()["message"]


def test_stage_words_are_read_in_any_case_and_others_refused() -> None:
    assert stage_of_word(" production ") is Stage.PRODUCTION and stage_of_word("None") is Stage.DRAFT
    with pytest.raises(MlflowApiError) as refused:
        stage_of_word("Canary")
    assert refused.value.as_body()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "None, Staging, Production, Archived" in refused.value.as_body()["message"]


def test_a_version_reads_as_mlflow_writes_it_without_unset_fields() -> None:
    version = ModelVersion(
        "prod",
        "churn",
        "3",
        stage=Stage.PRODUCTION,
        aliases=("champion", "production"),
        artifact_uri="s3://b/churn/3",
        created_at=AT,
        tags={"b": "2", "a": "1"},
        native={"run_id": "r1"},
    )
    body = model_version(version)
    assert body["name"] == "prod.churn" and body["current_stage"] == "Production"
    assert body["creation_timestamp"] == body["last_updated_timestamp"] == millis(AT) == 1767323045000
    assert body["aliases"] == ["production", "champion"]  # the stage's alias first, once
    assert body["tags"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    assert body["run_id"] == "r1" and "description" not in body and "user_id" not in body
    assert "run_id" not in model_version(ModelVersion("prod", "churn", "1"))


def test_an_alias_belongs_to_the_first_version_that_holds_it() -> None:
    newest = ModelVersion("prod", "churn", "4", stage=Stage.STAGING, aliases=("latest",))
    older = ModelVersion("prod", "churn", "3", stage=Stage.STAGING, aliases=("latest", "old"))
    assert version_aliases(older) == ["staging", "latest", "old"]
    assert model_aliases([newest, older]) == [
        {"alias": "latest", "version": "4"},
        {"alias": "old", "version": "3"},
        {"alias": "staging", "version": "4"},
    ]
    model = registered_model(Model("prod", "churn", created_at=AT), [newest], [newest, older])
    assert model["name"] == "prod.churn" and [v["version"] for v in model["latest_versions"]] == ["4"]
    assert millis(None) is None
