"""The SageMaker adapter against the **botocore-validated stub**
(``tests/fakes/sagemaker_stub.py``): a real boto3 client whose requests are
validated against SageMaker's service model and answered with canned
responses validated against its output shapes.

This covers what moto drops or lacks: ModelLifeCycle (read and write),
ModelCard, SourceUri, the lineage API (ListArtifacts, QueryLineage,
ListAssociations, DescribeArtifact, DescribeTrialComponent), throttling and
access errors. Calls are queued in the order the adapter makes them, so each
test also pins the exact requests sent (``max_concurrency=1`` keeps fan-out in
order).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.protocol import PromotionContext
from adapters.sagemaker import SageMakerRegistry
from adapters.sagemaker.options import SageMakerOptions
from gateway.domain import ModelCard, Relation, Stage
from gateway.errors import RegistryAuthError, RegistryForbidden, RegistryRejected, RegistryUnavailable
from tests.fakes.sagemaker_stub import ANY, PREFIX, SageMakerStub, group_arn, package_arn

GROUP = "Churn-Model"  # mixed case: the package ARN spells it in lowercase


@pytest.fixture
def stub() -> Iterator[SageMakerStub]:
    fake = SageMakerStub()
    with fake.active():
        yield fake


def make_adapter(stub: SageMakerStub, **options: Any) -> SageMakerRegistry:
    settings = {"region": "us-east-1", "max_concurrency": 1, "timeout_seconds": 2.0, **options}
    return SageMakerRegistry("ml-sagemaker", SageMakerOptions(**settings), team="ml", client=stub.client)


def expect_get(stub: SageMakerStub, version: int, package: dict[str, Any]) -> None:
    """What get_version calls first: the group (for the account's ARN prefix), then the package."""
    stub.expect("describe_model_package_group", stub.group(GROUP), {"ModelPackageGroupName": GROUP})
    stub.expect("describe_model_package", package, {"ModelPackageName": package_arn(GROUP, version)})


async def test_lifecycle_stage_wins_over_approval(stub: SageMakerStub) -> None:
    """stub: ModelLifeCycle Staging on an approved package reads STAGING; the
    native words keep both, the native dict the whole lifecycle."""
    life = stub.lifecycle("Staging", "Approved", "canary at 5%")
    expect_get(stub, 3, stub.package(GROUP, 3, ModelApprovalStatus="Approved", ModelLifeCycle=life))
    version = await make_adapter(stub).get_version(GROUP, "3")
    assert version is not None
    assert (version.stage, version.native_stage) == (Stage.STAGING, "Approved/Staging")
    assert version.native["lifecycle"] == life
    assert version.model_name == GROUP and version.version == "3"


@pytest.mark.parametrize(
    ("stage_source", "approval", "lifecycle", "expected"),
    [
        ("approval", "Approved", ("Staging", "Approved"), Stage.PRODUCTION),
        ("lifecycle", "Approved", None, Stage.DRAFT),
        ("lifecycle", "Rejected", ("Production", "Approved"), Stage.PRODUCTION),
        ("both", "Rejected", ("Archived", "Retired"), Stage.ARCHIVED),
        ("both", "Approved", ("QA", "OnHold"), Stage.PRODUCTION),  # unmapped lifecycle: approval decides
    ],
)
async def test_stage_source_decides_which_word_counts(
    stub: SageMakerStub, stage_source: str, approval: str, lifecycle: tuple[str, str] | None, expected: Stage
) -> None:
    """stub: the precedence documented in adapters.sagemaker.options."""
    fields: dict[str, Any] = {"ModelApprovalStatus": approval}
    if lifecycle:
        fields["ModelLifeCycle"] = stub.lifecycle(*lifecycle)
    expect_get(stub, 1, stub.package(GROUP, 1, **fields))
    version = await make_adapter(stub, stage_source=stage_source).get_version(GROUP, "1")
    assert version is not None and version.stage is expected


async def test_stage_and_status_key_is_more_specific(stub: SageMakerStub) -> None:
    """stub: a configured "Production/Rejected" beats "Production"."""
    life = stub.lifecycle("Production", "Rejected")
    expect_get(stub, 1, stub.package(GROUP, 1, ModelApprovalStatus="Approved", ModelLifeCycle=life))
    tables = {"Production": "PRODUCTION", "Production/Rejected": "ARCHIVED"}
    version = await make_adapter(stub, lifecycle_stages=tables).get_version(GROUP, "1")
    assert version is not None and version.stage is Stage.ARCHIVED


async def test_set_stage_writes_lifecycle_and_keeps_every_field(stub: SageMakerStub) -> None:
    """stub: STAGING is written as ModelLifeCycle; the approval status, its
    description and the customer metadata are sent unchanged (an endpoint that
    replaces instead of merging keeps them), and the re-read is returned."""
    before = stub.package(
        GROUP, 4, ModelApprovalStatus="Approved", ApprovalDescription="looks good", ModelCard=None
    )
    after = {
        **before,
        "ModelLifeCycle": stub.lifecycle("Staging", "Approved", "x"),
        "LastModifiedTime": stub.package(GROUP, 4)["CreationTime"].replace(day=5),
        "LastModifiedBy": {"UserProfileName": "modelgate"},
    }
    arn = package_arn(GROUP, 4)
    stub.expect("describe_model_package", before, {"ModelPackageName": arn})
    stub.expect(
        "update_model_package",
        {"ModelPackageArn": arn},
        {
            "ModelPackageArn": arn,
            "ModelApprovalStatus": "Approved",
            "ApprovalDescription": "looks good",
            "CustomerMetadataProperties": {"owner": "churn-team"},
            "ModelLifeCycle": {"Stage": "Staging", "StageStatus": "Approved", "StageDescription": ANY},
        },
    )
    stub.expect("describe_model_package", after, {"ModelPackageName": arn})
    adapter = make_adapter(stub)
    version = adapter._version(before)
    assert version.stage is Stage.PRODUCTION
    staged = await adapter.set_stage(version, Stage.STAGING, PromotionContext("carol@acme"))
    assert (staged.stage, staged.native_stage) == (Stage.STAGING, "Approved/Staging")
    assert staged.updated_at is not None and staged.updated_at.day == 5
    assert staged.native["last_modified_by"] == "modelgate"


async def test_promotion_to_production_sets_both_words(stub: SageMakerStub) -> None:
    """stub: PRODUCTION with stage_source=both is Approved plus lifecycle
    Production (StageStatus from lifecycle_stage_status), with a note naming
    the approver."""
    life = stub.lifecycle("Staging", "Approved")
    before = stub.package(GROUP, 2, ModelLifeCycle=life, CustomerMetadataProperties=None)
    arn = package_arn(GROUP, 2)
    stub.expect("describe_model_package", before, {"ModelPackageName": arn})
    sent: dict[str, Any] = {}

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.update(params)

    stub.client.meta.events.register("provide-client-params.sagemaker.UpdateModelPackage", capture)
    stub.expect("update_model_package", {"ModelPackageArn": arn})
    approved = {
        **before,
        "ModelApprovalStatus": "Approved",
        "ModelLifeCycle": stub.lifecycle("Production", "Live"),
    }
    stub.expect("describe_model_package", approved, {"ModelPackageName": arn})
    # Then the group is listed for other production packages: it has none.
    summary = {
        k: approved[k]
        for k in (
            "ModelPackageArn",
            "ModelPackageName",
            "ModelPackageGroupName",
            "ModelPackageVersion",
            "CreationTime",
            "ModelPackageStatus",
            "ModelApprovalStatus",
        )
        if k in approved
    }
    stub.expect("list_model_packages", {"ModelPackageSummaryList": [summary]})
    stub.expect("describe_model_package", approved, {"ModelPackageName": arn})
    adapter = make_adapter(stub, lifecycle_stage_status="Live")
    result = await adapter.set_stage(
        adapter._version(before), Stage.PRODUCTION, PromotionContext("dave@acme")
    )
    assert result.stage is Stage.PRODUCTION
    assert sent["ModelApprovalStatus"] == "Approved"
    assert "dave@acme" in sent["ApprovalDescription"]
    assert sent["ModelLifeCycle"]["Stage"] == "Production" and sent["ModelLifeCycle"]["StageStatus"] == "Live"
    assert "CustomerMetadataProperties" not in sent  # none to keep, and an empty map is invalid


async def test_unexpressible_stage_is_refused_before_writing(stub: SageMakerStub) -> None:
    """stub: DRAFT cannot be reached while the lifecycle says Production (no
    lifecycle stage maps to DRAFT and lifecycle wins); nothing is written."""
    before = stub.package(
        GROUP, 1, ModelApprovalStatus="Approved", ModelLifeCycle=stub.lifecycle("Production")
    )
    stub.expect("describe_model_package", before, {"ModelPackageName": package_arn(GROUP, 1)})
    adapter = make_adapter(stub)
    with pytest.raises(RegistryRejected, match="cannot express DRAFT"):
        await adapter.set_stage(adapter._version(before), Stage.DRAFT, PromotionContext("erin@acme"))


async def test_a_failed_write_is_not_retried(stub: SageMakerStub) -> None:
    """stub: a 500 on UpdateModelPackage is reported once (it may have
    applied); a second UpdateModelPackage would find no queued answer."""
    before = stub.package(GROUP, 1)
    arn = package_arn(GROUP, 1)
    stub.expect("describe_model_package", before, {"ModelPackageName": arn})
    stub.expect_error("update_model_package", "InternalFailure", 500)
    adapter = make_adapter(stub)
    with pytest.raises(RegistryUnavailable, match="may or may not have been applied"):
        await adapter.set_stage(adapter._version(before), Stage.PRODUCTION, PromotionContext("x"))


async def test_model_card_source_uri_and_record_fields(stub: SageMakerStub) -> None:
    """stub: ModelCard content (SageMaker's model card JSON) maps onto the
    unified card; a SourceUri naming another package is the parent."""
    content = {
        "model_overview": {"model_description": "Predicts churn within 30 days."},
        "intended_uses": {
            "purpose_of_model": "Retention campaigns.",
            "intended_uses": "Weekly batch scoring of active customers.",
            "factors_affecting_model_efficiency": "Seasonality.",
            "risk_rating": "High",
            "explanations_for_risk_rating": "Affects pricing offers.",
        },
        "training_details": {"training_observations": "Trained on 2025 customer events."},
        "evaluation_details": [{"name": "holdout", "evaluation_observation": "AUC 0.91 on holdout."}],
        "additional_information": {
            "caveats_and_recommendations": "Not for customers younger than 30 days.",
            "ethical_considerations": "Checked for age bias with Clarify.",
        },
    }
    parent = package_arn("churn-base", 7)
    expect_get(
        stub,
        5,
        stub.package(GROUP, 5, ModelCard=stub.model_card(content, "Approved"), SourceUri=parent),
    )
    version = await make_adapter(stub).get_version(GROUP, "5")
    assert version is not None
    assert version.model_card == ModelCard(
        summary="Predicts churn within 30 days.",
        intended_use="Weekly batch scoring of active customers.\n\nRetention campaigns.",
        limitations="Not for customers younger than 30 days.\n\nSeasonality.",
        training_data_summary="Trained on 2025 customer events.",
        evaluation="holdout: AUC 0.91 on holdout.",
        bias_assessment="Checked for age bias with Clarify.",
        warnings="risk rating High: Affects pricing offers.",
    )
    assert version.native["model_card_status"] == "Approved"
    assert json.loads(version.native["model_card_content"]) == content
    assert version.parent == parent and version.native["source_uri"] == parent
    assert version.created_by == f"arn:aws:iam::{PREFIX.split(':')[4]}:role/ml-engineer"


async def test_lineage_from_the_lineage_api(stub: SageMakerStub) -> None:
    """stub: ListArtifacts finds the package's lineage artifact; QueryLineage
    (Ascendants) yields the dataset and the training job, described into their
    S3 URI and job ARN; ListAssociations yields the DerivedFrom parent and a
    SameAs twin. Every edge touches the version's mg:// URI."""
    me_arn = package_arn(GROUP, 2)
    me = stub.artifact_arn("a1b2c3d4e5f6")
    dataset = stub.artifact_arn("d4t4s3t000001")
    model_data = stub.artifact_arn("m0d3ld4t4")
    job = stub.training_component_arn("churn-train-2026-03-01")
    parent_artifact = stub.artifact_arn("p4r3nt")
    twin_artifact = stub.artifact_arn("tw1n")
    child_artifact = stub.artifact_arn("ch1ld")
    package = stub.package(GROUP, 2)
    expect_get(stub, 2, package)
    stub.expect("list_artifacts", stub.artifacts(me, source_uri=me_arn), {"SourceUri": me_arn})
    stub.expect(
        "query_lineage",
        stub.lineage(
            [(model_data, "Model", "Artifact"), (job, "TrainingJob", "TrialComponent")], next_token="p2"
        ),
        {
            "StartArns": [me],
            "Direction": "Ascendants",
            "IncludeEdges": False,
            "MaxDepth": 4,
            "MaxResults": 50,
        },
    )
    stub.expect(
        "query_lineage",
        stub.lineage([(dataset, "DataSet", "Artifact")]),
        {
            "StartArns": [me],
            "Direction": "Ascendants",
            "IncludeEdges": False,
            "MaxDepth": 4,
            "MaxResults": 50,
            "NextToken": "p2",
        },
    )
    stub.expect(
        "list_associations",
        stub.associations(
            (me, parent_artifact, "DerivedFrom"),
            (me, twin_artifact, "SameAs"),
            (me, model_data, "AssociatedWith"),
        ),
        {"SourceArn": me},
    )
    stub.expect(
        "list_associations", stub.associations((child_artifact, me, "DerivedFrom")), {"DestinationArn": me}
    )
    stub.expect(
        "describe_artifact",
        stub.artifact(dataset, "s3://ml-data/churn/2025/", "DataSet", "churn-2025"),
        {"ArtifactArn": dataset},
    )
    stub.expect(
        "describe_trial_component",
        stub.training_component("churn-train-2026-03-01"),
        {"TrialComponentName": "churn-train-2026-03-01-aws-training-job"},
    )
    parent_pkg = package_arn("churn-base", 7)
    stub.expect(
        "describe_artifact",
        stub.artifact(parent_artifact, parent_pkg, "ModelPackage"),
        {"ArtifactArn": parent_artifact},
    )
    twin_pkg = f"{PREFIX.replace('us-east-1', 'eu-west-1')}:model-package/churn-model-eu/2"
    stub.expect(
        "describe_artifact",
        stub.artifact(twin_artifact, twin_pkg, "ModelPackage"),
        {"ArtifactArn": twin_artifact},
    )
    child_pkg = package_arn("churn-distilled", 1)
    stub.expect(
        "describe_artifact",
        stub.artifact(child_artifact, child_pkg, "ModelPackage"),
        {"ArtifactArn": child_artifact},
    )

    adapter = make_adapter(stub)
    version = await adapter.get_version(GROUP, "2")
    assert version is not None
    edges = await adapter.lineage(version)
    found = {(e.source.uri, e.relation, e.target.uri, e.target.kind) for e in edges}
    mine = version.uri
    assert found == {
        (mine, Relation.SAME_AS, "s3://ml-models/Churn-Model/2/model.tar.gz", "artifact"),
        (mine, Relation.PRODUCED_BY, "git+https://github.com/acme/churn-model@9f2c1e7", "code"),
        (mine, Relation.TRAINED_ON, "s3://ml-data/churn/2025/", "dataset"),
        (mine, Relation.PRODUCED_BY, f"{PREFIX}:training-job/churn-train-2026-03-01", "run"),
        (mine, Relation.DERIVED_FROM, parent_pkg, "model_version"),
        (mine, Relation.SAME_AS, twin_pkg, "model_version"),
        (child_pkg, Relation.DERIVED_FROM, mine, "model_version"),
    }
    assert all(mine in (e.source.uri, e.target.uri) for e in edges)
    assert next(e for e in edges if e.relation is Relation.TRAINED_ON).target.label == "churn-2025"


async def test_lineage_without_the_lineage_api(stub: SageMakerStub) -> None:
    """stub: an endpoint answering UnknownOperationException has no lineage API;
    the record's edges are returned, once, without retries."""
    package = stub.package(GROUP, 1, MetadataProperties=None)
    stub.expect_error("list_artifacts", "UnknownOperationException", 400)
    adapter = make_adapter(stub)
    edges = await adapter.lineage(adapter._version(package))
    assert [(e.relation, e.target.uri) for e in edges] == [
        (Relation.SAME_AS, "s3://ml-models/Churn-Model/1/model.tar.gz")
    ]


async def test_lineage_switched_off_makes_no_call(stub: SageMakerStub) -> None:
    """stub: ``lineage = false`` reads nothing from the lineage API."""
    adapter = make_adapter(stub, lineage=False)
    edges = await adapter.lineage(adapter._version(stub.package(GROUP, 1)))
    assert {e.relation for e in edges} == {Relation.SAME_AS, Relation.PRODUCED_BY}


async def test_throttling_is_retried_with_backoff(stub: SageMakerStub) -> None:
    """stub: ThrottlingException twice, then an answer: the read succeeds."""
    stub.expect("describe_model_package_group", stub.group(GROUP), {"ModelPackageGroupName": GROUP})
    arn = package_arn(GROUP, 1)
    stub.expect_error("describe_model_package", "ThrottlingException", 400, "Rate exceeded")
    stub.expect_error("describe_model_package", "ServiceUnavailable", 503)
    stub.expect("describe_model_package", stub.package(GROUP, 1), {"ModelPackageName": arn})
    version = await make_adapter(stub).get_version(GROUP, "1")
    assert version is not None and version.version == "1"


async def test_throttling_that_persists_becomes_unavailable(stub: SageMakerStub) -> None:
    """stub: after max_attempts throttled answers the read fails as
    REGISTRY_UNAVAILABLE (retryable by the caller), naming the registry."""
    for _ in range(3):
        stub.expect_error("list_model_package_groups", "ThrottlingException", 400, "Rate exceeded")
    with pytest.raises(RegistryUnavailable, match="throttled") as caught:
        await make_adapter(stub, max_attempts=3).list_models()
    # registryCode: AWS's own code, under the key every adapter uses (the shared taxonomy).
    assert caught.value.as_extensions() == {
        "code": "REGISTRY_UNAVAILABLE",
        "registry": "ml-sagemaker",
        "registryCode": "ThrottlingException",
    }


async def test_access_denied_is_a_coded_error_naming_the_registry(stub: SageMakerStub) -> None:
    """stub: AccessDeniedException is REGISTRY_FORBIDDEN at once (no retry),
    with the operation and AWS's message."""
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/ro/x is not authorized to perform: sagemaker:ListTags"
    )
    stub.expect("list_model_package_groups", {"ModelPackageGroupSummaryList": [stub.group_summary(GROUP)]})
    stub.expect_error("list_tags", "AccessDeniedException", 400, message)
    with pytest.raises(RegistryForbidden) as caught:
        await make_adapter(stub).list_models()
    error = caught.value
    assert error.code == "REGISTRY_FORBIDDEN" and error.registry_id == "ml-sagemaker"
    assert "ListTags" in error.message and "not authorized" in error.message


async def test_expired_credentials_are_an_auth_error(stub: SageMakerStub) -> None:
    """stub: ExpiredTokenException is REGISTRY_AUTH_FAILED, and health says so."""
    stub.expect_error(
        "list_model_package_groups", "ExpiredTokenException", 400, "The security token has expired"
    )
    health = await make_adapter(stub).health()
    assert not health.ok and "expired" in (health.detail or "")
    stub.expect_error("describe_model_package_group", "UnrecognizedClientException", 400, "invalid token")
    with pytest.raises(RegistryAuthError):
        await make_adapter(stub).get_model(GROUP)


async def test_missing_version_falls_back_to_the_versioned_name(stub: SageMakerStub) -> None:
    """stub: if the ARN built from the account prefix is not found, the
    ``<group>/<version>`` form the service model allows is tried, then None."""
    stub.expect("describe_model_package_group", stub.group(GROUP), {"ModelPackageGroupName": GROUP})
    stub.expect_error("describe_model_package", "ValidationException", 400, "ModelPackage does not exist")
    stub.expect_error(
        "describe_model_package",
        "ValidationException",
        400,
        "does not exist",
        {"ModelPackageName": f"{GROUP}/9"},
    )
    adapter = make_adapter(stub)
    assert await adapter.get_version(GROUP, "9") is None
    assert await adapter.get_version(GROUP, "latest") is None  # not a SageMaker version: no call


async def test_models_carry_group_tags(stub: SageMakerStub) -> None:
    """stub: ListTags pages (NextToken) are followed."""
    stub.expect(
        "list_model_package_groups",
        {"ModelPackageGroupSummaryList": [stub.group_summary(GROUP)], "NextToken": "n"},
    )
    stub.expect(
        "list_tags",
        {"Tags": [{"Key": "team", "Value": "churn"}], "NextToken": "t2"},
        {"ResourceArn": group_arn(GROUP)},
    )
    stub.expect(
        "list_tags",
        {"Tags": [{"Key": "tier", "Value": "1"}]},
        {"ResourceArn": group_arn(GROUP), "NextToken": "t2"},
    )
    page = await make_adapter(stub).list_models()
    assert page.next_token == "n"
    (model,) = page.items
    assert dict(model.tags) == {"team": "churn", "tier": "1"} and model.team == "ml"
    assert model.created_at is not None and model.native["arn"] == group_arn(GROUP)
    assert "created_by" not in model.native  # the listing has no creator; DescribeModelPackageGroup does


def test_the_stub_refuses_responses_sagemaker_could_not_send() -> None:
    """The fake itself: an approval status outside the enum, or an ARN outside
    the pattern, cannot be queued."""
    fake = SageMakerStub()
    with pytest.raises(AssertionError, match="not one of"):
        fake.expect("describe_model_package", fake.package(GROUP, 1, ModelApprovalStatus="Staging"))
    with pytest.raises(AssertionError, match="pattern"):
        fake.expect("describe_model_package", fake.package(GROUP, 1, ModelPackageArn="model-package/x/1"))


async def test_boto3_runs_off_the_event_loop(stub: SageMakerStub) -> None:
    """stub: every boto3 call runs in a worker thread, never on the loop's own."""
    threads: list[int] = []
    stub.client.meta.events.register(
        "before-parameter-build.sagemaker.*", lambda **_: threads.append(threading.get_ident())
    )
    stub.expect("list_model_package_groups", {"ModelPackageGroupSummaryList": []})
    await make_adapter(stub).list_models()
    assert threads and threading.get_ident() not in threads
