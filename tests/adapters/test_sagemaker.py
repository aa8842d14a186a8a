"""The SageMaker adapter against **moto** (``moto_server`` 5.2.5, a real HTTP
server started once per session by ``tests/servers/sagemaker.py``).

Everything here is populated with boto3 exactly as a team would, and read back
through the adapter. moto implements groups, packages (with paging and approval
filters), tags on group ARNs and UpdateModelPackage (replacing, not merging). It
drops ModelLifeCycle, ModelCard and SourceUri and has no lineage API; those
paths are tested against the botocore-validated stub in
``test_sagemaker_stub.py``. The contract runs through
``tests/fakes/sagemaker_lineage.py`` in front of moto, which serves the lineage
API from botocore's service model, so seeded training data is read back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import adapters.sagemaker.registry as sagemaker_registry
from adapters.base import iterate_pages, load_factories, run_blocking
from adapters.protocol import AdapterContext, PromotionContext
from adapters.sagemaker import SageMakerRegistry, factory
from gateway.config import RegistrySettings
from gateway.domain import ModelVersion, Relation, Stage
from gateway.errors import RegistryError, RegistryUnavailable
from tests.adapters.contract import (
    LINEAGE,
    MODEL_DESCRIPTION,
    MODEL_TAGS,
    VERSION_DESCRIPTION,
    VERSION_TAGS,
    AdapterContract,
    SeedModel,
    unique_name,
)
from tests.fakes.sagemaker_lineage import SageMakerLineage, run_in_thread

REGION = "us-east-1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-serving"


def inference_spec(artifact_uri: str) -> dict[str, Any]:
    return {
        "Containers": [{"Image": IMAGE, "ModelDataUrl": artifact_uri}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }


def registry_settings(url: str, region: str = REGION, **options: Any) -> RegistrySettings:
    return RegistrySettings(
        id="ads-sagemaker",
        kind="sagemaker",
        team="ads",
        options={"region": region, "endpoint_url": url, **options},
        key="registries[1]",
    )


def make_adapter(url: str, region: str = REGION, **options: Any) -> SageMakerRegistry:
    """Built the way the gateway builds it: through the entry point's factory."""
    settings = registry_settings(url, region, **options)
    factory.validate(settings)
    return factory.create(settings, AdapterContext(database=None, artifacts_dir=None))  # type: ignore[arg-type]


@pytest.fixture
def sm(moto_sagemaker_url: str, aws_env: None) -> Any:
    """A team's own boto3 client on the moto server."""
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
def adapter(moto_sagemaker_url: str, aws_env: None) -> SageMakerRegistry:
    return make_adapter(moto_sagemaker_url)


class MotoSubject:
    """Seeds moto as a team would: one group per model (with tags), one
    versioned package per version (inference container pointing at the
    artifact, pending approval, customer metadata as the version's tags)."""

    # SageMaker has no numeric metrics (ModelMetrics are S3 report files) and no
    # hyperparameters on a package. STAGING is a ModelLifeCycle stage, which moto drops.
    capabilities = {VERSION_DESCRIPTION, VERSION_TAGS, MODEL_TAGS, MODEL_DESCRIPTION, LINEAGE}
    writable_stages = {Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = 2  # with PAGE_SIZE patched to it in the contract's fixture

    factory = factory
    # moto lacks UpdateEndpoint: tests/rollouts/test_candidate_variant.py checks
    # deploy_candidate behind the fake that answers it.
    server_lacks = {"CandidateDeployer": "moto has no UpdateEndpoint"}

    def __init__(self, adapter: SageMakerRegistry, client: Any, settings: RegistrySettings):
        self.adapter = adapter
        self.client = client
        self.settings = settings

    def reference_to(self, version: ModelVersion) -> str:
        return str(version.native["arn"])  # the model package's ARN

    def _serve(self, version: ModelVersion) -> str:
        """A model from the package, one variant serving it, an endpoint: as a team deploys."""
        model = unique_name("model")
        self.client.create_model(
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"ModelPackageName": version.native["arn"]},
        )
        config = unique_name("config")
        variant = {"VariantName": "primary", "ModelName": model, "InitialInstanceCount": 1}
        self.client.create_endpoint_config(
            EndpointConfigName=config, ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}]
        )
        name = unique_name("endpoint")
        self.client.create_endpoint(EndpointName=name, EndpointConfigName=config)
        return name

    async def serve(self, version: ModelVersion) -> str:
        return await run_blocking(self._serve, version)

    def _seed(self, models: list[SeedModel]) -> None:
        for m in models:
            self.client.create_model_package_group(
                ModelPackageGroupName=m.name,
                ModelPackageGroupDescription=m.description or "",
                Tags=[{"Key": k, "Value": v} for k, v in m.tags.items()],
            )
            for v in m.versions:
                arn = self.client.create_model_package(
                    ModelPackageGroupName=m.name,
                    ModelPackageDescription=v.description or "",
                    InferenceSpecification=inference_spec(v.artifact_uri),
                    ModelApprovalStatus="PendingManualApproval",
                    CustomerMetadataProperties=v.tags,
                )["ModelPackageArn"]
                if v.datasets:
                    self._record_training_data(arn, v.datasets)

    def _record_training_data(self, package_arn: str, datasets: list[str]) -> None:
        """As a team records data with the lineage API: a DataSet artifact per URI,
        associated (ContributedTo) with the lineage artifact SageMaker made for the package."""
        (package,) = self.client.list_artifacts(SourceUri=package_arn)["ArtifactSummaries"]
        for uri in datasets:
            dataset = self.client.create_artifact(ArtifactType="DataSet", Source={"SourceUri": uri})
            self.client.add_association(
                SourceArn=dataset["ArtifactArn"],
                DestinationArn=package["ArtifactArn"],
                AssociationType="ContributedTo",
            )

    async def seed(self, models: list[SeedModel]) -> None:
        await run_blocking(self._seed, models)

    async def touch(self, model_name: str) -> None:
        await run_blocking(
            self.client.create_model_package,
            ModelPackageGroupName=model_name,
            InferenceSpecification=inference_spec(f"s3://contract-bucket/{model_name}/touched.tar.gz"),
            ModelApprovalStatus="PendingManualApproval",
        )


@pytest.fixture(scope="module")
def lineage_front(moto_sagemaker_url: str) -> Iterator[tuple[SageMakerLineage, str]]:
    """moto behind the lineage API it lacks (``tests/fakes/sagemaker_lineage.py``)."""
    front = SageMakerLineage(moto_sagemaker_url)
    serving = run_in_thread(front)
    yield front, next(serving)
    serving.close()


class TestSageMakerContractOnMoto(AdapterContract):
    @pytest.fixture
    def subject(
        self, lineage_front: tuple[SageMakerLineage, str], aws_env: None, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[MotoSubject]:
        # MaxResults of 2 instead of SageMaker's 100, so that the listings cross pages.
        monkeypatch.setattr(sagemaker_registry, "PAGE_SIZE", MotoSubject.page_size)
        front, url = lineage_front
        seen = len(front.violations)
        client = boto3.client("sagemaker", region_name=REGION, endpoint_url=url)
        yield MotoSubject(make_adapter(url), client, registry_settings(url))
        assert front.violations[seen:] == [], "the lineage front answered outside the service model"


def test_entry_point_names_this_factory() -> None:
    """moto: not needed; the gateway finds the adapter through its entry point."""
    settings = RegistrySettings(id="x", kind="sagemaker", options={"region": "eu-west-1"})
    load_factories()["sagemaker"].validate(settings)


async def test_every_approval_status_maps_to_its_stage(adapter: SageMakerRegistry, sm: Any) -> None:
    """moto: the three approval statuses, read through list and get."""
    name = unique_name("approval")
    sm.create_model_package_group(ModelPackageGroupName=name)
    for i, status in enumerate(["PendingManualApproval", "Approved", "Rejected"]):
        sm.create_model_package(
            ModelPackageGroupName=name,
            InferenceSpecification=inference_spec(f"s3://b/{name}/{i}.tar.gz"),
            ModelApprovalStatus=status,
        )
    listed = (await adapter.list_versions(name)).items
    assert [(v.version, v.stage, v.native_stage) for v in listed] == [
        ("1", Stage.DRAFT, "PendingManualApproval"),
        ("2", Stage.PRODUCTION, "Approved"),
        ("3", Stage.ARCHIVED, "Rejected"),
    ]
    got = await adapter.get_version(name, "3")
    assert got is not None and got.stage is Stage.ARCHIVED and got.native["approval_status"] == "Rejected"


async def test_a_package_carries_every_field_moto_keeps(adapter: SageMakerRegistry, sm: Any) -> None:
    """moto: description, customer metadata, container image and artifact,
    commit and repository, metric report URIs, creator, group tags."""
    name = unique_name("details")
    sm.create_model_package_group(
        ModelPackageGroupName=name,
        ModelPackageGroupDescription="churn",
        Tags=[{"Key": "cost-centre", "Value": "42"}],
    )
    arn = sm.create_model_package(
        ModelPackageGroupName=name,
        ModelPackageDescription="first cut",
        InferenceSpecification=inference_spec("s3://models/churn/1/model.tar.gz"),
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"framework": "xgboost", "dataset": "s3://data/churn/2026-03"},
        MetadataProperties={"CommitId": "9f2c1e7", "Repository": "https://github.com/acme/churn"},
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": "s3://reports/q.json"}
            },
            "Bias": {"Report": {"ContentType": "application/json", "S3Uri": "s3://reports/bias.json"}},
        },
    )["ModelPackageArn"]
    model = await adapter.get_model(name)
    assert model is not None
    assert (model.description, dict(model.tags), model.team) == ("churn", {"cost-centre": "42"}, "ads")
    assert model.native["arn"].endswith(f":model-package-group/{name}")
    version = await adapter.get_version(name, "1")
    assert version is not None
    assert version.description == "first cut"
    assert dict(version.tags) == {"framework": "xgboost", "dataset": "s3://data/churn/2026-03"}
    assert version.artifact_uri == "s3://models/churn/1/model.tar.gz"
    assert version.environment == IMAGE
    assert str(version.training_code) == "https://github.com/acme/churn@9f2c1e7"
    assert version.native["arn"] == arn
    assert version.native["metrics_reports"] == {
        "ModelQuality.Statistics": "s3://reports/q.json",
        "Bias.Report": "s3://reports/bias.json",
    }
    assert version.created_by == "fake-user-profile-name"  # moto's invented Studio user
    assert version.updated_at == version.created_at  # no LastModifiedTime until an update


async def test_paging_past_100_packages_and_100_groups(moto_sagemaker_url: str, aws_env: None) -> None:
    """moto: ListModelPackages and ListModelPackageGroups page at 100; every
    item is read once, versions oldest first. A region of its own keeps these
    130 groups out of the other tests' listings."""
    region = "ap-southeast-2"
    client = boto3.client("sagemaker", region_name=region, endpoint_url=moto_sagemaker_url)
    big = unique_name("big")
    client.create_model_package_group(ModelPackageGroupName=big)
    for i in range(130):
        client.create_model_package(
            ModelPackageGroupName=big,
            InferenceSpecification=inference_spec(f"s3://b/{big}/{i}.tar.gz"),
            ModelApprovalStatus="PendingManualApproval",
        )
    others = [unique_name("many") for _ in range(104)]
    for name in others:
        client.create_model_package_group(ModelPackageGroupName=name)
    adapter = make_adapter(moto_sagemaker_url, region)

    first = await adapter.list_versions(big)
    assert len(first.items) == 100 and first.next_token
    versions = [v async for v in iterate_pages(lambda t: adapter.list_versions(big, t))]
    assert [v.version for v in versions] == [str(i) for i in range(1, 131)]
    assert {v.artifact_uri for v in versions} == {f"s3://b/{big}/{i}.tar.gz" for i in range(130)}

    names = [m.name async for m in iterate_pages(adapter.list_models)]
    assert sorted(names) == sorted([big, *others]) == names  # by name, each once


async def test_set_stage_writes_approval_and_keeps_what_moto_would_drop(
    adapter: SageMakerRegistry, sm: Any
) -> None:
    """moto: UpdateModelPackage replaces CustomerMetadataProperties and
    ApprovalDescription with whatever is sent (None when omitted). The adapter
    re-sends them, so a promotion loses nothing; the approval description says
    who applied it."""
    name = unique_name("promote")
    sm.create_model_package_group(ModelPackageGroupName=name)
    sm.create_model_package(
        ModelPackageGroupName=name,
        InferenceSpecification=inference_spec("s3://b/p/1.tar.gz"),
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"owner": "ads-team", "ticket": "ML-1234"},
    )
    version = await adapter.get_version(name, "1")
    assert version is not None

    promoted = await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("alice@acme"))
    assert (promoted.stage, promoted.native_stage) == (Stage.PRODUCTION, "Approved")
    raw = sm.describe_model_package(ModelPackageName=version.native["arn"])
    assert raw["ModelApprovalStatus"] == "Approved"
    assert raw["CustomerMetadataProperties"] == {"owner": "ads-team", "ticket": "ML-1234"}
    assert "alice@acme" in raw["ApprovalDescription"]
    assert promoted.updated_at is not None and promoted.updated_at >= promoted.created_at  # type: ignore[operator]

    archived = await adapter.set_stage(promoted, Stage.ARCHIVED, PromotionContext("bob@acme"))
    assert (archived.stage, archived.native_stage) == (Stage.ARCHIVED, "Rejected")
    assert dict(archived.tags) == {"owner": "ads-team", "ticket": "ML-1234"}


async def test_staging_on_moto_is_reported_not_faked(adapter: SageMakerRegistry, sm: Any) -> None:
    """moto: STAGING is a ModelLifeCycle stage; moto accepts UpdateModelPackage
    with it and drops it. The adapter re-reads, sees the package is not in
    STAGING, and says so instead of reporting success."""
    name = unique_name("staging")
    sm.create_model_package_group(ModelPackageGroupName=name)
    sm.create_model_package(
        ModelPackageGroupName=name,
        InferenceSpecification=inference_spec("s3://b/s/1.tar.gz"),
        ModelApprovalStatus="PendingManualApproval",
    )
    version = await adapter.get_version(name, "1")
    assert version is not None
    with pytest.raises(RegistryError, match="keep ModelLifeCycle"):
        await adapter.set_stage(version, Stage.STAGING, PromotionContext("alice@acme"))


async def test_moto_drops_lifecycle_card_and_source_uri(sm: Any) -> None:
    """moto: the behaviour REGISTRIES.md describes, checked so that a moto
    upgrade that starts keeping these fields is noticed (then the stub tests
    can move here)."""
    name = unique_name("dropped")
    sm.create_model_package_group(ModelPackageGroupName=name)
    arn = sm.create_model_package(
        ModelPackageGroupName=name,
        InferenceSpecification=inference_spec("s3://b/d/1.tar.gz"),
        ModelApprovalStatus="PendingManualApproval",
        ModelLifeCycle={"Stage": "Staging", "StageStatus": "Approved"},
        SourceUri="s3://b/d/source",
        ModelCard={"ModelCardContent": "{}", "ModelCardStatus": "Draft"},
    )["ModelPackageArn"]
    described = sm.describe_model_package(ModelPackageName=arn)
    assert not {"ModelLifeCycle", "SourceUri", "ModelCard"} & set(described)


async def test_lineage_on_moto_falls_back_to_record_edges(adapter: SageMakerRegistry, sm: Any) -> None:
    """moto: ListArtifacts/QueryLineage/ListAssociations answer HTTP 500 with an
    HTML page (not implemented). The adapter recognises that and returns the
    edges the record implies."""
    name = unique_name("lineage")
    sm.create_model_package_group(ModelPackageGroupName=name)
    sm.create_model_package(
        ModelPackageGroupName=name,
        InferenceSpecification=inference_spec("s3://b/l/1.tar.gz"),
        ModelApprovalStatus="PendingManualApproval",
        MetadataProperties={"CommitId": "abc123", "Repository": "https://github.com/acme/l"},
    )
    version = await adapter.get_version(name, "1")
    assert version is not None
    edges = await adapter.lineage(version)
    assert {(e.relation, e.target.uri) for e in edges} == {
        (Relation.SAME_AS, "s3://b/l/1.tar.gz"),
        (Relation.PRODUCED_BY, "git+https://github.com/acme/l@abc123"),
    }
    assert all(e.source.uri == version.uri for e in edges)


async def test_missing_group_lists_no_versions(adapter: SageMakerRegistry) -> None:
    """moto: ListModelPackages for an unknown group is an empty list, not an error."""
    page = await adapter.list_versions(unique_name("nogroup"))
    assert page.items == [] and page.next_token is None


async def test_unreachable_endpoint_is_reported_unavailable(aws_env: None) -> None:
    """No server: connection errors are retried, then reported as
    REGISTRY_UNAVAILABLE naming the registry."""
    from tests.servers.sagemaker import _free_port

    adapter = make_adapter(f"http://127.0.0.1:{_free_port()}", timeout_seconds=1, max_attempts=3)
    with pytest.raises(RegistryUnavailable) as caught:
        await adapter.list_models()
    assert caught.value.registry_id == "ads-sagemaker"
    assert caught.value.as_extensions() == {"code": "REGISTRY_UNAVAILABLE", "registry": "ads-sagemaker"}
    health = await adapter.health()
    assert not health.ok and "unreachable" in (health.detail or "")


async def test_mixed_case_group_names(adapter: SageMakerRegistry, sm: Any) -> None:
    """moto: a group ARN keeps the name's case but a package ARN lowercases it
    (``model-package/mixed-case-…/1``); get_version builds that ARN."""
    name = "Mixed-Case-" + unique_name("g")
    sm.create_model_package_group(ModelPackageGroupName=name)
    arn = sm.create_model_package(
        ModelPackageGroupName=name,
        InferenceSpecification=inference_spec("s3://b/m/1.tar.gz"),
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
    assert f":model-package/{name.lower()}/1" in arn
    version = await adapter.get_version(name, "1")
    assert version is not None and version.model_name == name and version.native["arn"] == arn
    assert (await adapter.get_model(name)) is not None
    assert await adapter.get_version(name, "2") is None


async def test_promoting_a_package_archives_the_previous_production_package(
    adapter: SageMakerRegistry, sm: Any
) -> None:
    """SageMaker lets any number of packages be Approved; a modelgate promotion
    leaves one: the previous production package is Rejected (ARCHIVED)."""
    name = unique_name("supersede")
    sm.create_model_package_group(ModelPackageGroupName=name)
    for i, status in enumerate(("Approved", "PendingManualApproval", "PendingManualApproval"), start=1):
        sm.create_model_package(
            ModelPackageGroupName=name,
            InferenceSpecification=inference_spec(f"s3://b/s/{i}.tar.gz"),
            ModelApprovalStatus=status,
            CustomerMetadataProperties={"owner": "ads-team"},
        )
    v2 = await adapter.get_version(name, "2")
    assert v2 is not None

    promoted = await adapter.set_stage(v2, Stage.PRODUCTION, PromotionContext("alice@acme"))

    assert promoted.stage is Stage.PRODUCTION
    listed = [v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
    stages = {v.version: (v.stage, v.native_stage) for v in listed}
    assert stages == {
        "1": (Stage.ARCHIVED, "Rejected"),
        "2": (Stage.PRODUCTION, "Approved"),
        "3": (Stage.DRAFT, "PendingManualApproval"),
    }
    raw = sm.describe_model_package(ModelPackageName=listed[0].native["arn"])
    assert "superseded by" in raw["ApprovalDescription"] and "alice@acme" in raw["ApprovalDescription"]
    assert raw["CustomerMetadataProperties"] == {"owner": "ads-team"}  # kept through the write


async def test_customer_metadata_follows_the_documented_conventions(
    adapter: SageMakerRegistry, sm: Any
) -> None:
    """moto drops ModelCard, so the card, semver and environment come from the
    documented ``CustomerMetadataProperties`` keys (the same as MLflow's tags)."""
    name = unique_name("conventions")
    sm.create_model_package_group(ModelPackageGroupName=name)
    sm.create_model_package(
        ModelPackageGroupName=name,
        InferenceSpecification=inference_spec("s3://b/c/1.tar.gz"),
        ModelApprovalStatus="PendingManualApproval",
        MetadataProperties={"Repository": "https://git.example.com/ads/ctr", "CommitId": "4be2c1d"},
        CustomerMetadataProperties={
            "modelgate.semver": "v2.1.0",
            "model_card.intended_use": "Ranking sponsored listings",
            "model_card.limitations": "English-language listings only",
            "model_card.evaluation": "NDCG@10 0.41 on the March holdout",
            "modelgate.environment": "ads/ctr-serving:2.1.0",
        },
    )
    version = await adapter.get_version(name, "1")
    assert version is not None
    assert version.semver == "2.1.0"
    assert version.model_card.intended_use == "Ranking sponsored listings"
    assert version.model_card.evaluation == "NDCG@10 0.41 on the March holdout"
    assert version.environment == "ads/ctr-serving:2.1.0"  # over the container image
    assert version.training_code is not None
    assert version.training_code.node_uri == "git+https://git.example.com/ads/ctr@4be2c1d"
