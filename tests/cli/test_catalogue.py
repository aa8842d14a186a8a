"""``gateway.cli.catalogue``: ``search``, ``show`` and ``sync`` with their exit codes."""

from __future__ import annotations

import json

import pytest

from gateway.cli import catalogue
from gateway.config import Settings
from tests.cli.conftest import parse


def test_search_finds_models_and_versions_as_json(
    demo_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert catalogue.run(parse("search", "fraud", "--json"), demo_settings) == catalogue.EXIT_OK
    found = json.loads(capsys.readouterr().out)
    (model,) = [m for m in found["models"] if m["uri"] == "mg://platform/fraud-detector"]
    assert [v["stage"] for v in model["production_versions"]] == ["PRODUCTION"]
    assert (
        catalogue.run(
            parse("search", "--versions", "--stage", "PRODUCTION", "--registry", "platform", "--json"),
            demo_settings,
        )
        == 0
    )
    versions = json.loads(capsys.readouterr().out)["versions"]
    assert versions and {v["stage"] for v in versions} == {"PRODUCTION"}
    assert {v["registry_id"] for v in versions} == {"platform"}


def test_search_limits_are_usage_errors(demo_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert catalogue.run(parse("search", "--limit", "0"), demo_settings) == catalogue.EXIT_USAGE
    assert "--limit" in capsys.readouterr().err


def test_show_a_model_a_version_and_what_is_absent(
    demo_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert catalogue.run(parse("show", "mg://platform/fraud-detector", "--json"), demo_settings) == 0
    model = json.loads(capsys.readouterr().out)
    assert model["uri"] == "mg://platform/fraud-detector" and len(model["versions"]) >= 2
    assert catalogue.run(parse("show", "mg://platform/fraud-detector/1"), demo_settings) == 0
    assert "mg://platform/fraud-detector/1" in capsys.readouterr().out
    assert catalogue.run(parse("show", "mg://platform/nothing/1"), demo_settings) == catalogue.EXIT_FAILED
    assert "not in the catalogue" in capsys.readouterr().err
    assert catalogue.run(parse("show", "not-a-uri"), demo_settings) == catalogue.EXIT_USAGE


def test_sync_reports_each_registry_and_refuses_unknown_allowances(
    demo_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert catalogue.run(parse("sync", "--full", "--json"), demo_settings) == catalogue.EXIT_OK
    out = capsys.readouterr().out
    assert "platform" in out and "research" in out
    assert catalogue.run(parse("sync", "--allow-removals", "nowhere"), demo_settings) == catalogue.EXIT_USAGE
    assert "'nowhere'" in capsys.readouterr().err
