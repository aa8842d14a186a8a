"""``gateway.governance.tiers``: a model's tier from the rules (first match in
file order, a rule-less tier matching every model, a failing rule not
matching) and the checks on the ``tiers`` key."""

from __future__ import annotations

import re

import pytest

from gateway.config import ConfigError
from gateway.domain import Model
from gateway.governance.tiers import NO_TIERS, parse_tiers

NAME = re.compile(r"^[A-Za-z0-9._-]+$")
TIERS = [
    {"name": "high", "rule": 'model.tags["risk"] == "high"', "review_every_days": 90, "grace_days": 14},
    {"name": "team", "rule": 'model.team == "fraud" || model.registry == "prod"', "review_every_days": 180},
    {"name": "minimal"},
]


def test_the_first_tier_whose_rule_holds_is_the_models() -> None:
    tiers = parse_tiers(TIERS, "p.yaml", NAME)
    assert tiers.names == ("high", "team", "minimal")
    assert tiers.by_rule(Model("r", "m", team="fraud", tags={"risk": "high"})) == "high"  # file order
    assert tiers.by_rule(Model("r", "m", team="fraud")) == "team"
    assert tiers.by_rule(Model("prod", "m")) == "team"
    # No "risk" tag: the first rule fails to evaluate, which is "does not hold".
    assert tiers.by_rule(Model("r", "m")) == "minimal"
    high = tiers.get("high")
    assert high is not None and (high.review_every_days, high.grace_days) == (90, 14)
    assert tiers.get("nothing") is None


def test_without_a_default_a_model_may_have_no_tier() -> None:
    tiers = parse_tiers(TIERS[:1], None, NAME)
    assert tiers.by_rule(Model("r", "m")) is None
    assert NO_TIERS.by_rule(Model("r", "m", tags={"risk": "high"})) is None
    assert parse_tiers(None, None, NAME) is NO_TIERS


@pytest.mark.parametrize(
    ("raw", "key", "words"),
    [
        ({"name": "x"}, "tiers", "expected a list"),
        ([{"name": "bad name"}], "tiers[0].name", "expected a tier name"),
        ([{"name": "a"}, {"name": "b", "rule": "true"}], "tiers[1].name", "no rule"),
        ([{"name": "a", "rule": "true"}, {"name": "a"}], "tiers[1].name", "duplicate tier 'a'"),
        ([{"name": "a", "rule": "model.("}], "tiers[0].rule", "invalid CEL"),
        ([{"name": "a", "rule": "modle.name == 'x'"}], "tiers[0].rule", "CEL error"),
        ([{"name": "a", "rule": "  "}], "tiers[0].rule", "expected a CEL rule"),
        ([{"name": "a", "review_every_days": -1}], "tiers[0].review_every_days", "whole number"),
        ([{"name": "a", "grace_days": True}], "tiers[0].grace_days", "whole number"),
        ([{"name": "a", "color": "red"}], "tiers[0].color", "unknown key"),
    ],
)
def test_a_bad_tiers_key_names_where(raw: object, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tiers(raw, "p.yaml", NAME)
    assert caught.value.key == key and words in str(caught.value)
