"""Dataset URI normalisation and registry-reference resolution (pure functions)."""

from __future__ import annotations

import pytest

from gateway.config import RegistrySettings
from gateway.lineage.uris import (
    ReferenceResolver,
    artifact_key,
    digest_key,
    is_reference,
    normalize_dataset_uri,
    resolve_reference,
)
from tests.lineage.conftest import REGISTRIES


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("s3://acme-data/tx/2026/", "s3://acme-data/tx/2026"),
        ("s3a://acme-data/tx/2026", "s3://acme-data/tx/2026"),
        ("S3N://Acme-Data//tx///2026//", "s3://acme-data/tx/2026"),
        ("gcs://bucket/a/b/", "gs://bucket/a/b"),
        ("GS://Bucket/Path/Keeps/Case", "gs://bucket/Path/Keeps/Case"),
        ("  s3://b/k  ", "s3://b/k"),
        ("s3://b/k/?versionId=3", "s3://b/k?versionId=3"),
        ("s3://bucket/", "s3://bucket"),
        ("file:///data//train/", "file:///data/train"),
        ("abfss://Container@Acct.dfs.core.windows.net/x/", "abfss://Container@acct.dfs.core.windows.net/x"),
        # Other schemes: only scheme and host are folded; the path is the server's business.
        ("HTTPS://Data.Example.com/Holdout.csv/", "https://data.example.com/Holdout.csv/"),
        ("https://data.example.com//a//b", "https://data.example.com//a//b"),
        ("transactions-2026", "transactions-2026"),
        ("/mnt/data/train/", "/mnt/data/train/"),
    ],
)
def test_normalize_dataset_uri(given: str, expected: str) -> None:
    assert normalize_dataset_uri(given) == expected


def test_normalisation_is_idempotent() -> None:
    for uri in ("S3A://B//k/", "gcs://b/x", "https://H/p/", "file:///a//b/"):
        once = normalize_dataset_uri(uri)
        assert normalize_dataset_uri(once) == once


def test_artifact_and_digest_keys() -> None:
    assert artifact_key("s3a://Models/fraud/model.tar.gz") == "uri:s3://models/fraud/model.tar.gz"
    assert artifact_key("s3://models/fraud/") == artifact_key("s3://models/fraud")
    # Registry-relative locations cannot show that two registries hold the same bytes.
    assert artifact_key("models:/m-0123abcd") is None
    assert artifact_key("mlflow-artifacts:/1/abc/artifacts/model") is None
    assert artifact_key("runs:/abc/model") is None
    assert artifact_key(None) is None
    hexdigest = "ab" * 32
    assert digest_key(hexdigest) == digest_key(f"SHA256:{hexdigest.upper()}") == f"digest:sha256:{hexdigest}"
    assert digest_key("  ") is None


@pytest.fixture
def resolver() -> ReferenceResolver:
    return ReferenceResolver(REGISTRIES)


def test_mg_uris_are_taken_as_they_are(resolver: ReferenceResolver) -> None:
    resolved = resolver.resolve("mg://platform/base/3")
    assert (
        resolved is not None and resolved.uri == "mg://platform/base/3" and resolved.kind == "model_version"
    )
    assert resolver.resolve("mg://gone-registry/m/1").uri == "mg://gone-registry/m/1"  # type: ignore[union-attr]
    assert resolver.resolve("mg://platform/model").kind == "model"  # type: ignore[union-attr]
    assert resolver.resolve("mg://platform") is None


def test_mlflow_references_need_an_owner(resolver: ReferenceResolver) -> None:
    # One MLflow registry configured: it owns every models:/ reference.
    assert resolve_reference("models:/base/1", REGISTRIES) == "mg://fraud-mlflow/base/1"
    assert resolve_reference("models:///base/12/", REGISTRIES) == "mg://fraud-mlflow/base/12"
    assert resolver.resolve("models:/base@champion") is None  # aliases move
    assert resolver.resolve("models:/m-0123456789abcdef") is None  # a LoggedModel, not a version
    two = [*REGISTRIES, RegistrySettings(id="risk-mlflow", kind="mlflow", options={"url": "http://x"})]
    # Several MLflow registries: the referencing version's own one, else unresolved.
    assert (
        resolve_reference("models:/base/1", two, context_registry="risk-mlflow") == "mg://risk-mlflow/base/1"
    )
    assert resolve_reference("models:/base/1", two, context_registry="platform") is None
    assert resolve_reference("models:/base/1", [REGISTRIES[0]]) is None


def test_sagemaker_package_arns_resolve_by_region(resolver: ReferenceResolver) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraudmodel/4"
    resolved = resolver.resolve(arn)
    assert resolved is not None
    assert (resolved.uri, resolved.case_insensitive) == ("mg://ads-sm/fraudmodel/4", True)
    group = resolver.resolve("arn:aws:sagemaker:us-east-1:123456789012:model-package-group/fraudmodel")
    assert group is not None and group.uri == "mg://ads-sm/fraudmodel"
    assert resolver.resolve("arn:aws:sagemaker:eu-west-1:123456789012:model-package/fraudmodel/4") is None
    assert resolver.resolve("arn:aws:sagemaker:us-east-1:123456789012:model-package/unversioned") is None
    assert resolver.resolve("arn:aws:sagemaker:us-east-1:123456789012:training-job/x") is None


def test_vertex_resource_names_resolve_by_project_and_location(resolver: ReferenceResolver) -> None:
    name = "projects/acme-ml/locations/us-central1/models/123456@2"
    assert resolve_reference(name, REGISTRIES) == "mg://vision/123456/2"
    assert resolve_reference(f"https://us-central1-aiplatform.googleapis.com/v1/{name}", REGISTRIES) == (
        "mg://vision/123456/2"
    )
    assert resolve_reference("projects/acme-ml/locations/us-central1/models/123456", REGISTRIES) == (
        "mg://vision/123456"
    )
    assert resolver.resolve("projects/acme-ml/locations/us-central1/models/123456@production") is None
    assert resolver.resolve("projects/other/locations/us-central1/models/1@1") is None
    # A project spelled as its number: only the referencing version's own Vertex registry can own it.
    numbered = "projects/987654321/locations/us-central1/models/55@3"
    assert resolver.resolve(numbered) is None
    assert resolve_reference(numbered, REGISTRIES, context_registry="vision") == "mg://vision/55/3"


def test_what_counts_as_a_reference() -> None:
    assert is_reference("models:/x/1") and is_reference("mg://a/b/1")
    assert is_reference("arn:aws:sagemaker:us-east-1:1:model-package/g/1")
    assert is_reference("projects/p/locations/l/models/1@1")
    assert not is_reference("the-base-model") and not is_reference("s3://bucket/model")


def test_fingerprint_changes_with_what_resolution_depends_on() -> None:
    before = ReferenceResolver(REGISTRIES).fingerprint()
    moved = [
        *REGISTRIES[:3],
        RegistrySettings(id="ads-sm", kind="sagemaker", options={"region": "eu-west-1"}),
        REGISTRIES[4],
    ]
    assert ReferenceResolver(moved).fingerprint() != before
    assert ReferenceResolver(list(reversed(REGISTRIES))).fingerprint() == before
