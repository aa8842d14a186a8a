"""MLflow's search filter grammar (``gateway.mlflow_api.filters``): what MLflow's
client sends parses into catalogue conditions; anything else is INVALID_PARAMETER_VALUE."""

from __future__ import annotations

import pytest

from gateway.catalogue.query import NameMatch
from gateway.mlflow_api.errors import MlflowApiError
from gateway.mlflow_api.filters import ParsedFilter, parse_filter


def test_empty_filters_have_no_condition() -> None:
    assert parse_filter(None) == ParsedFilter()
    assert parse_filter("   ") == ParsedFilter()


def test_name_comparators_and_quotes() -> None:
    parsed = parse_filter("name = 'platform.adder' AND name LIKE \"fraud%\" and name ilike '%Det%'")
    assert parsed.names == (
        NameMatch("=", "platform.adder"),
        NameMatch("LIKE", "fraud%"),
        NameMatch("ILIKE", "%Det%"),
    )
    assert parse_filter("`name` != 'a.b'").names == (NameMatch("!=", "a.b"),)


def test_values_keep_spaces_keywords_and_other_quotes() -> None:
    assert parse_filter("name = 'a.x AND name = \"y\"'").names == (NameMatch("=", 'a.x AND name = "y"'),)


def test_tags_plain_and_backquoted_keys() -> None:
    parsed = parse_filter("tags.team = 'fraud' AND tags.`cost centre` = '42'")
    assert parsed.tags == (("team", "fraud"), ("cost centre", "42"))


def test_the_prompt_exclusion_mlflows_client_adds() -> None:
    parsed = parse_filter("name LIKE 'a.%' AND tag.`mlflow.prompt.is_prompt` != 'true'")
    assert parsed.tags_not == (("mlflow.prompt.is_prompt", "true"),) and parsed.tags == ()


def test_run_id_equality_and_in_lists_for_versions() -> None:
    parsed = parse_filter("run_id = 'r1' AND run_id IN ('r1', 'r2') AND name = 'p.m'", versions=True)
    assert parsed.run_ids == (frozenset({"r1"}), frozenset({"r1", "r2"}))
    assert parsed.names == (NameMatch("=", "p.m"),)


@pytest.mark.parametrize(
    ("text", "versions", "says"),
    [
        ("name = 'unterminated", False, "unterminated"),
        ("name == 'x'", False, "expected a quoted value"),
        ("name = x", False, "expected a quoted value"),
        ("name 'x'", False, "comparator"),
        ("name = 'a' OR name = 'b'", False, "expected AND"),
        ("name = 'a' AND", False, "expected a key at the end"),
        ("description = 'x'", False, "unsupported key"),
        ("run_id = 'r'", False, "unsupported key"),  # not a registered model's attribute
        ("tags.t LIKE 'x%'", False, "not supported for 'tags.t'"),
        ("tagz.t = 'x'", False, "unsupported key"),
        ("name IN ('a')", False, "not supported for 'name'"),
        ("run_id IN 'r'", True, "parenthesised list"),
        ("run_id IN ('a' 'b')", True, "expected , or )"),
        ("run_id IN ('a',", True, "at the end"),
        ("name = 'a' ; drop", False, "unexpected character ';'"),
        ("tags. = 'x'", False, "unsupported key"),
    ],
)
def test_bad_filters_are_invalid_parameter_values(text: str, versions: bool, says: str) -> None:
    with pytest.raises(MlflowApiError) as raised:
        parse_filter(text, versions=versions)
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE" and raised.value.status == 400
    assert says in raised.value.message, raised.value.message
