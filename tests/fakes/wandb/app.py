"""The fake's HTTP side: ``POST /graphql`` with HTTP Basic ``api:<key>``, every
document parsed and validated against ``schema.graphql`` (an unknown field,
argument, type or operation is a violation: recorded, answered 400, and the
test fails at teardown), executed by graphql-core over ``store.FakeStore``.

Test switches: ``fail_next`` (answer the next requests with a status, e.g. 429
with ``Retry-After``), ``protected_aliases`` with ``admin_keys`` (protected
aliases answer 403 to other keys), ``store.quirks`` (the SDK's paging bugs).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.error import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.wandb.store import ArtifactData, FakeStore, GraphQLFailure, RunData

OPERATION = re.compile(r"^\s*(query|mutation)\s+(\w+)", re.MULTILINE)
SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
# Features the fake reports to ServerFeaturesQuery (wandb-core asks before
# choosing which fields to send; e.g. ARTIFACT_DIGEST_ALGORITHM keeps ``digestAlgorithm``).
FEATURES = ("ARTIFACT_DIGEST_ALGORITHM", "ARTIFACT_REGISTRY_SEARCH")


def _json_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def load_schema() -> GraphQLSchema:
    schema = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    for name in ("JSONString", "JSON", "DateTime", "Int64"):
        scalar = schema.type_map[name]
        scalar.serialize = _json_string if name == "JSONString" else (lambda v: v)  # type: ignore[attr-defined]
        scalar.parse_value = lambda v: v  # type: ignore[attr-defined]

    def typename(value: Any, *_: Any) -> str:
        return str(getattr(value, "typename", "User"))

    schema.type_map["ArtifactCollection"].resolve_type = typename  # type: ignore[attr-defined]
    schema.type_map["ArtifactCreator"].resolve_type = typename  # type: ignore[attr-defined]
    run_fields = schema.type_map["Run"].fields  # type: ignore[attr-defined]
    run_fields["config"].resolve = lambda run, _info: run._config()
    artifact_fields = schema.type_map["Artifact"].fields  # type: ignore[attr-defined]
    artifact_fields["metadata"].resolve = lambda artifact, _info: artifact._metadata()
    return schema


@dataclass
class RecordedRequest:
    operation: str | None
    document: str
    variables: dict[str, Any]
    status: int = 200


@dataclass
class FakeWandb:
    store: FakeStore
    keys: set[str] = field(default_factory=set)
    admin_keys: set[str] = field(default_factory=set)
    protected_aliases: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _failures: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.schema = load_schema()

    def fail_next(self, *statuses: int, retry_after: str | None = None, operation: str | None = None) -> None:
        """Answer the next requests (named ``operation``, if given) with these statuses."""
        with self.lock:
            self._failures.extend((s, retry_after, operation) for s in statuses)

    def reset_switches(self) -> None:
        with self.lock:
            self._failures.clear()
            self.protected_aliases.clear()
            self.store.quirks.empty_pages = 0
            self.store.quirks.drop_end_cursor = False

    def operations(self, since: int = 0) -> list[str | None]:
        return [r.operation for r in self.requests[since:]]

    # --- HTTP ----------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/graphql", self._graphql, methods=["POST"]),
                Route("/storage/manifests/{artifact_id}", self._manifest, methods=["GET"]),
            ]
        )

    async def _manifest(self, request: Request) -> Response:
        """Object storage behind a signed URL: no API key, and none may be sent."""
        if "authorization" in request.headers:
            self.violations.append("the API key was sent to object storage")
        artifact = self.store.artifacts.get(request.path_params["artifact_id"])
        if artifact is None:
            return Response("NoSuchKey", status_code=404)
        return JSONResponse(artifact.manifest())

    def _key(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, key = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return key if user == "api" else None

    async def _graphql(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"errors": [{"message": "body is not JSON"}]}, status_code=400)
        document = str(body.get("query") or "")
        variables = body.get("variables") or {}
        named = OPERATION.search(document)
        record = RecordedRequest(
            body.get("operationName") or (named[2] if named else None), document, variables
        )
        with self.lock:
            self.requests.append(record)
            failure = next((f for f in self._failures if f[2] in (None, record.operation)), None)
            if failure is not None:
                self._failures.remove(failure)
        if failure is not None:
            status, retry_after, _ = failure
            record.status = status
            headers = {"Retry-After": retry_after} if retry_after else {}
            message = "rate limit exceeded" if status == 429 else "injected failure"
            return JSONResponse({"errors": [{"message": message}]}, status_code=status, headers=headers)
        key = self._key(request)
        if key is None or key not in self.keys:
            record.status = 401
            return JSONResponse({"errors": [{"message": "user is not logged in"}]}, status_code=401)
        status, answer = self._run(document, variables, key, record)
        record.status = status
        return JSONResponse(answer, status_code=status)

    def _run(
        self, document: str, variables: dict[str, Any], key: str, record: RecordedRequest
    ) -> tuple[int, dict[str, Any]]:
        try:
            ast = parse(document)
        except GraphQLError as exc:
            self.violations.append(f"unparsable document: {exc.message}\n{document}")
            return 400, {"errors": [{"message": exc.message}]}
        if record.operation is None:
            names = [d.name.value for d in ast.definitions if getattr(d, "operation", None) and d.name]  # type: ignore[attr-defined]
            record.operation = names[0] if names else None
        errors = validate(self.schema, ast)
        if errors:
            text = "; ".join(e.message for e in errors)
            self.violations.append(f"{record.operation}: {text}")
            return 400, {"errors": [{"message": e.message} for e in errors]}
        with self.store.lock:
            result = execute(
                self.schema,
                ast,
                root_value=_Root(self, key),
                variable_values=variables,
                operation_name=record.operation,
            )
        if result.errors:
            for error in result.errors:
                original = error.original_error
                if isinstance(original, GraphQLFailure):
                    return original.status, {"errors": [{"message": original.message, "path": error.path}]}
            text = "; ".join(e.message for e in result.errors)
            if any(e.original_error is None for e in result.errors):  # bad variables: the client's fault
                self.violations.append(f"{record.operation}: {text}")
                return 400, {"errors": [{"message": e.message} for e in result.errors]}
            raise RuntimeError(f"the fake failed on {record.operation}: {text}")
        return 200, {"data": result.data}


class _Root:
    """Query and Mutation fields."""

    def __init__(self, fake: FakeWandb, key: str):
        self._fake = fake
        self._store = fake.store
        self._key = key

    def serverInfo(self, info: Any) -> dict[str, Any]:
        return {"features": [{"name": name, "isEnabled": True} for name in FEATURES]}

    def viewer(self, info: Any) -> dict[str, Any]:
        team = self._store.team
        return {
            "id": "VXNlcjox",
            "name": "Data Scientist",
            "username": "ds",
            "entity": team.name,
            "email": "ds@acme.test",
            "flags": "{}",
            "teams": {"edges": [{"node": team}]},
        }

    def organization(self, info: Any, name: str | None = None) -> Any:
        org = self._store.organization
        return org if name in (org.name, org.orgEntity.name) else None

    def entity(self, info: Any, name: str | None = None) -> Any:
        return self._store.entities.get(name or "")

    def project(self, info: Any, name: str | None = None, entityName: str | None = None) -> Any:
        return self._store.projects.get((entityName or "", name or ""))

    def artifact(self, info: Any, id: str) -> ArtifactData | None:
        return self._store.artifacts.get(id)

    def _may_protect(self) -> bool:
        return self._key in self._fake.admin_keys

    def addAliases(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._store.change_aliases(
            input["artifactID"],
            input["aliases"],
            add=True,
            may_protect=self._may_protect(),
            protected=self._fake.protected_aliases,
        )
        return {"success": True, "clientMutationId": input.get("clientMutationId")}

    def deleteAliases(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._store.change_aliases(
            input["artifactID"],
            input["aliases"],
            add=False,
            may_protect=self._may_protect(),
            protected=self._fake.protected_aliases,
        )
        return {"success": True, "clientMutationId": input.get("clientMutationId")}

    def updateArtifact(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        return {
            "artifact": self._store.update_artifact(input),
            "clientMutationId": input.get("clientMutationId"),
        }


__all__ = ["FakeWandb", "RecordedRequest", "RunData"]
