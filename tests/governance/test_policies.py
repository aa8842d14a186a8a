"""The policy file: valid files compile; every mistake names the entry, the
policy id and (for a rule) the CEL error, and nothing starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError
from gateway.domain import Stage
from gateway.governance.policies import load_policies, parse_policies, policies_for
from gateway.runtime import Gateway, validate_settings
from tests.governance.conftest import POLICIES, write_policies
from tests.support import make_settings

REPO = Path(__file__).resolve().parents[2]


def test_a_valid_file_compiles_with_scopes_severities_and_approvals() -> None:
    ps = parse_policies(POLICIES, "p.yaml")
    assert [p.id for p in ps.policies] == ["card-complete", "training-data", "min-auc"]
    card = ps.policy("card-complete")
    assert card is not None and card.severity == "error" and card.scope.stages == {"PRODUCTION"}
    # The activation is built from what the rule reads: two keys of the card.
    assert card.fields == {"modelCard": {"intendedUse", "limitations"}}
    assert ps.policy("min-auc").severity == "warning"  # type: ignore[union-attr]
    assert ps.required_approvals(Stage.PRODUCTION, "platform", "platform") == (
        "TEAM_LEAD",
        "LEGAL",
        "SECURITY",
    )
    assert ps.required_approvals(Stage.STAGING, "x", "y") == ("TEAM_LEAD",)
    assert ps.required_approvals(Stage.ARCHIVED, "x", "y") == ()
    assert ps.retention[0].keep_last == 1 and ps.retention[0].scope.stages == {"DRAFT", "STAGING"}
    assert len(ps.digest) == 64


def test_the_shipped_policy_file_is_valid() -> None:
    ps = load_policies(REPO / "config" / "policies.yaml")
    assert len(ps.policies) >= 8
    assert ps.required_approvals(Stage.PRODUCTION, "t", "r") == ("TEAM_LEAD", "LEGAL", "SECURITY")
    assert ps.retention
    # Leaving production is governed: archiving or demoting a PRODUCTION version needs a team lead.
    assert ps.required_approvals(Stage.ARCHIVED, "t", "r", Stage.PRODUCTION) == ("TEAM_LEAD",)
    assert ps.required_approvals(Stage.DRAFT, "t", "r", Stage.PRODUCTION) == ("TEAM_LEAD",)
    assert ps.required_approvals(Stage.ARCHIVED, "t", "r", Stage.STAGING) == ()


def test_promotion_rules_match_on_from_and_to() -> None:
    ps = parse_policies(
        """
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD, LEGAL]
  - from: PRODUCTION
    approvals: [TEAM_LEAD]
  - from: PRODUCTION
    to: ARCHIVED
    approvals: [RECORDS]
  - from: STAGING
    scope: { teams: [fraud] }
    approvals: [QA]
"""
    )
    assert ps.required_approvals(Stage.ARCHIVED, "t", "r", Stage.PRODUCTION) == ("TEAM_LEAD", "RECORDS")
    assert ps.required_approvals(Stage.STAGING, "t", "r", Stage.PRODUCTION) == ("TEAM_LEAD",)
    assert ps.required_approvals(Stage.ARCHIVED, "t", "r", Stage.DRAFT) == ()
    assert ps.required_approvals(Stage.PRODUCTION, "fraud", "r", Stage.STAGING) == (
        "TEAM_LEAD",
        "LEGAL",
        "QA",
    )
    assert ps.required_approvals(Stage.PRODUCTION, "ads", "r", Stage.STAGING) == ("TEAM_LEAD", "LEGAL")
    # Without the source stage, only rules that name no "from" apply (as before).
    assert ps.required_approvals(Stage.ARCHIVED, "t", "r") == ()
    assert ps.summary()["promotions"][2] == {
        "from": "PRODUCTION",
        "to": "ARCHIVED",
        "approvals": ["RECORDS"],
        "scope": {},
    }


def _bad(rule: str, **extra: str) -> str:
    fields = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    return f"policies:\n  - id: ok-one\n    rule: 'true'\n  - id: broken-rule\n    rule: {rule!r}\n{fields}"


@pytest.mark.parametrize(
    ("text", "key", "needle"),
    [
        (_bad('version.metrics["auc" >= 0.8'), "policies[1].rule", "Syntax error"),
        (_bad("version.modelcard.limitations != ''"), "policies[1].rule", "no field 'modelcard'"),
        (_bad("semverMajor(version) > 1"), "policies[1].rule", "Undefined variable or function"),
        (
            _bad("version.modelCard.intendeduse != ''"),
            "policies[1].rule",
            "modelCard has no field 'intendeduse'",
        ),
        (_bad("true", severity="fatal"), "policies[1].severity", "must be error or warning"),
        (_bad("true", scope="{stages: [PROD]}"), "policies[1].scope.stages", "unknown stage 'PROD'"),
        (_bad("true", colour="red"), "policies[1].colour", "unknown key"),
        (
            "policies:\n  - id: a\n    rule: 'true'\n  - id: a\n    rule: 'true'\n",
            "policies[1].id",
            "duplicate",
        ),
        ("promotions:\n  - to: LIVE\n    approvals: [X]\n", "promotions[0].to", "expected a stage"),
        ("promotions:\n  - from: LIVE\n    approvals: [X]\n", "promotions[0].from", "expected a stage"),
        ("promotions:\n  - approvals: [X]\n", "promotions[0].to", "enters (to), leaves (from)"),
        (
            "promotions:\n  - from: STAGING\n    to: STAGING\n    approvals: [X]\n",
            "promotions[0].from",
            "not a move",
        ),
        ("retention:\n  - id: r\n    keep_last: 2\n", "retention[0].older_than_days", "is required"),
        ("policies: [\n", "(syntax)", "invalid YAML"),
    ],
)
def test_mistakes_name_the_entry_the_policy_and_the_problem(text: str, key: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policies(text, "bad.yaml")
    err = caught.value
    assert err.key == key
    assert needle in err.problem
    assert err.file == "bad.yaml"
    if key.startswith("policies[1].rule"):
        assert "'broken-rule'" in err.problem  # the policy id


def test_a_scope_naming_an_unknown_registry_is_a_config_error(tmp_path: Path) -> None:
    path = write_policies(
        tmp_path, "policies:\n  - id: p\n    scope: {registries: [nope]}\n    rule: 'true'\n"
    )
    settings = make_settings(f"sqlite:///{tmp_path}/db", tmp_path, governance={"policies": str(path)})
    with pytest.raises(ConfigError, match="unknown registry 'nope'"):
        policies_for(settings)


async def test_a_bad_policy_file_stops_the_gateway_before_anything_starts(tmp_path: Path) -> None:
    path = write_policies(tmp_path, _bad("version.metrics[ >"))
    db = tmp_path / "never.db"
    settings = make_settings(f"sqlite:///{db}", tmp_path, governance={"policies": str(path)})
    with pytest.raises(ConfigError) as caught:
        validate_settings(settings)
    assert "broken-rule" in str(caught.value) and "Syntax error" in str(caught.value)
    with pytest.raises(ConfigError):
        await Gateway.open(settings)
    assert not db.exists()  # no database was even created


def test_a_missing_policy_file_is_a_config_error(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/db", tmp_path, governance={"policies": str(tmp_path / "missing.yaml")}
    )
    with pytest.raises(ConfigError, match="does not exist"):
        policies_for(settings)
