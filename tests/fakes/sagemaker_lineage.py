"""SageMaker's lineage API in front of moto, which has none.

moto 5.2 implements model package groups and packages but answers the lineage
operations (``CreateArtifact``, ``AddAssociation``, ``ListArtifacts``,
``QueryLineage``, ``ListAssociations``, ``DescribeArtifact``) with HTTP 500.
This front serves those six itself and forwards every other request to moto
unchanged, so a test seeds lineage with boto3 exactly as a team would and the
adapter reads it over the same endpoint.

Built on botocore's service model: every request to a served operation is
validated against its input shape (a violation is SageMaker's
``ValidationException``), every answer against its output shape, including
the patterns and enums ``Stubber`` also leaves unchecked (a violation is
recorded in ``violations``, which the fixture asserts empty).

What SageMaker does and the front repeats: ``CreateModelPackage`` creates a
lineage artifact of type ``ModelPackage`` whose ``Source.SourceUri`` is the
package ARN; ``QueryLineage`` with ``Direction=Ascendants`` walks associations
from destination to source, up to ``MaxDepth`` (10 by default); an
association's ends must exist. Choices where AWS documents nothing (tests must
not rely on them): the start entity is not among the vertices; page tokens are
offsets.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import botocore.session
import httpx
from botocore.model import OperationModel, ServiceModel
from botocore.validate import ParamValidator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.sagemaker_stub import _check

ACCOUNT = "123456789012"  # moto's default account
SERVED = frozenset(
    {
        "CreateArtifact",
        "AddAssociation",
        "ListArtifacts",
        "QueryLineage",
        "ListAssociations",
        "DescribeArtifact",
    }
)
REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/sagemaker/")
LINEAGE_TYPES = {
    "artifact": "Artifact",
    "trial-component": "TrialComponent",
    "context": "Context",
    "action": "Action",
}
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


class LineageError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def _epoch(value: Any) -> Any:
    """Output as the JSON protocol sends it: timestamps as epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Mapping):
        return {k: _epoch(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_epoch(v) for v in value]
    return value


class SageMakerLineage:
    """The lineage store, one per region; thread-safe (the server runs in its own thread)."""

    def __init__(self, moto_url: str):
        self.moto_url = moto_url.rstrip("/")
        self.model = service_model()
        self.validator = ParamValidator()
        self.violations: list[str] = []
        self._lock = threading.RLock()
        self.artifacts: dict[str, dict[str, Any]] = {}  # ARN -> DescribeArtifact answer
        self.associations: list[dict[str, Any]] = []  # AssociationSummary objects

    # --- the served operations -------------------------------------------------

    def _new_artifact(self, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        arn = f"arn:aws:sagemaker:{region}:{ACCOUNT}:artifact/{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        artifact = {
            "ArtifactArn": arn,
            "Source": dict(body["Source"]),
            "ArtifactType": body["ArtifactType"],
            "CreationTime": now,
            "LastModifiedTime": now,
            **{k: body[k] for k in ("ArtifactName", "Properties", "MetadataProperties") if k in body},
        }
        self.artifacts[arn] = artifact
        return artifact

    def create_artifact(self, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"ArtifactArn": self._new_artifact(region, body)["ArtifactArn"]}

    def _entity(self, arn: str) -> tuple[str, str | None, str | None]:
        """(lineage type, entity type, name) of an association end; artifacts must exist."""
        kind = arn.split(":", 5)[-1].split("/", 1)[0]
        if kind == "artifact":
            artifact = self.artifacts.get(arn)
            if artifact is None:
                raise LineageError("ResourceNotFound", f"Artifact {arn} does not exist.")
            return "Artifact", artifact["ArtifactType"], artifact.get("ArtifactName")
        if kind not in LINEAGE_TYPES:
            raise LineageError("ValidationException", f"{arn} is not a lineage entity.")
        return LINEAGE_TYPES[kind], None, arn.rsplit("/", 1)[-1]

    def add_association(self, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        source, destination = body["SourceArn"], body["DestinationArn"]
        _, source_type, source_name = self._entity(source)
        _, destination_type, destination_name = self._entity(destination)
        if any(a["SourceArn"] == source and a["DestinationArn"] == destination for a in self.associations):
            raise LineageError("ResourceInUse", "The association already exists.")
        summary = {
            "SourceArn": source,
            "DestinationArn": destination,
            "AssociationType": body.get("AssociationType", "AssociatedWith"),
            "CreationTime": datetime.now(UTC),
            **({"SourceType": source_type} if source_type else {}),
            **({"DestinationType": destination_type} if destination_type else {}),
            **({"SourceName": source_name} if source_name else {}),
            **({"DestinationName": destination_name} if destination_name else {}),
        }
        self.associations.append(summary)
        return {"SourceArn": source, "DestinationArn": destination}

    @staticmethod
    def _page(items: list[dict[str, Any]], key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 10)
        out: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return out

    def list_artifacts(self, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        found = [
            {
                k: a[k]
                for k in (
                    "ArtifactArn",
                    "ArtifactName",
                    "Source",
                    "ArtifactType",
                    "CreationTime",
                    "LastModifiedTime",
                )
                if k in a
            }
            for a in self.artifacts.values()
            if f":{region}:" in a["ArtifactArn"]
            and ("SourceUri" not in body or a["Source"]["SourceUri"] == body["SourceUri"])
            and ("ArtifactType" not in body or a["ArtifactType"] == body["ArtifactType"])
        ]
        return self._page(found, "ArtifactSummaries", body)

    def list_associations(self, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        found = [
            a
            for a in self.associations
            if all(
                a.get(k) == body[k] for k in ("SourceArn", "DestinationArn", "AssociationType") if k in body
            )
        ]
        return self._page(found, "AssociationSummaries", body)

    def query_lineage(self, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        starts = list(body.get("StartArns") or ())
        direction = body.get("Direction", "Both")
        depth = int(body.get("MaxDepth", 10))
        up, down = direction in ("Ascendants", "Both"), direction in ("Descendants", "Both")
        seen, frontier, vertices = set(starts), list(starts), []
        for _ in range(depth):
            following = []
            for arn in frontier:
                for a in self.associations:
                    nxt = None
                    if up and a["DestinationArn"] == arn:
                        nxt = a["SourceArn"]
                    elif down and a["SourceArn"] == arn:
                        nxt = a["DestinationArn"]
                    if nxt and nxt not in seen:
                        seen.add(nxt)
                        following.append(nxt)
                        lineage_type, entity_type, _ = self._entity(nxt)
                        vertex = {"Arn": nxt, "LineageType": lineage_type}
                        entity_type = entity_type or a.get(
                            "SourceType" if nxt == a["SourceArn"] else "DestinationType"
                        )
                        if entity_type:
                            vertex["Type"] = entity_type
                        vertices.append(vertex)
            frontier = following
        out = self._page(vertices, "Vertices", body)
        if body.get("IncludeEdges"):
            out["Edges"] = [
                {k: a[k] for k in ("SourceArn", "DestinationArn", "AssociationType")}
                for a in self.associations
                if a["SourceArn"] in seen and a["DestinationArn"] in seen
            ]
        return out

    def describe_artifact(self, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        artifact = self.artifacts.get(body["ArtifactArn"])
        if artifact is None:
            raise LineageError("ResourceNotFound", f"Artifact {body['ArtifactArn']} does not exist.")
        return dict(artifact)

    # --- what SageMaker adds to moto's own operations ---------------------------

    def package_created(self, region: str, request: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
        """CreateModelPackage: the package's lineage artifact, as SageMaker creates it."""
        arn = answer.get("ModelPackageArn")
        if not arn:
            return
        group, version = arn.rsplit("/", 2)[-2:]
        name = f"{group[:80]}-{version}-{int(time.time())}-aws-model-package"
        self._new_artifact(
            region, {"Source": {"SourceUri": arn}, "ArtifactType": "ModelPackage", "ArtifactName": name}
        )

    # --- HTTP ---------------------------------------------------------------------

    def _validated(self, operation: OperationModel, body: Mapping[str, Any]) -> None:
        report = self.validator.validate(dict(body), operation.input_shape)
        if report.has_errors():
            raise LineageError("ValidationException", report.generate_report())
        try:
            _check(operation.input_shape, body, operation.name)
        except AssertionError as exc:
            raise LineageError("ValidationException", str(exc)) from None

    def _check_answer(self, operation: OperationModel, answer: Mapping[str, Any]) -> None:
        report = self.validator.validate(dict(answer), operation.output_shape)
        problems = [report.generate_report()] if report.has_errors() else []
        try:
            _check(operation.output_shape, answer, operation.name)
        except AssertionError as exc:
            problems.append(str(exc))
        self.violations += [f"{operation.name}: {p}" for p in problems]

    def serve(self, name: str, region: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        operation = self.model.operation_model(name)
        try:
            body = json.loads(raw or b"{}")
            self._validated(operation, body)
            with self._lock:
                handler = getattr(self, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())
                answer = handler(region, body)
        except LineageError as exc:
            return 400, {"__type": exc.code, "message": exc.message}
        except ValueError:
            return 400, {"__type": "SerializationException", "message": "Malformed JSON"}
        self._check_answer(operation, answer)
        return 200, _epoch(answer)

    def app(self) -> Starlette:
        client = httpx.AsyncClient(base_url=self.moto_url, timeout=30)

        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            target = request.headers.get("x-amz-target", "")
            name = target.removeprefix("SageMaker.")
            match = REGION_IN_AUTH.search(request.headers.get("authorization", ""))
            region = match.group(1) if match else "us-east-1"
            if name in SERVED:
                status, payload = self.serve(name, region, raw)
                return Response(json.dumps(payload), status, media_type="application/x-amz-json-1.1")
            headers = {
                k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
            }
            forwarded = await client.request(
                request.method, request.url.path, params=request.query_params, content=raw, headers=headers
            )
            if name == "CreateModelPackage" and forwarded.status_code == 200:
                with self._lock:
                    self.package_created(region, json.loads(raw or b"{}"), forwarded.json())
            out = {k: v for k, v in forwarded.headers.items() if k.lower() not in HOP_BY_HOP}
            return Response(forwarded.content, forwarded.status_code, headers=out)

        return Starlette(
            routes=[Route("/{path:path}", endpoint, methods=["GET", "POST", "PUT", "DELETE", "HEAD"])]
        )


def run_in_thread(front: SageMakerLineage) -> Iterator[str]:
    """Serve ``front`` on a free port until the generator is closed; yields its URL."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(front.app(), log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sagemaker-lineage", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the SageMaker lineage front did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
