"""SageMaker adapter options and the stage mapping: pure code, no server at all
(``factory.validate`` must never touch the network)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.sagemaker import StageMapping, factory, parse_options
from adapters.sagemaker.mapping import model_card_from_content, parent_from_source_uri
from adapters.sagemaker.options import SageMakerOptions, StageWrite
from gateway.config import ConfigError, RegistrySettings, settings_from_mapping
from gateway.domain import ModelCard, Stage


def settings(**options: Any) -> RegistrySettings:
    return RegistrySettings(id="sm", kind="sagemaker", options=options, key="registries[1]")


def test_a_config_file_entry_validates_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A [[registries]] table as the README shows it; no credentials exist and none are needed."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    loaded = settings_from_mapping(
        {
            "registries": [
                {"id": "platform", "kind": "native"},
                {
                    "id": "ads-sagemaker",
                    "kind": "sagemaker",
                    "team": "ads",
                    "region": "us-east-1",
                    "endpoint_url": "http://127.0.0.1:5000",
                    "stage_source": "approval",
                    "lifecycle_stages": {"QA": "STAGING", "Production/Approved": "PRODUCTION"},
                },
            ]
        },
        environ={},
    )
    registry = loaded.registries[1]
    factory.validate(registry)
    options = parse_options(registry)
    assert options.region == "us-east-1" and options.stage_source == "approval"
    assert options.approval_stages["Approved"] == "PRODUCTION"  # defaults stay when not overridden
    adapter = factory.create(registry, context=None)  # type: ignore[arg-type]
    assert adapter.calls._client is None  # no client (and no credential lookup) until the first call
    assert (adapter.registry_id, adapter.team, adapter.kind) == ("ads-sagemaker", "ads", "sagemaker")


@pytest.mark.parametrize(
    ("options", "key", "problem"),
    [
        ({}, "registries[1].region", "is required"),
        ({"region": ""}, "registries[1].region", "must not be empty"),
        ({"region": "x", "endpoint_url": "localhost:5000"}, "registries[1].endpoint_url", "http"),
        ({"region": "x", "stage_source": "tags"}, "registries[1].stage_source", "approval, lifecycle, both"),
        (
            {"region": "x", "approval_stages": {"Approved": "LIVE"}},
            "registries[1].approval_stages.Approved",
            "LIVE",
        ),
        (
            {"region": "x", "approval_stages": {"Pending": "DRAFT"}},
            "registries[1].approval_stages.Pending",
            "approval",
        ),
        (
            {"region": "x", "lifecycle_stages": {"Pre Prod": "STAGING"}},
            "registries[1].lifecycle_stages.Pre Prod",
            "dash",
        ),
        (
            {"region": "x", "lifecycle_stage_status": "in_progress"},
            "registries[1].lifecycle_stage_status",
            "dash",
        ),
        ({"region": "x", "timeout_seconds": 0}, "registries[1].timeout_seconds", "greater than 0"),
        ({"region": "x", "max_attempts": 0}, "registries[1].max_attempts", "at least 1"),
        ({"region": "x", "lineage_max_depth": 11}, "registries[1].lineage_max_depth", "10"),
        ({"region": "x", "secret_key": "x"}, "registries[1].secret_key", "unknown key"),
        ({"region": 3}, "registries[1].region", "expected a string"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        factory.validate(settings(**options))
    assert caught.value.key == key
    assert problem in caught.value.problem


def mapping(**options: Any) -> StageMapping:
    return StageMapping(SageMakerOptions(region="x", **options))


def life(stage: str, status: str = "Approved") -> dict[str, str]:
    return {"Stage": stage, "StageStatus": status}


@pytest.mark.parametrize(
    ("target", "approval", "lifecycle", "expected"),
    [
        # DESIGN.md's table with stage_source = both
        (Stage.PRODUCTION, "PendingManualApproval", None, StageWrite("Approved", "Production", "Approved")),
        (Stage.STAGING, "PendingManualApproval", None, StageWrite(None, "Staging", "Approved")),
        (Stage.STAGING, "Approved", life("Production"), StageWrite(None, "Staging", "Approved")),
        (Stage.ARCHIVED, "Approved", life("Production"), StageWrite("Rejected", "Archived", "Approved")),
        (Stage.DRAFT, "Rejected", None, StageWrite("PendingManualApproval")),
        (Stage.PRODUCTION, "Approved", life("Production"), StageWrite()),  # already there: no write
    ],
)
def test_plans_for_both_words(target: Stage, approval: str, lifecycle: Any, expected: StageWrite) -> None:
    assert mapping().plan(target, approval, lifecycle) == expected


def test_approval_only_mapping_cannot_express_staging() -> None:
    with pytest.raises(ValueError, match="cannot express STAGING"):
        mapping(stage_source="approval").plan(Stage.STAGING, "PendingManualApproval", None)
    plan = mapping(stage_source="approval").plan(Stage.PRODUCTION, "PendingManualApproval", life("Staging"))
    assert plan == StageWrite("Approved")  # the lifecycle is not this mapping's business


def test_lifecycle_only_mapping_writes_the_lifecycle() -> None:
    m = mapping(stage_source="lifecycle", lifecycle_stages={"Prod": "PRODUCTION", "Dev": "DRAFT"})
    assert m.plan(Stage.PRODUCTION, "Rejected", None) == StageWrite(None, "Prod", "Approved")
    assert m.read("Approved", None) is Stage.DRAFT
    with pytest.raises(ValueError, match="cannot express ARCHIVED"):
        m.plan(Stage.ARCHIVED, "Approved", life("Dev"))


def test_a_stage_and_status_key_is_written_with_its_status() -> None:
    m = mapping(lifecycle_stages={"Production/Live": "PRODUCTION", "Production": "STAGING"})
    assert m.read(None, life("Production", "Live")) is Stage.PRODUCTION
    assert m.read(None, life("Production", "PendingApproval")) is Stage.STAGING
    assert m.plan(Stage.PRODUCTION, "Approved", life("Production", "PendingApproval")) == StageWrite(
        None, "Production", "Live"
    )


def test_native_words() -> None:
    assert StageMapping.native_words("Approved", life("Staging")) == "Approved/Staging"
    assert StageMapping.native_words("Rejected", None) == "Rejected"


def test_model_card_content_that_is_not_json_is_kept_as_summary() -> None:
    assert model_card_from_content("plain words") == ModelCard(summary="plain words")
    assert model_card_from_content("[1, 2]") == ModelCard()
    assert model_card_from_content(None).is_empty()
    low_risk = model_card_from_content('{"intended_uses": {"risk_rating": "Low"}}')
    assert low_risk.warnings is None


def test_only_a_model_package_source_uri_is_a_parent() -> None:
    assert parent_from_source_uri("arn:aws:sagemaker:us-east-1:123456789012:model-package/base/3")
    assert parent_from_source_uri("arn:aws:sagemaker:us-east-1:123456789012:model/m-1") is None
    assert parent_from_source_uri("s3://bucket/model.tar.gz") is None


def test_a_credentials_file_replaces_the_whole_chain(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Static keys from ``credentials_file`` (its ``profile`` section) win over
    whatever the environment holds: a local emulator never sees a user's keys."""
    from adapters.sagemaker.api import make_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-FROM-THE-ENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-the-environment")
    path = tmp_path / "credentials"
    path.write_text(
        "[default]\naws_access_key_id = from-default\naws_secret_access_key = s1\n"
        "[demo]\naws_access_key_id = from-demo\naws_secret_access_key = s2\naws_session_token = t2\n"
    )
    options = parse_options(settings(region="us-east-1", credentials_file=str(path)))
    # botocore keeps the resolved keys on the signer; no public accessor exists.
    signed = make_client(options)._request_signer._credentials
    assert (signed.access_key, signed.secret_key, signed.token) == ("from-default", "s1", None)
    demo = parse_options(settings(region="us-east-1", credentials_file=str(path), profile="demo"))
    signed = make_client(demo)._request_signer._credentials
    assert (signed.access_key, signed.secret_key, signed.token) == ("from-demo", "s2", "t2")


@pytest.mark.parametrize(
    ("content", "profile", "problem"),
    [
        (None, None, "cannot read"),
        ("not an ini file", None, "is not an AWS credentials (INI) file"),
        ("[other]\naws_access_key_id = a\naws_secret_access_key = b\n", None, "has no [default] section"),
        ("[default]\naws_access_key_id = a\n", None, "needs aws_access_key_id and aws_secret_access_key"),
        ("[default]\naws_access_key_id = a\naws_secret_access_key = b\n", "ci", "has no [ci] section"),
    ],
)
def test_a_bad_credentials_file_is_refused_naming_the_key(
    tmp_path: Any, content: str | None, profile: str | None, problem: str
) -> None:
    path = tmp_path / "credentials"
    if content is not None:
        path.write_text(content)
    options: dict[str, Any] = {"region": "us-east-1", "credentials_file": str(path)}
    if profile:
        options["profile"] = profile
    with pytest.raises(ConfigError) as raised:
        parse_options(settings(**options))
    assert raised.value.key == "registries[1].credentials_file"
    assert problem in str(raised.value)
