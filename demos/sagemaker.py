"""The demo's SageMaker Model Registry: moto (the AWS emulator) served in-process
on a free loopback port, filled through boto3 the way a team uses SageMaker, and
federated as registry ``fraud-sagemaker`` (kind ``sagemaker``).

What it shows: a package whose ``ModelDataUrl`` is a native version's artifact
(SAME_AS), packages derived from native models (``lineage.parent`` in
``CustomerMetadataProperties``: lineage across registries), a group with two
``Approved`` packages (two PRODUCTION versions: the catalogue's
``multipleProduction`` conflict) and an endpoint whose canary splits traffic
between them (the Serving page). moto keeps everything in memory, so it is
filled afresh, identically, at every start. Needs ``moto[server]`` and boto3
(the ``demo`` extra).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import RegistrySettings, Settings
from gateway.wording import plural

REGISTRY_ID = "fraud-sagemaker"
TEAM = "fraud"
REGION = "us-east-1"
# moto accepts any keys; these go only into the demo's own client and registry,
# so whatever AWS credentials the user has are never read nor sent.
DUMMY_KEYS = {"aws_access_key_id": "modelgate-demo", "aws_secret_access_key": "modelgate-demo"}
ROLE = "arn:aws:iam::123456789012:role/modelgate-demo-sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ENDPOINT = "fraud-detector-live"
INSTALL_HINT = "pip install 'modelgate[demo]' (moto[server] and boto3)"


@dataclass(frozen=True)
class DemoPackage:
    artifact: str
    description: str
    approval: str  # ModelApprovalStatus: PendingManualApproval | Approved | Rejected
    properties: dict[str, str]
    variant: tuple[str, float] | None = None  # (production variant, weight) on the demo endpoint


# CustomerMetadataProperties values allow letters, digits, spaces and _.:/=+-@ only.
CARD = {
    "model_card.intended_use": "Scoring card-not-present transactions at checkout",
    "model_card.limitations": "Same features as the platform model - not retrained on SageMaker",
    "model_card.evaluation": "AUC as recorded by the platform registry",
    "model_card.bias_assessment": "False-positive rates within 2 percent across regions - the platform check",
    "modelgate.code.repository": "https://git.acme.example/ml/fraud-detector",
}

# (group, description, packages in version order)
DEMO_SAGEMAKER: list[tuple[str, str, list[DemoPackage]]] = [
    (
        "fraud-detector-sm",
        "The platform fraud detector, packaged for the fraud team's SageMaker endpoint.",
        [
            DemoPackage(
                # The very artifact of mg://platform/fraud-detector/5: one model in two registries.
                "s3://acme-models/platform/fraud-detector/1.4.0/model.tar.gz",
                "Imported from the platform registry as is",
                "Approved",
                {
                    "modelgate.semver": "1.4.0",
                    "framework": "xgboost",
                    "modelgate.code.commit": "05c0ffee5",
                    **CARD,
                },
                variant=("primary", 9.0),
            ),
            DemoPackage(
                "s3://acme-models/fraud-sagemaker/fraud-detector-sm/2/model.tar.gz",
                "Recalibrated on the 2026-10 chargebacks",
                "Approved",  # and v1 was never set back: two PRODUCTION versions
                {
                    "modelgate.semver": "1.5.0",
                    "framework": "xgboost",
                    "modelgate.code.commit": "51ca1b7e",
                    "lineage.parent": "mg://platform/fraud-detector/6",
                    "lineage.training_data": "s3://acme-data/fraud/chargebacks/2026-10/",
                    **CARD,
                },
                variant=("canary", 1.0),
            ),
        ],
    ),
    (
        "churn-retention-offers",
        "Picks the retention offer for a subscriber the churn model flags.",
        [
            DemoPackage(
                "s3://acme-models/fraud-sagemaker/churn-retention-offers/1/model.tar.gz",
                "First try: offers only, without the churn score",
                "Rejected",
                {"modelgate.semver": "0.1.0", "framework": "sklearn"},
            ),
            DemoPackage(
                "s3://acme-models/fraud-sagemaker/churn-retention-offers/2/model.tar.gz",
                "Uses the platform churn score as a feature",
                "PendingManualApproval",
                {
                    "modelgate.semver": "0.2.0",
                    "framework": "sklearn",
                    "lineage.parent": "mg://platform/churn-predictor/3",
                    "model_card.intended_use": "Choosing which retention offer to show",
                },
            ),
        ],
    ),
]


def moto_available() -> bool:
    """Whether the emulator and boto3 can be imported (the ``demo`` extra)."""
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def local_sagemaker() -> Iterator[str]:
    """moto's server in a thread of this process on a free loopback port; yields
    its URL and stops it afterwards."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO: the gateway's syncs would flood the demo's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(url: str) -> Any:
    import boto3

    return boto3.session.Session(region_name=REGION, **DUMMY_KEYS).client("sagemaker", endpoint_url=url)


def seed_sagemaker(url: str) -> int:
    """Create the demo groups, packages and endpoint with boto3 (as a team's
    pipeline would); groups that exist are left alone. Returns the packages created."""
    sm = client(url)
    existing = {
        g["ModelPackageGroupName"] for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
    }
    created = 0
    variants: list[dict[str, Any]] = []
    for group, description, packages in DEMO_SAGEMAKER:
        if group in existing:
            continue
        sm.create_model_package_group(
            ModelPackageGroupName=group,
            ModelPackageGroupDescription=description,
            Tags=[{"Key": "team", "Value": TEAM}],
        )
        for number, package in enumerate(packages, start=1):
            arn = sm.create_model_package(
                ModelPackageGroupName=group,
                ModelPackageDescription=package.description,
                InferenceSpecification={
                    "Containers": [{"Image": IMAGE, "ModelDataUrl": package.artifact}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
                ModelApprovalStatus=package.approval,
                CustomerMetadataProperties=package.properties,
            )["ModelPackageArn"]
            created += 1
            if package.variant:
                model = f"{group}-v{number}"
                sm.create_model(
                    ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": arn}
                )
                name, weight = package.variant
                variants.append(
                    {
                        "VariantName": name,
                        "ModelName": model,
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                        "InitialVariantWeight": weight,
                    }
                )
    if variants:
        sm.create_endpoint_config(EndpointConfigName=f"{ENDPOINT}-config", ProductionVariants=variants)
        sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config")
    return created


@contextlib.contextmanager
def credentials_file() -> Iterator[Path]:
    """The dummy keys as an AWS shared-credentials file the registry reads
    (``credentials_file``), removed when the demo stops."""
    with tempfile.TemporaryDirectory(prefix="modelgate-demo-aws-") as folder:
        path = Path(folder) / "credentials"
        keys = "".join(f"{k} = {v}\n" for k, v in DUMMY_KEYS.items())
        path.write_text(f"[default]\n{keys}", encoding="utf-8")
        path.chmod(0o600)
        yield path


def with_sagemaker_registry(settings: Settings, url: str, credentials: Path) -> Settings:
    """``settings`` with the demo SageMaker registry added."""
    registry = RegistrySettings(
        id=REGISTRY_ID,
        kind="sagemaker",
        team=TEAM,
        sync_interval_seconds=30,
        options={
            "region": REGION,
            "endpoint_url": url,
            "credentials_file": str(credentials),
            "lineage": False,  # moto has no lineage API; the declared lineage is read from the packages
        },
        key=f"registries[{len(settings.registries)}]",
    )
    return dataclasses.replace(settings, registries=(*settings.registries, registry))


def start(stack: contextlib.ExitStack, settings: Settings) -> Settings | None:
    """Start and fill the emulator (stopped with ``stack``) and return ``settings``
    with the registry added; None, after saying how to add it, without moto."""
    if not moto_available():
        print(f"SageMaker registry left out: the emulator is not installed ({INSTALL_HINT})", flush=True)
        return None
    url = stack.enter_context(local_sagemaker())
    added = seed_sagemaker(url)
    credentials = stack.enter_context(credentials_file())
    print(
        f"SageMaker Model Registry (moto) at {url} (registry {REGISTRY_ID}, kind sagemaker): "
        f"{plural(added, 'model package')} added, endpoint {ENDPOINT}",
        flush=True,
    )
    return with_sagemaker_registry(settings, url, credentials)
