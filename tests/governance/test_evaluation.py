"""What a rule sees and how versions are judged: the activation README "Governance" documents,
fail-closed errors, severities and scopes, and every kind of rule the issue
asks to be expressible."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.codec import version_to_dict
from gateway.domain import CodeRef, DatasetRef, ModelCard, ModelVersion, Stage
from gateway.governance.evaluation import FIELDS, Subject, build_activation, referenced_fields
from gateway.governance.evaluator import Evaluator
from gateway.governance.policies import parse_policies


def record(**fields: Any) -> dict[str, Any]:
    return version_to_dict(ModelVersion(registry_id="reg", model_name="m", version="2", **fields))


def judge(rule: str, rec: dict[str, Any], *, previous: dict[str, Any] | None = None, severity: str = "error"):
    ps = parse_policies(f"policies:\n  - id: p\n    rule: {json.dumps(rule)}\n    severity: {severity}\n")
    return Evaluator(ps).evaluate(Subject(rec, "team-a", previous))


def test_every_field_is_present_with_empty_defaults() -> None:
    act = build_activation(Subject(record(), None))
    assert set(act) == FIELDS
    assert act["semver"] is None and act["parent"] is None  # the only nulls
    assert act["description"] == "" and act["trainingCode"] == "" and act["team"] == ""
    assert act["metrics"] == {} and act["hyperparameters"] == {} and act["tags"] == {}
    assert act["trainingData"] == [] and act["deployments"] == [] and act["aliases"] == []
    assert act["modelCard"] == dict.fromkeys(
        [
            "summary",
            "intendedUse",
            "limitations",
            "trainingDataSummary",
            "evaluation",
            "biasAssessment",
            "warnings",
        ],
        "",
    )
    assert act["uri"] == "mg://reg/m/2" and act["registry"] == "reg" and act["stage"] == "DRAFT"
    assert act["previous"]["exists"] is False and act["semverMajor"] == -1


def test_values_use_graphql_names_and_types() -> None:
    rec = record(
        semver="2.1.0",
        metrics={"auc": 1},  # an int metric still reads as a double
        hyperparameters={"depth": "8"},
        model_card=ModelCard(intended_use="scoring"),
        training_code=CodeRef("https://git/x", "abc"),
        training_data=(DatasetRef("s3://d", role="training"),),
        native={"input_signature": '[{"name": "x", "type": "double"}]'},
    )
    act = build_activation(Subject(rec, "fraud", None, Stage.PRODUCTION))
    assert act["metrics"] == {"auc": 1.0} and isinstance(act["metrics"]["auc"], float)
    assert act["modelCard"]["intendedUse"] == "scoring"
    assert act["trainingCode"] == "https://git/x@abc"
    assert act["trainingData"] == [{"uri": "s3://d", "name": "", "digest": "", "role": "training"}]
    assert act["stage"] == "PRODUCTION" and act["team"] == "fraud"
    assert (act["semverMajor"], act["semverMinor"], act["semverPatch"]) == (2, 1, 0)
    assert act["inputSignature"] == '[{"name":"x","type":"double"}]'  # canonical JSON


def test_a_rule_that_errors_is_a_violation_with_the_cel_error() -> None:
    result = judge('version.metrics["auc"] >= 0.8', record())  # no auc at all
    assert not result.compliant
    (v,) = result.violations
    assert v.policy == "p" and "rule failed to evaluate" in v.message and "auc" in v.message


def test_a_rule_that_is_not_a_bool_is_a_violation() -> None:
    (v,) = judge("version.uri", record()).violations
    assert "must evaluate to a bool" in v.message


def test_warnings_are_reported_but_keep_the_version_compliant() -> None:
    result = judge('version.description != ""', record(), severity="warning")
    assert result.compliant and [v.severity for v in result.violations] == ["warning"]


def test_scopes_select_by_stage_team_and_registry() -> None:
    ps = parse_policies(
        """
policies:
  - {id: prod, scope: {stages: [PRODUCTION]}, rule: 'false'}
  - {id: fraud, scope: {teams: [fraud]}, rule: 'false'}
  - {id: reg, scope: {registries: [reg]}, rule: 'false'}
  - {id: both, scope: {stages: [STAGING], teams: [fraud]}, rule: 'false'}
"""
    )
    ev = Evaluator(ps)

    def ids(stage: Stage, team: str | None) -> list[str]:
        return [v.policy for v in ev.evaluate(Subject(record(stage=stage), team)).violations]

    assert ids(Stage.PRODUCTION, "fraud") == ["prod", "fraud", "reg"]
    assert ids(Stage.STAGING, "fraud") == ["fraud", "reg", "both"]
    assert ids(Stage.DRAFT, "ads") == ["reg"]


CARD = 'version.modelCard.intendedUse != "" && version.modelCard.limitations != "" && version.modelCard.evaluation != ""'
SEMVER_BUMP = (
    '!version.previous.exists || version.inputSignature == "" || version.previous.inputSignature == "" || '
    "version.inputSignature == version.previous.inputSignature || version.semverMajor > version.previous.semverMajor"
)


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        (CARD, record(model_card=ModelCard(intended_use="u", limitations="l", evaluation="e")), record()),
        (
            'version.trainingData.exists(d, d.role == "training")',
            record(training_data=(DatasetRef("s3://t", role="training"),)),
            record(training_data=(DatasetRef("s3://v", role="validation"),)),
        ),
        ('version.trainingCode != ""', record(training_code=CodeRef(commit="abc")), record()),
        (
            '!("auc" in version.metrics) || version.metrics["auc"] >= 0.8',
            record(metrics={"auc": 0.85}),
            record(metrics={"auc": 0.7}),
        ),
        ("version.semver != null", record(semver="1.0.0"), record()),
    ],
    ids=["model-card", "training-data", "code-reference", "metric-threshold", "semver-present"],
)
def test_the_rules_the_issue_names_are_expressible(rule: str, good: dict, bad: dict) -> None:
    assert judge(rule, good).compliant
    assert not judge(rule, bad).compliant


def test_a_changed_input_signature_needs_a_new_major_version() -> None:
    def version(semver: str, signature: str | None) -> dict[str, Any]:
        return record(semver=semver, native={"input_signature": signature} if signature else {})

    previous = version("1.4.0", '{"inputs": ["a", "b"]}')
    assert judge(SEMVER_BUMP, version("1.5.0", '{"inputs": ["a", "b"]}'), previous=previous).compliant
    assert not judge(
        SEMVER_BUMP, version("1.5.0", '{"inputs": ["a", "b", "c"]}'), previous=previous
    ).compliant
    assert judge(SEMVER_BUMP, version("2.0.0", '{"inputs": ["a", "b", "c"]}'), previous=previous).compliant
    assert judge(SEMVER_BUMP, version("1.5.0", None), previous=previous).compliant  # nothing recorded
    assert judge(SEMVER_BUMP, version("1.0.0", '{"x": 1}')).compliant  # the first version


def test_referenced_fields_are_conservative() -> None:
    assert referenced_fields('version.metrics["auc"] > 1 && has(version.semver)') == {
        "metrics": None,
        "semver": None,
    }
    # Of fixed-key maps, only the keys named; a map used whole is given whole.
    assert referenced_fields('version["modelCard"].summary != "" && version.previous.exists') == {
        "modelCard": {"summary"},
        "previous": {"exists"},
    }
    assert referenced_fields("size(version.modelCard) == 7 && version.modelCard.summary == ''") == {
        "modelCard": None
    }
    assert referenced_fields("[version].size() == 1") is None  # passed whole: give it everything
    assert referenced_fields('"version" == "x"') is None  # the word inside a string: play safe
    assert referenced_fields("true") == {}
