"""A faithful fake of the SageMaker calls moto does not implement, built on
botocore's own service model (``botocore/data/sagemaker/2017-07-24/service-2.json``).

The fake is a *real* boto3 SageMaker client with botocore's ``Stubber``:

- every request the adapter sends is validated by botocore against the input
  shape (types, required members) before the stub answers, and compared with
  the parameters the test expects, so a missing or extra field fails the test;
- every canned response is validated by ``Stubber`` against the output shape,
  and here additionally against the string ``pattern``s and ``enum``s of the
  model (which ``Stubber`` leaves unchecked), so a response SageMaker could
  never send cannot be queued.

The builders below produce realistic responses (ARNs, types and field names as
the service model and the AWS docs give them); tests queue them in the order
the adapter is expected to call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.model import Shape
from botocore.stub import ANY, Stubber

try:  # the service model's patterns use \p{L}; the regex module understands them
    import regex as _pattern_engine
except ImportError:  # pragma: no cover - then those few patterns go unchecked
    _pattern_engine = re  # type: ignore[no-redef]

REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
CREATED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MODIFIED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
IAM_USER = {"Arn": f"arn:aws:iam::{ACCOUNT}:role/ml-engineer", "PrincipalId": "AROAEXAMPLE"}

__all__ = ["ANY", "SageMakerStub"]


def _check(shape: Shape, value: Any, path: str) -> None:
    """Patterns and enums of the service model, which Stubber does not check."""
    if shape.type_name == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value:
                _check(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "map" and isinstance(value, Mapping):
        for k, v in value.items():
            _check(shape.key, k, f"{path} key {k!r}")
            _check(shape.value, v, f"{path}.{k}")
    elif shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            raise AssertionError(f"{path}: {value!r} is not one of {shape.enum}")
        pattern = shape.metadata.get("pattern")
        if pattern:
            try:
                matched = _pattern_engine.fullmatch(pattern, value)
            except Exception:  # a Java-only construct: leave it to SageMaker
                return
            if matched is None:
                raise AssertionError(f"{path}: {value!r} does not match SageMaker's pattern {pattern!r}")


def package_arn(group: str, version: int) -> str:
    # SageMaker spells the group part of a package ARN in lowercase (moto does too).
    return f"{PREFIX}:model-package/{group.lower()}/{version}"


def group_arn(group: str) -> str:
    return f"{PREFIX}:model-package-group/{group}"


class SageMakerStub:
    """A stubbed boto3 client plus response builders. Use as a context manager:
    leaving it asserts that every queued call was made."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "sagemaker",
            region_name=REGION,
            aws_access_key_id="stub",
            aws_secret_access_key="stub",
            config=Config(retries={"total_max_attempts": 1}),
        )
        self.stubber = Stubber(self.client)
        self._model = self.client.meta.service_model

    @contextmanager
    def active(self) -> Iterator[SageMakerStub]:
        with self.stubber:
            yield self
            self.stubber.assert_no_pending_responses()

    # --- queueing ------------------------------------------------------------

    def expect(self, method: str, response: dict[str, Any], params: dict[str, Any] | None = None) -> None:
        """Queue one answer to ``method`` (boto3 name), validated against the model."""
        operation = self.client.meta.method_to_api_mapping[method]
        _check(self._model.operation_model(operation).output_shape, response, operation)
        self.stubber.add_response(method, response, params)

    def expect_error(
        self,
        method: str,
        code: str,
        status: int = 400,
        message: str = "",
        params: dict[str, Any] | None = None,
    ) -> None:
        self.stubber.add_client_error(
            method,
            service_error_code=code,
            service_message=message,
            http_status_code=status,
            expected_params=params,
        )

    # --- response builders -------------------------------------------------------

    @staticmethod
    def group(name: str, description: str | None = "a group") -> dict[str, Any]:
        """A DescribeModelPackageGroup answer."""
        answer: dict[str, Any] = {
            "ModelPackageGroupName": name,
            "ModelPackageGroupArn": group_arn(name),
            "CreationTime": CREATED,
            "CreatedBy": {"IamIdentity": IAM_USER},
            "ModelPackageGroupStatus": "Completed",
        }
        if description:
            answer["ModelPackageGroupDescription"] = description
        return answer

    @staticmethod
    def group_summary(name: str) -> dict[str, Any]:
        """One item of a ListModelPackageGroups answer (no CreatedBy there)."""
        return {k: v for k, v in SageMakerStub.group(name).items() if k != "CreatedBy"}

    @staticmethod
    def package(group: str, version: int, **fields: Any) -> dict[str, Any]:
        """A DescribeModelPackage answer for a versioned package; ``fields``
        override or add members (e.g. ``ModelLifeCycle``, ``ModelCard``)."""
        arn = package_arn(group, version)
        answer: dict[str, Any] = {
            # Required by the output shape even for versioned packages (which
            # have no name of their own): SageMaker answers with the group name.
            # moto omits it.
            "ModelPackageName": group,
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageRegistrationType": "Registered",
            "ModelPackageArn": arn,
            "ModelPackageDescription": f"{group} v{version}",
            "CreationTime": CREATED,
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/xgboost:1.7-1",
                        "ModelDataUrl": f"s3://ml-models/{group}/{version}/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CertifyForMarketplace": False,
            "ModelApprovalStatus": "PendingManualApproval",
            "CreatedBy": {"IamIdentity": IAM_USER},
            "MetadataProperties": {
                "CommitId": "9f2c1e7",
                "Repository": "https://github.com/acme/churn-model",
                "GeneratedBy": f"{PREFIX}:pipeline/churn/execution/abc123",
            },
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": f"s3://ml-reports/{group}/{version}/evaluation.json",
                    }
                }
            },
            "CustomerMetadataProperties": {"owner": "churn-team"},
        }
        answer.update(fields)
        return {k: v for k, v in answer.items() if v is not None}

    @staticmethod
    def lifecycle(stage: str, status: str = "Approved", description: str | None = None) -> dict[str, str]:
        life = {"Stage": stage, "StageStatus": status}
        if description is not None:
            life["StageDescription"] = description
        return life

    @staticmethod
    def model_card(content: Mapping[str, Any], status: str = "Draft") -> dict[str, str]:
        return {"ModelCardContent": json.dumps(content), "ModelCardStatus": status}

    @staticmethod
    def artifact_arn(name: str) -> str:
        return f"{PREFIX}:artifact/{name}"

    @staticmethod
    def artifacts(*arns: str, source_uri: str, artifact_type: str = "ModelPackage") -> dict[str, Any]:
        """A ListArtifacts answer."""
        return {
            "ArtifactSummaries": [
                {
                    "ArtifactArn": arn,
                    "Source": {"SourceUri": source_uri},
                    "ArtifactType": artifact_type,
                    "CreationTime": CREATED,
                }
                for arn in arns
            ]
        }

    @staticmethod
    def lineage(vertices: list[tuple[str, str, str]], next_token: str | None = None) -> dict[str, Any]:
        """A QueryLineage answer; vertices are (Arn, Type, LineageType)."""
        answer: dict[str, Any] = {
            "Vertices": [{"Arn": a, "Type": t, "LineageType": lt} for a, t, lt in vertices],
            "Edges": [],
        }
        if next_token:
            answer["NextToken"] = next_token
        return answer

    @staticmethod
    def associations(*links: tuple[str, str, str]) -> dict[str, Any]:
        """A ListAssociations answer; links are (SourceArn, DestinationArn, AssociationType)."""
        return {
            "AssociationSummaries": [
                {
                    "SourceArn": s,
                    "DestinationArn": d,
                    "SourceType": "ModelPackage",
                    "DestinationType": "ModelPackage",
                    "AssociationType": t,
                    "CreationTime": CREATED,
                }
                for s, d, t in links
            ]
        }

    @staticmethod
    def artifact(arn: str, source_uri: str, artifact_type: str, name: str | None = None) -> dict[str, Any]:
        """A DescribeArtifact answer."""
        answer: dict[str, Any] = {
            "ArtifactArn": arn,
            "Source": {"SourceUri": source_uri, "SourceTypes": []},
            "ArtifactType": artifact_type,
            "CreationTime": CREATED,
        }
        if name:
            answer["ArtifactName"] = name
        return answer

    @staticmethod
    def training_component(job_name: str) -> dict[str, Any]:
        """A DescribeTrialComponent answer for SageMaker's auto-created training-job component."""
        name = f"{job_name}-aws-training-job"
        return {
            "TrialComponentName": name,
            "TrialComponentArn": f"{PREFIX}:experiment-trial-component/{name}",
            "DisplayName": job_name,
            "Source": {
                "SourceArn": f"{PREFIX}:training-job/{job_name}",
                "SourceType": "SageMakerTrainingJob",
            },
            "Status": {"PrimaryStatus": "Completed"},
            "CreationTime": CREATED,
        }

    @staticmethod
    def training_component_arn(job_name: str) -> str:
        return f"{PREFIX}:experiment-trial-component/{job_name}-aws-training-job"
