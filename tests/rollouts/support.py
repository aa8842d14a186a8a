"""What the rollout tests share: a SageMaker endpoint on moto serving a current
version and a candidate, a gateway over it, a clock moved by hand, and a
webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gateway.auth.principal import Principal
from gateway.config import Settings
from gateway.runtime import Gateway
from tests.adapters.contract import unique_name
from tests.adapters.test_sagemaker import inference_spec
from tests.support import make_settings

REGION = "ap-southeast-4"  # endpoints belong to a region: one of these tests' own
REGISTRY = "ads"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-rollouts"
POLICIES = """
policies: []
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD]
"""
ALICE = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"ads"}))
BOB = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"ads"}))


class DateClock:
    """Rollout time, moved by the test (step watch times pass when it says so)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Canary:
    """An endpoint whose ``current`` variant serves version 1 (all traffic) and
    whose ``candidate`` variant serves version 2 (weight 0)."""

    group: str
    endpoint: str
    current_uri: str
    candidate_uri: str
    candidate_package: str


def create_canary(sm: Any, *, candidate_variant: bool = True) -> Canary:
    """``candidate_variant=False``: the endpoint serves only version 1 (the
    rollout has to add the candidate itself)."""
    group = unique_name("Ranker")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arns = []
    for status in ("Approved", "PendingManualApproval"):
        arns.append(
            sm.create_model_package(
                ModelPackageGroupName=group,
                InferenceSpecification=inference_spec(f"s3://models/{group}/model.tar.gz"),
                ModelApprovalStatus=status,
            )["ModelPackageArn"]
        )
    models = []
    for arn in arns:
        name = unique_name("model")
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": arn})
        models.append(name)
    config = unique_name("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, model, weight in (("current", models[0], 1.0), ("candidate", models[1], 0.0))
            if candidate_variant or variant == "current"
        ],
    )
    endpoint = unique_name("endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    return Canary(group, endpoint, f"mg://{REGISTRY}/{group}/1", f"mg://{REGISTRY}/{group}/2", arns[1])


def endpoint_with_candidates(sm: Any, candidates: int) -> tuple[str, list[str]]:
    """An endpoint whose variant ``current`` serves version 1 (all traffic) and
    whose variants ``candidate<i>`` serve versions 2.. (weight 0); returns its name
    and the candidates' URIs."""
    group = unique_name("Ranker")
    sm.create_model_package_group(ModelPackageGroupName=group)
    variants = []
    for i in range(candidates + 1):
        arn = sm.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification=inference_spec(f"s3://models/{group}/{i}/model.tar.gz"),
            ModelApprovalStatus="Approved" if i == 0 else "PendingManualApproval",
        )["ModelPackageArn"]
        model = unique_name("model")
        sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": arn})
        variants.append(
            {
                "VariantName": "current" if i == 0 else f"candidate{i}",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0 if i == 0 else 0.0,
            }
        )
    config = unique_name("config")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=variants)
    endpoint = unique_name("endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    return endpoint, [f"mg://{REGISTRY}/{group}/{i}" for i in range(2, candidates + 2)]


def weights(sm: Any, endpoint: str) -> dict[str, float]:
    """Each variant's weight as SageMaker reports it now."""
    described = sm.describe_endpoint(EndpointName=endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    initial = {v["VariantName"]: v["InitialVariantWeight"] for v in config["ProductionVariants"]}
    # Until a weight update, moto (like AWS right after creation) may report no CurrentWeight.
    return {
        v["VariantName"]: float(v.get("CurrentWeight", v.get("DesiredWeight", initial[v["VariantName"]])))
        for v in described["ProductionVariants"]
    }


def invocations(cw: Any, endpoint: str, variant: str, at: datetime, calls: int, errors: int) -> None:
    """Metrics as SageMaker publishes them for an endpoint variant."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    cw.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": at, "Value": calls},
            {"MetricName": "Invocation5XXErrors", "Dimensions": dimensions, "Timestamp": at, "Value": errors},
        ],
    )


def rollout_settings(database_url: str, tmp_path: Path, moto_url: str, **rollouts: Any) -> Settings:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    return make_settings(
        database_url,
        tmp_path,
        registries=[
            {"id": REGISTRY, "kind": "sagemaker", "team": "ads", "region": REGION, "endpoint_url": moto_url}
        ],
        governance={"policies": str(policies)},
        rollouts=rollouts,
    )


async def open_gateway(settings: Settings, clock: DateClock) -> Gateway:
    gw = await Gateway.open(settings)
    gw.rollouts.clock = clock
    await gw.sync.sync_all(full=True)
    return gw


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str
    deliveries: list[Received] = field(default_factory=list)


def webhook_receiver() -> Iterator[WebhookReceiver]:
    """An HTTP server on a free port that records each POST and answers 204."""
    receiver = WebhookReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            receiver.deliveries.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def payload(delivery: Received) -> dict[str, Any]:
    return dict(json.loads(delivery.body))
