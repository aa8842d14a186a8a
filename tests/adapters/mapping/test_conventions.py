"""``adapters.conventions``: the metadata conventions every adapter reads."""

from __future__ import annotations

from adapters.conventions import (
    code_of,
    environment_of,
    merge_cards,
    mlflow_logged_model_uri,
    mlflow_run_uri,
    model_card_of,
    semver_of,
)
from gateway.domain import CodeRef, ModelCard


def test_semver_drops_a_leading_v_and_blank_values_are_absent() -> None:
    assert semver_of({"modelgate.semver": " v1.2.3 "}) == "1.2.3"
    assert semver_of({"modelgate.semver": "  "}) is None and semver_of({"modelgate.semver": 3}) is None
    assert environment_of({"modelgate.environment": "ghcr.io/acme/img:1"}) == "ghcr.io/acme/img:1"


def test_model_card_fields_take_any_spelling_and_the_first_synonym_wins() -> None:
    card = model_card_of(
        {
            "model_card.intendedUse": "scoring",
            "model_card.caveats": "beta",
            "model_card.bias_assessment": "checked",
            "model_card.ethical_considerations": "later synonym",
            "model_card.colour": "ignored",
            "model_card.summary": "   ",
            "other": "x",
        }
    )
    assert card == ModelCard(intended_use="scoring", warnings="beta", bias_assessment="checked")


def test_merged_cards_fill_gaps_from_the_fallback() -> None:
    merged = merge_cards(ModelCard(summary="mine"), ModelCard(summary="theirs", limitations="few"))
    assert (merged.summary, merged.limitations) == ("mine", "few")


def test_code_needs_a_repository_or_a_commit() -> None:
    assert code_of({"modelgate.code.commit": "abc", "modelgate.code.path": "train.py"}) == CodeRef(
        None, "abc", "train.py"
    )
    assert code_of({"modelgate.code.path": "train.py"}) is None


def test_mlflow_nodes_are_named_under_the_tracking_registry() -> None:
    assert mlflow_run_uri("mlf", "r1") == "mlflow-run://mlf/r1"
    assert mlflow_logged_model_uri("mlf", "m-9") == "mlflow-logged-model://mlf/m-9"
