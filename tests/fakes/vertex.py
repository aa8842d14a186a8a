"""A faithful fake of Vertex AI's Model Registry (REST v1) and Google's OAuth 2.0 token endpoint.

There is no Vertex emulator. This fake is built from Google's own discovery
document ``aiplatform.v1.json`` (shipped inside google-api-python-client):

- **Routing** comes from the document: each served method is matched by its
  ``flatPath`` and HTTP method, and a query parameter the method does not
  declare is refused as Google does (``Cannot bind query parameter``).
- **Request bodies** are validated against the method's request schema
  (unknown fields are refused, as Google's JSON parser does).
- **Every response** (successes, ``{"error": {code, message, status}}`` errors
  and the token endpoint's answers) is validated against the document's schema,
  converted to JSON Schema by ``to_json_schema``; violations are recorded in
  ``FakeVertex.violations`` and a test asserts there are none.

Served: ``models.list / get / listVersions / mergeVersionAliases / patch /
upload`` (a long-running operation, done on the first ``operations.get``),
``models.operations.get``, ``metadataStores.artifacts.queryArtifactLineageSubgraph``,
``endpoints.list / get / patch`` (``patch`` with ``updateMask=traffic_split``
only), ``endpoints.deployModel`` (a long-running operation, done on the first
``endpoints.operations.get``; ``"0"`` in its ``trafficSplit`` names the model
being deployed), ``endpoints.operations.list``, and the ML Metadata writes a
team's training code makes (``artifacts.create``, ``executions.create``,
``executions.addExecutionEvents``; every upload also creates the version's
``google.VertexModel`` artifact, as Vertex does).
Not served, so set through test-only methods: creating an endpoint with its
first deployment (``deploy``; ``endpoints.create`` is not served);
``add_training_run`` is a shortcut for a whole run. Cloud Monitoring's
``timeSeries.list / create`` are served on the same port under ``/v3/``
(``tests.fakes.vertex_monitoring``).

Behaviour Google documents and the fake implements: ``default`` alias on a
model's first version, exactly one ``default`` per model; an alias is unique
within a model and moves from the version that held it when merged onto
another; ``-alias`` removes; adding and removing one alias in a request cancel
out; GET without ``@`` answers the ``default`` version; ``listVersions`` names
carry ``@VERSION``; ``updateMask=labels`` replaces the label map; timestamps in
proto3 JSON form (``Z``, 0/3/6/9 fractional digits); resource names in answers
carry the project *number*.

Choices the fake makes where Google documents nothing (tests must not depend
on them being true of Google): every write bumps ``versionUpdateTime`` and the
model's ``updateTime``; ``models.list`` shows each model as its ``default``
version and filters on that version's labels; default order is creation time;
removing ``default`` is ``INVALID_ARGUMENT``; an etag mismatch is ``ABORTED``;
one lineage hop is one event edge; deploying the first model onto an endpoint
without a ``trafficSplit`` gives it 100 % (what ``gcloud ai endpoints deploy-model``
sends by default); a traffic split is refused unless it sums to 100 and names
deployed models only (Google documents both rules); a ``deployModel``
operation finishes (the deployed model joins the endpoint, the split is set)
on its first ``operations.get`` (after ``deploy_polls`` "not done" answers, to
play a deployment that takes minutes), ends in a RESOURCE_EXHAUSTED error for
each message in ``deploy_failures``, and needs ``dedicatedResources`` with a
machine type (the uploaded models support DEDICATED_RESOURCES only); the token
endpoint also refuses a replayed ``jti`` (stricter than Google documents).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import googleapiclient
import jsonschema
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DISCOVERY_FILE = Path(googleapiclient.__file__).parent / "discovery_cache/documents/aiplatform.v1.json"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
TYPE_PREFIX = "type.googleapis.com/google.cloud.aiplatform.v1."
ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-]$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
MODEL_ID = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
SERVED = {
    "aiplatform.projects.locations.models.list",
    "aiplatform.projects.locations.models.get",
    "aiplatform.projects.locations.models.listVersions",
    "aiplatform.projects.locations.models.mergeVersionAliases",
    "aiplatform.projects.locations.models.patch",
    "aiplatform.projects.locations.models.upload",
    "aiplatform.projects.locations.models.operations.get",
    "aiplatform.projects.locations.metadataStores.artifacts.queryArtifactLineageSubgraph",
    "aiplatform.projects.locations.endpoints.list",
    "aiplatform.projects.locations.endpoints.get",
    "aiplatform.projects.locations.endpoints.patch",
    "aiplatform.projects.locations.endpoints.deployModel",
    "aiplatform.projects.locations.endpoints.operations.get",
    "aiplatform.projects.locations.endpoints.operations.list",
    "aiplatform.projects.locations.metadataStores.artifacts.create",
    "aiplatform.projects.locations.metadataStores.executions.create",
    "aiplatform.projects.locations.metadataStores.executions.addExecutionEvents",
}
METADATA_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
# google.rpc.Code names and the HTTP status Google maps each to.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INTERNAL": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
STATUS_OF = {
    400: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


# --- the discovery document as JSON Schema ---------------------------------------

_FORMAT_PATTERNS = {
    "google-datetime": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.(\d{3}|\d{6}|\d{9}))?Z$",
    "int64": r"^-?\d+$",
    "uint64": r"^\d+$",
    "google-duration": r"^-?\d+(\.\d{1,9})?s$",
    "byte": r"^[A-Za-z0-9+/_-]*={0,2}$",
}


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """One discovery-dialect schema as JSON Schema (2020-12).

    ``$ref`` names point into ``$defs``; ``any`` accepts anything; int64 and
    datetime formats (strings on the wire) become patterns; objects with declared
    properties are closed, so a field the fake invents is a violation.
    """
    if "$ref" in schema:
        return {"$ref": f"#/$defs/{schema['$ref']}"}
    kind = schema.get("type")
    out: dict[str, Any] = {}
    if kind == "object":
        out["type"] = "object"
        if "properties" in schema:
            out["properties"] = {k: to_json_schema(v) for k, v in schema["properties"].items()}
            out["additionalProperties"] = False
        if "additionalProperties" in schema:
            out["additionalProperties"] = to_json_schema(schema["additionalProperties"])
    elif kind == "array":
        out = {"type": "array", "items": to_json_schema(schema.get("items", {}))}
    elif kind in ("string", "integer", "number", "boolean"):
        out["type"] = kind
        if kind == "string" and schema.get("format") in _FORMAT_PATTERNS:
            out["pattern"] = _FORMAT_PATTERNS[schema["format"]]
    if "enum" in schema:
        out["enum"] = list(schema["enum"])
    return out


class SchemaBook:
    """Validators for the document's schemas, plus the envelopes it leaves implicit."""

    def __init__(self, document: Mapping[str, Any], status_schema: str = "GoogleRpcStatus"):
        defs = {name: to_json_schema(s) for name, s in document["schemas"].items()}
        # The REST error body wraps google.rpc.Status and adds the code's name as
        # ``status`` (AIP-193); the discovery document describes only the Status.
        status = dict(defs[status_schema])
        status["properties"] = {**status["properties"], "status": {"enum": sorted(HTTP_STATUS)}}
        status["required"] = ["code", "message", "status"]
        defs["ErrorEnvelope"] = {
            "type": "object",
            "properties": {"error": status},
            "required": ["error"],
            "additionalProperties": False,
        }
        # RFC 6749 §5.1 / §5.2, as Google's token endpoint answers the JWT bearer grant.
        defs["TokenResponse"] = {
            "type": "object",
            "properties": {
                "access_token": {"type": "string", "minLength": 1},
                "expires_in": {"type": "integer", "minimum": 1},
                "token_type": {"const": "Bearer"},
            },
            "required": ["access_token", "expires_in", "token_type"],
            "additionalProperties": False,
        }
        defs["TokenError"] = {
            "type": "object",
            "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
            "required": ["error"],
            "additionalProperties": False,
        }
        self._defs = defs
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    def errors(self, name: str, instance: Any) -> list[str]:
        validator = self._validators.get(name)
        if validator is None:
            schema = {"$defs": self._defs, "$ref": f"#/$defs/{name}"}
            validator = self._validators[name] = jsonschema.Draft202012Validator(schema)
        return [
            f"{name} at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def any_errors(self, value: Any, expected: str) -> list[str]:
        """A ``google.protobuf.Any`` (``@type`` plus the message's fields) of aiplatform v1."""
        if not isinstance(value, dict) or value.get("@type") != TYPE_PREFIX + expected:
            return [f"Any: expected @type {TYPE_PREFIX + expected}, got {value!r:.80}"]
        return self.errors(
            f"GoogleCloudAiplatformV1{expected}", {k: v for k, v in value.items() if k != "@type"}
        )


@functools.cache
def discovery_document() -> dict[str, Any]:
    return json.loads(DISCOVERY_FILE.read_text(encoding="utf-8"))


@functools.cache
def schema_book() -> SchemaBook:
    return SchemaBook(discovery_document())


@dataclass(frozen=True)
class ApiMethod:
    id: str
    http_method: str
    pattern: re.Pattern[str]
    query: frozenset[str]
    integer_query: frozenset[str]
    request: str | None
    response: str | None


def _methods(resource: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _methods(child)


@functools.cache
def api_methods() -> tuple[ApiMethod, ...]:
    """The served methods, routed by their discovery ``flatPath``."""
    doc = discovery_document()
    standard = set(doc["parameters"])
    found = []
    for m in _methods(doc):
        if m["id"] not in SERVED:
            continue
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/:]+)", re.escape("/" + m["flatPath"]))
        params = m.get("parameters", {})
        query = {name for name, p in params.items() if p.get("location") == "query"}
        found.append(
            ApiMethod(
                id=m["id"],
                http_method=m["httpMethod"],
                pattern=re.compile(f"^{regex}$"),
                query=frozenset(query | standard),
                integer_query=frozenset(n for n in query if params[n].get("type") == "integer"),
                request=(m.get("request") or {}).get("$ref"),
                response=(m.get("response") or {}).get("$ref"),
            )
        )
    return tuple(found)


# --- errors and time -------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: str, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": HTTP_STATUS[self.status],
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


class OAuthFailure(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.http_status = status
        self.body = {"error": error, "error_description": description}


def rfc3339(ns: int) -> str:
    """proto3 JSON form of a Timestamp: UTC, ``Z``, 0, 3, 6 or 9 fractional digits."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


@functools.total_ordering
class _Desc:
    """Reverses the order of one sort-key component (``field desc``)."""

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value


# --- the store -----------------------------------------------------------------


@dataclass
class StoredVersion:
    version_id: str
    created: int
    artifact: str  # the ML Metadata artifact Vertex creates with every version
    aliases: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    description: str = ""
    artifact_uri: str = ""
    container_spec: dict[str, Any] = field(default_factory=dict)
    metadata: Any = None
    deployed: list[dict[str, str]] = field(default_factory=list)
    updated: int = 0
    etag: str = ""


@dataclass
class StoredModel:
    model_id: str
    display_name: str
    created: int
    description: str = ""
    updated: int = 0
    versions: dict[str, StoredVersion] = field(default_factory=dict)
    next_version: int = 1

    def default(self) -> StoredVersion:
        return next(v for v in self.versions.values() if "default" in v.aliases)


def dedicated(machine_type: str = "n1-standard-2", replicas: int = 1) -> dict[str, Any]:
    return {"dedicatedResources": {"machineSpec": {"machineType": machine_type}, "minReplicaCount": replicas}}


@dataclass
class StoredDeployedModel:
    deployed_id: str
    model_id: str
    version_id: str
    created: int
    resources: dict[str, Any] = field(default_factory=dedicated)
    display_name: str | None = None


@dataclass
class StoredEndpoint:
    endpoint_id: str
    display_name: str
    created: int
    updated: int = 0
    deployed: list[StoredDeployedModel] = field(default_factory=list)
    traffic: dict[str, int] = field(default_factory=dict)
    etag: str = ""


@dataclass
class IssuedToken:
    email: str
    expires_at: float  # on FakeVertex.token_clock


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    status: int = 0
    body: Any = None


class FakeVertex:
    """State and behaviour of the fake; thread-safe (the server runs in its own thread)."""

    def __init__(self, project_id: str, project_number: str, location: str):
        self.project_id = project_id
        self.project_number = project_number
        self.location = location
        self._lock = threading.RLock()
        self._clock_ns = 0
        self._ids = 1_000_000_000_000_000_000
        self.models: dict[str, StoredModel] = {}
        self.endpoints: dict[str, StoredEndpoint] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.operation_types: dict[str, tuple[str, str]] = {}  # name -> (metadata, response) types
        self.polls_left: dict[str, int] = {}  # operation -> "not done" answers still to give
        self.unfinished: dict[str, Callable[[], dict[str, Any]]] = {}  # operation -> its completion
        from tests.fakes.vertex_monitoring import FakeMonitoring  # it builds on this module

        self.monitoring = FakeMonitoring(self)
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.executions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, RSAKey]] = {}  # email -> kid -> public key
        self.tokens: dict[str, IssuedToken] = {}
        self.tokens_issued = 0
        self.last_assertion: dict[str, Any] = {}
        self.seen_jti: set[str] = set()
        self.violations: list[str] = []
        self.requests: list[RequestRecord] = []
        self.reset_switches()

    # --- switches for tests ------------------------------------------------------

    def reset_switches(self) -> None:
        with self._lock:
            self.token_lifetime = 3599  # what Google issues
            # When issued tokens expire; a test hands in the adapter's ManualClock so
            # that expiry follows the test's time, not a loaded machine's.
            self.token_clock: Callable[[], float] = time.monotonic
            self.revoked_kids: set[str] = set()
            # Google's own google-auth always signs this audience, whatever token_uri says.
            self.expected_audience = "https://oauth2.googleapis.com/token"
            self.failures: deque[tuple[int, str | None]] = deque()
            self.token_failures: deque[int] = deque()
            # Messages of the next deployModel operations to end in an error (a quota, say).
            self.deploy_failures: deque[str] = deque()
            # How many operations.get answers of a new deployModel say "not done" first.
            self.deploy_polls = 0
            self.accept_tokens = True  # False: the API refuses every token (clock skew, wrong universe)

    def add_service_account(self, email: str, kid: str, public_key: RSAKey) -> None:
        with self._lock:
            self.accounts.setdefault(email, {})[kid] = public_key

    def expire_tokens(self) -> None:
        """Every issued access token stops working (as on revocation or expiry)."""
        with self._lock:
            self.tokens.clear()

    def fail_next(self, *statuses: int, method: str | None = None) -> None:
        """The next API requests (of one HTTP ``method``, if given) answer these
        HTTP statuses with Google error bodies, one request each."""
        with self._lock:
            self.failures.extend((status, method) for status in statuses)

    # --- names -----------------------------------------------------------------

    @property
    def parent(self) -> str:
        return f"projects/{self.project_number}/locations/{self.location}"

    def model_name(self, model_id: str) -> str:
        return f"{self.parent}/models/{model_id}"

    def _new_id(self) -> str:
        self._ids += secrets.randbelow(1_000_000) + 1
        return str(self._ids)

    def _now(self) -> int:
        # Strictly increasing, in whole microseconds apart, so order by time is total.
        self._clock_ns = max(time.time_ns(), self._clock_ns + 1_000)
        return self._clock_ns

    def _touch(self, model: StoredModel, version: StoredVersion) -> None:
        version.updated = model.updated = self._now()
        version.etag = base64.b64encode(
            hashlib.sha256(f"{version.artifact}{version.updated}".encode()).digest()[:12]
        ).decode()

    # --- test-only seeding --------------------------------------------------------

    def deploy(
        self,
        model_id: str,
        version_id: str,
        endpoint_id: str,
        traffic_split: Mapping[str, int] | None = None,
        *,
        machine_type: str = "n1-standard-2",
    ) -> str:
        """What ``endpoints.deployModel`` does: a DeployedModel on the endpoint (created
        if new), the endpoint's ``trafficSplit`` replaced by ``traffic_split`` when given
        (``"0"`` is the model being deployed), and a DeployedModelRef on the model."""
        with self._lock:
            model = self.models[model_id]
            version = model.versions[version_id]
            now = self._now()
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                endpoint = self.endpoints[endpoint_id] = StoredEndpoint(
                    endpoint_id, f"endpoint-{endpoint_id}", now
                )
            deployed_id = self._new_id()[-10:]  # Google: 1-10 characters
            split = dict(traffic_split or ({} if endpoint.deployed else {"0": 100}))
            if "0" in split:
                split[deployed_id] = split.pop("0")
            endpoint.deployed.append(
                StoredDeployedModel(deployed_id, model_id, version_id, now, dedicated(machine_type))
            )
            if split:
                self._set_split(endpoint, split)
            self._touch_endpoint(endpoint)
            name = f"{self.parent}/endpoints/{endpoint_id}"
            version.deployed.append({"endpoint": name, "deployedModelId": deployed_id})
            self._touch(model, version)
            return name

    def _set_split(self, endpoint: StoredEndpoint, split: Mapping[str, int]) -> None:
        known = {d.deployed_id for d in endpoint.deployed}
        if unknown := sorted(set(split) - known):
            raise ApiError(
                "INVALID_ARGUMENT", f"Deployed model(s) {', '.join(unknown)} not found in the endpoint."
            )
        if split and sum(split.values()) != 100:
            raise ApiError("INVALID_ARGUMENT", "The sum of all traffic split values must be 100.")
        endpoint.traffic = {k: int(v) for k, v in split.items()}

    def _touch_endpoint(self, endpoint: StoredEndpoint) -> None:
        endpoint.updated = self._now()
        endpoint.etag = base64.b64encode(
            hashlib.sha256(f"{endpoint.endpoint_id}{endpoint.updated}".encode()).digest()[:12]
        ).decode()

    def render_endpoint(self, endpoint: StoredEndpoint) -> dict[str, Any]:
        """An endpoint as a ``GoogleCloudAiplatformV1Endpoint`` (empty fields omitted)."""
        out: dict[str, Any] = {
            "name": f"{self.parent}/endpoints/{endpoint.endpoint_id}",
            "displayName": endpoint.display_name,
            "deployedModels": [self.render_deployed(d) for d in endpoint.deployed],
            "trafficSplit": dict(endpoint.traffic),
            "etag": endpoint.etag,
            "createTime": rfc3339(endpoint.created),
            "updateTime": rfc3339(endpoint.updated),
        }
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}

    def render_deployed(self, d: StoredDeployedModel) -> dict[str, Any]:
        """A ``GoogleCloudAiplatformV1DeployedModel``."""
        return {
            "id": d.deployed_id,
            "model": self.model_name(d.model_id),
            "modelVersionId": d.version_id,
            "displayName": d.display_name or self.models[d.model_id].display_name,
            "createTime": rfc3339(d.created),
            **d.resources,
        }

    def add_training_run(
        self,
        model_id: str,
        version_id: str,
        *,
        run: str,
        datasets: list[tuple[str, str]] = (),  # type: ignore[assignment]
        parents: list[str] = (),  # type: ignore[assignment]
    ) -> str:
        """An execution that read datasets (``system.Dataset``: uri, display name) and
        parent models (Vertex resource names) and output the version's artifact."""
        with self._lock:
            target = self.models[model_id].versions[version_id].artifact
            now = rfc3339(self._now())
            execution = f"{self.parent}/metadataStores/default/executions/{self._new_id()}"
            self.executions[execution] = {
                "name": execution,
                "displayName": run,
                "schemaTitle": "system.ContainerExecution",
                "schemaVersion": "0.0.1",
                "state": "COMPLETE",
                "metadata": {},
                "createTime": now,
                "updateTime": now,
                "etag": "1",
            }
            inputs = [self._artifact("system.Dataset", uri, name, {}, now) for uri, name in datasets]
            for resource in parents:
                uri = f"https://{self.location}-aiplatform.googleapis.com/v1/{resource}"
                inputs.append(
                    self._artifact("google.VertexModel", uri, resource, {"resourceName": resource}, now)
                )
            for artifact, kind in [*((a, "INPUT") for a in inputs), (target, "OUTPUT")]:
                self.events.append(
                    {"artifact": artifact, "execution": execution, "type": kind, "eventTime": now}
                )
            return execution

    def _artifact(self, schema: str, uri: str, display: str, metadata: dict[str, Any], now: str) -> str:
        name = f"{self.parent}/metadataStores/default/artifacts/{self._new_id()}"
        self.artifacts[name] = {
            "name": name,
            "displayName": display,
            "uri": uri,
            "schemaTitle": schema,
            "schemaVersion": "0.0.1",
            "state": "LIVE",
            "metadata": metadata,
            "createTime": now,
            "updateTime": now,
            "etag": "1",
        }
        return name

    # --- rendering -------------------------------------------------------------

    def render(
        self, model: StoredModel, version: StoredVersion, *, versioned_name: bool = False
    ) -> dict[str, Any]:
        """A version as a ``GoogleCloudAiplatformV1Model``; empty fields omitted, as proto3 JSON does."""
        name = self.model_name(model.model_id) + (f"@{version.version_id}" if versioned_name else "")
        out: dict[str, Any] = {
            "name": name,
            "displayName": model.display_name,
            "description": model.description,
            "metadata": version.metadata,
            "containerSpec": version.container_spec,
            "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
            "supportedInputStorageFormats": ["jsonl", "bigquery", "csv", "tf-record", "file-list"],
            "supportedOutputStorageFormats": ["jsonl", "bigquery"],
            "createTime": rfc3339(model.created),
            "updateTime": rfc3339(model.updated),
            "deployedModels": [dict(d) for d in version.deployed],
            "etag": version.etag,
            "labels": dict(version.labels),
            "artifactUri": version.artifact_uri,
            "versionId": version.version_id,
            "versionAliases": list(version.aliases),
            "versionCreateTime": rfc3339(version.created),
            "versionUpdateTime": rfc3339(version.updated),
            "versionDescription": version.description,
            "modelSourceInfo": {"sourceType": "CUSTOM"},
            "metadataArtifact": version.artifact,
        }
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}

    # --- the HTTP surface --------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Answer one HTTP request; every answer is checked against the schemas."""
        with self._lock:
            record = RequestRecord(method, path, dict(query))
            self.requests.append(record)
            if path.startswith("/v3/"):  # Cloud Monitoring, served on the same port
                return self.monitoring.handle(method, path, query, headers, body, record)
            api_method: ApiMethod | None = None
            schema: str | None
            if path == "/token" and method == "POST":
                status, payload, schema = self._token_endpoint(body)
                extra = {"Cache-Control": "no-store"}
            else:
                api_method, status, payload = self._api(method, path, query, headers, body, record)
                schema = (api_method.response if api_method else None) if status < 300 else "ErrorEnvelope"
                extra = (
                    {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
                    if status == 401
                    else {}
                )
            record.status = status
            if schema:
                self.violations += [
                    f"{method} {path} -> {status}: {e}" for e in schema_book().errors(schema, payload)
                ]
                self.violations += self._check_operation(api_method, status, payload)
            return status, payload, extra

    def _check_operation(self, api_method: ApiMethod | None, status: int, payload: Any) -> list[str]:
        """An Operation's ``metadata`` and ``response`` are ``Any``: check what they hold."""
        if api_method is None or status != 200:
            return []
        if api_method.response == "GoogleLongrunningListOperationsResponse":
            return [p for op in payload.get("operations") or () for p in self._operation_problems(op)]
        if api_method.response != "GoogleLongrunningOperation":
            return []
        return self._operation_problems(payload)

    def _operation_problems(self, payload: Any) -> list[str]:
        types = self.operation_types.get(str(payload.get("name")))
        if types is None:
            return [f"operation {payload.get('name')} of no known kind"]
        metadata, response = types
        problems = schema_book().any_errors(payload.get("metadata"), metadata)
        if payload.get("done") and "error" not in payload:
            problems += schema_book().any_errors(payload.get("response"), response)
        if payload.get("done") and ("error" in payload) == ("response" in payload):
            problems.append(f"operation {payload.get('name')}: done with both or neither of error/response")
        return problems

    def _handlers(self) -> dict[str, Any]:
        prefix = "aiplatform.projects.locations."
        return {
            prefix + "models.list": self._list,
            prefix + "models.get": self._get,
            prefix + "models.listVersions": self._list_versions,
            prefix + "models.mergeVersionAliases": self._merge_version_aliases,
            prefix + "models.patch": self._patch,
            prefix + "models.upload": self._upload,
            prefix + "models.operations.get": self._get_operation,
            prefix + "metadataStores.artifacts.queryArtifactLineageSubgraph": self._lineage_subgraph,
            prefix + "endpoints.list": self._list_endpoints,
            prefix + "endpoints.get": self._get_endpoint,
            prefix + "endpoints.patch": self._patch_endpoint,
            prefix + "endpoints.deployModel": self._deploy_model,
            prefix + "endpoints.operations.get": self._get_endpoint_operation,
            prefix + "endpoints.operations.list": self._list_endpoint_operations,
            prefix + "metadataStores.artifacts.create": self._create_artifact,
            prefix + "metadataStores.executions.create": self._create_execution,
            prefix + "metadataStores.executions.addExecutionEvents": self._add_execution_events,
        }

    def _api(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
        record: RequestRecord,
    ) -> tuple[ApiMethod | None, int, Any]:
        api_method = None
        try:
            if self.failures and self.failures[0][1] in (None, method):
                code, _ = self.failures.popleft()
                status = STATUS_OF.get(code, "INTERNAL")
                raise ApiError(
                    status,
                    "The service is currently unavailable."
                    if code >= 500
                    else "Quota exceeded for aiplatform.googleapis.com/read_requests.",
                )
            self._authenticate(headers)
            for candidate in api_methods():
                match = candidate.pattern.match(path)
                if match and candidate.http_method == method:
                    api_method = candidate
                    break
            else:
                raise ApiError("NOT_FOUND", f"The requested URL {path} was not found on this server.")
            for name, value in query.items():
                if name not in api_method.query:
                    raise ApiError(
                        "INVALID_ARGUMENT",
                        f"Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. Field '{name}' could not be found in request message.",
                    )
                if name in api_method.integer_query and not re.fullmatch(r"-?\d+", value):
                    raise ApiError("INVALID_ARGUMENT", f"Invalid value at '{name}' (TYPE_INT32), \"{value}\"")
            payload: Any = None
            if api_method.request:
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    raise ApiError("INVALID_ARGUMENT", "Invalid JSON payload received.") from None
                record.body = payload
                if problems := schema_book().errors(api_method.request, payload):
                    raise ApiError("INVALID_ARGUMENT", f"Invalid JSON payload received. {problems[0]}")
            args = match.groupdict()
            self._check_location(args, api_method.id)
            handler = self._handlers()[api_method.id]
            return api_method, 200, handler(args, query, payload)
        except ApiError as exc:
            return api_method, HTTP_STATUS[exc.status], exc.body()

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        value = headers.get("authorization", "")
        if not value.startswith("Bearer "):
            raise ApiError(
                "UNAUTHENTICATED",
                f"Request is missing required authentication credential. {AUTH_HELP}",
                [_error_info("CREDENTIALS_MISSING")],
            )
        issued = self.tokens.get(value[len("Bearer ") :])
        if issued is None or issued.expires_at <= self.token_clock() or not self.accept_tokens:
            raise ApiError(
                "UNAUTHENTICATED",
                f"Request had invalid authentication credentials. {AUTH_HELP}",
                [_error_info("ACCESS_TOKEN_EXPIRED")],
            )

    def _check_location(self, args: Mapping[str, str], method_id: str) -> None:
        if args.get("projectsId") not in (self.project_id, self.project_number):
            resource = f"//aiplatform.googleapis.com/projects/{args.get('projectsId')}/locations/{args.get('locationsId')}"
            permission = "aiplatform." + ".".join(method_id.split(".")[-2:])
            raise ApiError(
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).",
            )
        if args.get("locationsId") != self.location:
            raise ApiError(
                "INVALID_ARGUMENT",
                f"List of found errors:\t1.Field: name; Message: The request location '{args.get('locationsId')}' does not match the service location '{self.location}'.\t",
            )

    # --- models ----------------------------------------------------------------

    def _resolve(self, models_id: str) -> tuple[StoredModel, StoredVersion]:
        model_id, _, ref = models_id.partition("@")
        model = self.models.get(model_id)
        if model is None:
            raise ApiError("NOT_FOUND", f'The Model "{self.model_name(model_id)}" does not exist.')
        if not ref:
            return model, model.default()
        version = model.versions.get(ref) or next(
            (v for v in model.versions.values() if ref in v.aliases), None
        )
        if version is None:
            raise ApiError("NOT_FOUND", f'The Model "{self.model_name(model_id)}@{ref}" does not exist.')
        return model, version

    def _get(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        model, version = self._resolve(args["modelsId"])
        return self.render(model, version)

    def _list(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        match = _filter(query.get("filter", ""), {"model", "display_name", "labels", "base_model_name"})
        rows = [(m, m.default()) for m in self.models.values()]
        rows = [(m, v) for m, v in rows if match(m, v)]
        spec = _order(query.get("orderBy", ""), {"display_name", "create_time", "update_time"})
        page, token = _page(rows, spec, query, lambda m, v: m.model_id)
        mask = _read_mask(query.get("readMask", ""))
        out: dict[str, Any] = {}
        if page:
            out["models"] = [mask(self.render(m, v)) for m, v in page]
        if token:
            out["nextPageToken"] = token
        return out

    def _list_versions(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        model, _ = self._resolve(args["modelsId"].partition("@")[0])
        match = _filter(query.get("filter", ""), {"labels"})
        rows = [(model, v) for v in model.versions.values() if match(model, v)]
        spec = _order(query.get("orderBy", ""), {"create_time", "update_time"}, versions=True)
        page, token = _page(rows, spec, query, lambda m, v: int(v.version_id))
        mask = _read_mask(query.get("readMask", ""))
        out: dict[str, Any] = {}
        if page:
            out["models"] = [mask(self.render(m, v, versioned_name=True)) for m, v in page]
        if token:
            out["nextPageToken"] = token
        return out

    def _merge_version_aliases(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        if not re.fullmatch(r"[^@]+@\d+", args["modelsId"]):
            raise ApiError(
                "INVALID_ARGUMENT",
                "The model version must be given as a version ID: models/{model}@{version_id}.",
            )
        model, version = self._resolve(args["modelsId"])
        requested = body.get("versionAliases") or []
        if not requested:
            raise ApiError("INVALID_ARGUMENT", "version_aliases must not be empty.")
        adds = {a for a in requested if not a.startswith("-")}
        removes = {a[1:] for a in requested if a.startswith("-")}
        for alias in adds | removes:
            if not ALIAS.match(alias):
                raise ApiError(
                    "INVALID_ARGUMENT",
                    f"Version alias {alias!r} must match [a-z][a-zA-Z0-9-]{{0,126}}[a-z-0-9].",
                )
        adds, removes = adds - removes, removes - adds  # documented: the two cancel out
        if "default" in removes and "default" in version.aliases:
            raise ApiError(
                "INVALID_ARGUMENT", "The default version alias cannot be removed; move it to another version."
            )
        changed = {version.version_id}
        for alias in adds:
            for other in model.versions.values():
                if other is not version and alias in other.aliases:
                    other.aliases.remove(alias)  # documented: an alias moves
                    changed.add(other.version_id)
            if alias not in version.aliases:
                version.aliases.append(alias)
        version.aliases[:] = [a for a in version.aliases if a not in removes]
        for version_id in sorted(changed):
            self._touch(model, model.versions[version_id])
        return self.render(model, version)

    def _patch(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        model, version = self._resolve(args["modelsId"])
        paths = [p.strip() for p in query.get("updateMask", "").split(",") if p.strip()]
        if not paths:
            raise ApiError("INVALID_ARGUMENT", "update_mask is required.")
        if body.get("etag") and body["etag"] != version.etag:
            raise ApiError("ABORTED", "The etag of the Model does not match the current etag; read it again.")
        for path in paths:
            if path == "labels":
                labels = body.get("labels") or {}
                _check_labels(labels)
                version.labels = dict(labels)
            elif path in ("description",):
                model.description = body.get("description", "")
            elif path in ("display_name", "displayName"):
                if not body.get("displayName"):
                    raise ApiError("INVALID_ARGUMENT", "display_name must not be empty.")
                model.display_name = body["displayName"]
            elif path in ("version_description", "versionDescription"):
                version.description = body.get("versionDescription", "")
            else:
                raise ApiError("INVALID_ARGUMENT", f"Update mask path {path!r} is not supported.")
        self._touch(model, version)
        return self.render(model, version)

    def _upload(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        spec = body.get("model") or {}
        if not spec.get("displayName"):
            raise ApiError(
                "INVALID_ARGUMENT",
                "List of found errors:\t1.Field: model.display_name; Message: Required field is not set.\t",
            )
        if not (spec.get("containerSpec") or {}).get("imageUri"):
            raise ApiError(
                "INVALID_ARGUMENT",
                "List of found errors:\t1.Field: model.container_spec.image_uri; Message: Required field is not set.\t",
            )
        _check_labels(spec.get("labels") or {})
        for alias in spec.get("versionAliases") or ():
            if not ALIAS.match(alias):
                raise ApiError("INVALID_ARGUMENT", f"Version alias {alias!r} is invalid.")
        now = self._now()
        if body.get("parentModel"):
            parent_id = str(body["parentModel"]).rsplit("/", 1)[-1]
            if parent_id not in self.models:
                raise ApiError("NOT_FOUND", f'The Model "{body["parentModel"]}" does not exist.')
            model = self.models[parent_id]
        else:
            model_id = body.get("modelId") or self._new_id()
            if body.get("modelId") and not MODEL_ID.match(model_id):
                raise ApiError(
                    "INVALID_ARGUMENT", f"Model id {model_id!r} must match [a-z][a-z0-9_-]{{0,62}}."
                )
            if model_id in self.models:
                raise ApiError("ALREADY_EXISTS", f'Model "{self.model_name(model_id)}" already exists.')
            model = self.models[model_id] = StoredModel(
                model_id, spec["displayName"], now, spec.get("description", "")
            )
        version_id = str(model.next_version)
        model.next_version += 1
        resource = f"{self.model_name(model.model_id)}@{version_id}"
        uri = f"https://{self.location}-aiplatform.googleapis.com/v1/{resource}"
        artifact = self._artifact(
            "google.VertexModel", uri, spec["displayName"], {"resourceName": resource}, rfc3339(now)
        )
        version = StoredVersion(
            version_id=version_id,
            created=now,
            artifact=artifact,
            aliases=["default"] if not model.versions else [],
            labels=dict(spec.get("labels") or {}),
            description=spec.get("versionDescription", ""),
            artifact_uri=spec.get("artifactUri", ""),
            container_spec=dict(spec["containerSpec"]),
            metadata=spec.get("metadata"),
        )
        model.versions[version_id] = version
        for alias in spec.get("versionAliases") or ():
            self._merge_version_aliases(
                {"modelsId": f"{model.model_id}@{version_id}"}, {}, {"versionAliases": [alias]}
            )
        self._touch(model, version)
        name = f"{self.model_name(model.model_id)}/operations/{self._new_id()}"
        stamp = rfc3339(now)
        metadata = {
            "@type": TYPE_PREFIX + "UploadModelOperationMetadata",
            "genericMetadata": {"createTime": stamp, "updateTime": stamp},
        }
        response = {
            "@type": TYPE_PREFIX + "UploadModelResponse",
            "model": self.model_name(model.model_id),
            "modelVersionId": version_id,
        }
        self.operations[name] = {"name": name, "metadata": metadata, "done": True, "response": response}
        self.operation_types[name] = ("UploadModelOperationMetadata", "UploadModelResponse")
        return {"name": name, "metadata": metadata}  # not done yet: clients must poll

    def _get_operation(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        name = f"{self.model_name(args['modelsId'])}/operations/{args['operationsId']}"
        if name not in self.operations:
            raise ApiError("NOT_FOUND", f"Operation {name} does not exist.")
        return self.operations[name]

    def _lineage_subgraph(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        if args["metadataStoresId"] != "default":
            raise ApiError("NOT_FOUND", f"MetadataStore {args['metadataStoresId']} does not exist.")
        if query.get("filter"):
            raise ApiError("UNIMPLEMENTED", "This fake does not filter lineage subgraphs.")
        start = f"{self.parent}/metadataStores/default/artifacts/{args['artifactsId']}"
        if start not in self.artifacts:
            raise ApiError("NOT_FOUND", f"Artifact {start} does not exist.")
        hops = int(query["maxHops"]) if "maxHops" in query else 1_000_000
        if hops < 0:
            raise ApiError("INVALID_ARGUMENT", "max_hops must not be negative.")
        seen_artifacts, seen_executions = {start}, set()
        frontier = [("a", start)]
        for _ in range(hops):
            following = []
            for kind, name in frontier:
                for event in self.events:
                    if (
                        kind == "a"
                        and event["artifact"] == name
                        and event["execution"] not in seen_executions
                    ):
                        seen_executions.add(event["execution"])
                        following.append(("e", event["execution"]))
                    elif (
                        kind == "e" and event["execution"] == name and event["artifact"] not in seen_artifacts
                    ):
                        seen_artifacts.add(event["artifact"])
                        following.append(("a", event["artifact"]))
            if not following:
                break
            frontier = following
        events = [
            e for e in self.events if e["artifact"] in seen_artifacts and e["execution"] in seen_executions
        ]
        out: dict[str, Any] = {"artifacts": [self.artifacts[a] for a in sorted(seen_artifacts)]}
        if seen_executions:
            out["executions"] = [self.executions[e] for e in sorted(seen_executions)]
        if events:
            out["events"] = events
        return out

    # --- endpoints ---------------------------------------------------------------

    def _endpoint(self, endpoint_id: str) -> StoredEndpoint:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None:
            raise ApiError(
                "NOT_FOUND", f'The Endpoint "{self.parent}/endpoints/{endpoint_id}" does not exist.'
            )
        return endpoint

    def _list_endpoints(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        if query.get("filter") or query.get("orderBy") or query.get("readMask"):
            raise ApiError("UNIMPLEMENTED", "This fake lists endpoints without filter, order or mask.")
        size = int(query.get("pageSize") or 0)
        if size < 0:
            raise ApiError("INVALID_ARGUMENT", "page_size must not be negative.")
        size = min(size or 100, 1000)
        ordered = sorted(self.endpoints.values(), key=lambda e: (e.created, e.endpoint_id))
        if token := query.get("pageToken"):
            try:
                after = json.loads(base64.urlsafe_b64decode(token.encode()))
            except ValueError:
                raise ApiError("INVALID_ARGUMENT", "Invalid page token.") from None
            ordered = [e for e in ordered if [e.created, e.endpoint_id] > after]
        page = ordered[:size]
        out: dict[str, Any] = {}
        if page:
            out["endpoints"] = [self.render_endpoint(e) for e in page]
        if len(ordered) > size:
            last = [page[-1].created, page[-1].endpoint_id]
            out["nextPageToken"] = base64.urlsafe_b64encode(json.dumps(last).encode()).decode()
        return out

    def _get_endpoint(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        return self.render_endpoint(self._endpoint(args["endpointsId"]))

    def _patch_endpoint(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        endpoint = self._endpoint(args["endpointsId"])
        paths = [p.strip() for p in query.get("updateMask", "").split(",") if p.strip()]
        if not paths:
            raise ApiError("INVALID_ARGUMENT", "update_mask is required.")
        if body.get("etag") and body["etag"] != endpoint.etag:
            raise ApiError(
                "ABORTED", "The etag of the Endpoint does not match the current etag; read it again."
            )
        for path in paths:
            if path in ("traffic_split", "trafficSplit"):
                self._set_split(endpoint, body.get("trafficSplit") or {})
            else:
                raise ApiError(
                    "INVALID_ARGUMENT", f"Update mask path {path!r} is not supported by this fake."
                )
        self._touch_endpoint(endpoint)
        return self.render_endpoint(endpoint)

    def _deploy_model(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        """``endpoints.deployModel``: the model must exist (``@version`` or ``@alias``, else
        its ``default`` version) and, being a custom model that supports only
        DEDICATED_RESOURCES, come with ``dedicatedResources.machineSpec.machineType``."""
        endpoint = self._endpoint(args["endpointsId"])
        spec = body.get("deployedModel") or {}
        match = re.fullmatch(
            r"projects/([^/]+)/locations/([^/]+)/models/([^/@]+)(?:@([^/]+))?", spec.get("model", "")
        )
        if match is None:
            raise ApiError("INVALID_ARGUMENT", "deployed_model.model must be a Model resource name.")
        if match[1] not in (self.project_id, self.project_number) or match[2] != self.location:
            raise ApiError("INVALID_ARGUMENT", f"Model {spec['model']} is not in this project and location.")
        model, version = self._resolve(match[3] + (f"@{match[4]}" if match[4] else ""))
        resources = {k: spec[k] for k in ("dedicatedResources", "automaticResources") if k in spec}
        machine = ((resources.get("dedicatedResources") or {}).get("machineSpec") or {}).get("machineType")
        if not machine:
            raise ApiError(
                "INVALID_ARGUMENT",
                "Model does not support AutomaticResources; deployed_model.dedicated_resources.machine_spec.machine_type is required.",
            )
        if int(resources["dedicatedResources"].get("minReplicaCount") or 0) < 1:
            raise ApiError("INVALID_ARGUMENT", "dedicated_resources.min_replica_count must be at least 1.")
        split = {str(k): int(v) for k, v in (body.get("trafficSplit") or {}).items()}
        known = {d.deployed_id for d in endpoint.deployed} | {"0"}
        if unknown := sorted(set(split) - known):
            raise ApiError(
                "INVALID_ARGUMENT", f"Deployed model(s) {', '.join(unknown)} not found in the endpoint."
            )
        if split and sum(split.values()) != 100:
            raise ApiError("INVALID_ARGUMENT", "The sum of all traffic split values must be 100.")
        now = self._now()
        op_name = f"{self.parent}/endpoints/{endpoint.endpoint_id}/operations/{self._new_id()}"
        stamp = rfc3339(now)
        metadata = {
            "@type": TYPE_PREFIX + "DeployModelOperationMetadata",
            "genericMetadata": {"createTime": stamp, "updateTime": stamp},
        }
        self.operation_types[op_name] = ("DeployModelOperationMetadata", "DeployModelResponse")
        self.polls_left[op_name] = self.deploy_polls
        failure = self.deploy_failures.popleft() if self.deploy_failures else None

        def finish() -> dict[str, Any]:
            """What Vertex does when the deployment completes."""
            if failure is not None:  # fails while provisioning: nothing is deployed
                return {
                    "name": op_name,
                    "metadata": metadata,
                    "done": True,
                    "error": {"code": 8, "message": failure},
                }
            deployed_id = self._new_id()[-10:]
            deployed = StoredDeployedModel(
                deployed_id,
                model.model_id,
                version.version_id,
                self._now(),
                resources,
                spec.get("displayName"),
            )
            endpoint.deployed.append(deployed)
            final = dict(split)
            if "0" in final:
                final[deployed_id] = final.pop("0")
            if final:  # documented: an empty trafficSplit leaves the endpoint's split as it is
                endpoint.traffic = final
            self._touch_endpoint(endpoint)
            name = f"{self.parent}/endpoints/{endpoint.endpoint_id}"
            version.deployed.append({"endpoint": name, "deployedModelId": deployed_id})
            self._touch(model, version)
            response = {
                "@type": TYPE_PREFIX + "DeployModelResponse",
                "deployedModel": self.render_deployed(deployed),
            }
            return {"name": op_name, "metadata": metadata, "done": True, "response": response}

        self.unfinished[op_name] = finish
        self.operations[op_name] = {"name": op_name, "metadata": metadata}
        return self.operations[op_name]  # not done yet: clients must poll

    def _get_endpoint_operation(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        name = f"{self.parent}/endpoints/{args['endpointsId']}/operations/{args['operationsId']}"
        if name not in self.operations:
            raise ApiError("NOT_FOUND", f"Operation {name} does not exist.")
        if self.polls_left.get(name, 0) > 0:
            self.polls_left[name] -= 1
        elif name in self.unfinished:
            self.operations[name] = self.unfinished.pop(name)()
        return self.operations[name]

    def _list_endpoint_operations(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        """Oldest first, unpaged (the fake never holds many); ``filter`` is not served."""
        if query.get("filter"):
            raise ApiError("UNIMPLEMENTED", "This fake lists operations without a filter.")
        endpoint = self._endpoint(args["endpointsId"])
        prefix = f"{self.parent}/endpoints/{endpoint.endpoint_id}/operations/"
        found = [op for name, op in self.operations.items() if name.startswith(prefix)]
        return {"operations": found} if found else {}

    # --- ML Metadata writes (what the Vertex SDK's experiment tracking sends) ------

    def _store(self, args: Mapping[str, str]) -> str:
        if args["metadataStoresId"] != "default":
            raise ApiError("NOT_FOUND", f"MetadataStore {args['metadataStoresId']} does not exist.")
        return f"{self.parent}/metadataStores/default"

    def _metadata_name(self, store: str, collection: str, wanted: str | None) -> str:
        if wanted is not None and not METADATA_ID.match(wanted):
            raise ApiError(
                "INVALID_ARGUMENT", f"{collection[:-1]} id {wanted!r} must match [a-z0-9][a-z0-9-]{{0,127}}."
            )
        name = f"{store}/{collection}/{wanted or self._new_id()}"
        if name in self.artifacts or name in self.executions:
            raise ApiError("ALREADY_EXISTS", f"{name} already exists.")
        return name

    def _metadata_resource(self, name: str, body: Mapping[str, Any], state: str) -> dict[str, Any]:
        if not body.get("schemaTitle"):
            raise ApiError("INVALID_ARGUMENT", "schema_title is required.")
        now = rfc3339(self._now())
        stored = {
            "schemaVersion": "0.0.1",
            "state": state,
            "metadata": {},
            **{k: v for k, v in body.items() if k not in ("name", "createTime", "updateTime", "etag")},
            "name": name,
            "createTime": now,
            "updateTime": now,
            "etag": "1",
        }
        return {k: v for k, v in stored.items() if v not in (None, "")}

    def _create_artifact(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        name = self._metadata_name(self._store(args), "artifacts", query.get("artifactId"))
        self.artifacts[name] = self._metadata_resource(name, body, "LIVE")
        return self.artifacts[name]

    def _create_execution(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        name = self._metadata_name(self._store(args), "executions", query.get("executionId"))
        self.executions[name] = self._metadata_resource(name, body, "NEW")
        return self.executions[name]

    def _add_execution_events(self, args: Mapping[str, str], query: Mapping[str, str], body: Any) -> Any:
        execution = f"{self._store(args)}/executions/{args['executionsId']}"
        if execution not in self.executions:
            raise ApiError("NOT_FOUND", f"Execution {execution} does not exist.")
        events = body.get("events") or []
        for event in events:
            if event.get("artifact") not in self.artifacts:
                raise ApiError("NOT_FOUND", f"Artifact {event.get('artifact')} does not exist.")
            if event.get("type") not in ("INPUT", "OUTPUT"):
                raise ApiError(
                    "INVALID_ARGUMENT", f"Event type {event.get('type')!r} must be INPUT or OUTPUT."
                )
        now = rfc3339(self._now())
        self.events += [
            {
                **{k: v for k, v in e.items() if k in ("artifact", "type", "labels")},
                "execution": execution,
                "eventTime": now,
            }
            for e in events
        ]
        return {}

    # --- the token endpoint ------------------------------------------------------

    def _token_endpoint(self, body: bytes) -> tuple[int, Any, str]:
        try:
            if self.token_failures:
                code = self.token_failures.popleft()
                raise OAuthFailure(code, "temporarily_unavailable", "Try again later.")
            token = self._issue(parse_qs(body.decode()))
        except OAuthFailure as exc:
            return exc.http_status, exc.body, "TokenError"
        return 200, token, "TokenResponse"

    def _issue(self, form: dict[str, list[str]]) -> dict[str, Any]:
        """Google's JWT bearer grant: verify the assertion, issue an opaque token."""
        grant = (form.get("grant_type") or [""])[0]
        if grant != JWT_BEARER:
            raise OAuthFailure(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        assertion = (form.get("assertion") or [""])[0]
        try:
            unverified = jws.extract_compact(assertion.encode())
            claims = json.loads(unverified.payload)
        except (JoseError, ValueError):
            raise OAuthFailure(400, "invalid_grant", "Invalid JWT: the assertion is not a JWS.") from None
        self.last_assertion = {"header": unverified.headers(), "claims": claims, "form": sorted(form)}
        keys = self.accounts.get(claims.get("iss", ""))
        if not keys:
            raise OAuthFailure(400, "invalid_grant", "Invalid grant: account not found")
        kid = unverified.headers().get("kid")
        candidates = [keys[kid]] if kid in keys and kid not in self.revoked_kids else []
        if kid is None:
            candidates = [k for i, k in keys.items() if i not in self.revoked_kids]
        verified = None
        for key in candidates:
            try:
                verified = jwt.decode(assertion, key, algorithms=["RS256"]).claims
                break
            except JoseError:
                continue
        if verified is None:
            raise OAuthFailure(400, "invalid_grant", "Invalid JWT Signature.")
        audience = self.expected_audience
        if verified.get("aud") != audience:
            raise OAuthFailure(
                400, "invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {audience}"
            )
        now = time.time()
        iat, exp = verified.get("iat"), verified.get("exp")
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or exp <= now
            or exp - iat > 3600
            or iat > now + 300
        ):
            raise OAuthFailure(400, "invalid_grant", SHORT_LIVED)
        if CLOUD_PLATFORM not in str(verified.get("scope", "")).split():
            raise OAuthFailure(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        if verified.get("sub") not in (None, verified["iss"]):
            raise OAuthFailure(
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
            )
        jti = verified.get("jti")
        if jti is not None:
            if jti in self.seen_jti:
                raise OAuthFailure(400, "invalid_grant", "Invalid JWT: jti was already used.")
            self.seen_jti.add(jti)
        access_token = "ya29.fake." + secrets.token_urlsafe(32)
        self.tokens[access_token] = IssuedToken(verified["iss"], self.token_clock() + self.token_lifetime)
        self.tokens_issued += 1
        return {"access_token": access_token, "expires_in": self.token_lifetime, "token_type": "Bearer"}

    # --- the ASGI app ------------------------------------------------------------

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            query = dict(request.query_params)
            status, payload, headers = self.handle(
                request.method, request.url.path, query, request.headers, body
            )
            return JSONResponse(payload, status, headers)

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST", "PATCH", "DELETE"])])


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "aiplatform.googleapis.com"},
    }


def _check_labels(labels: Mapping[str, Any]) -> None:
    for key, value in labels.items():
        if not LABEL_KEY.match(key) or not isinstance(value, str) or not LABEL_VALUE.match(value):
            raise ApiError(
                "INVALID_ARGUMENT",
                f"Label {key}={value!r} is invalid: lowercase letters, digits, '_' and '-', at most 63 characters.",
            )


# --- filter, order, paging, read mask --------------------------------------------

_TERM = re.compile(
    r'^(?P<field>labels\.(?:"[^"]+"|[\w-]+)|[A-Za-z_]+)\s*(?P<op>!=|=|:)\s*(?P<value>"[^"]*"|\S+)$'
)
_CAMEL = {
    "displayName": "display_name",
    "baseModelName": "base_model_name",
    "createTime": "create_time",
    "updateTime": "update_time",
}


def _filter(text: str, allowed: set[str]) -> Any:
    """The subset of AIP-160 Vertex documents for models: ``model``, ``display_name``,
    ``labels.k="v"``, ``labels.k:*``, ``labels:k``, ``base_model_name``, joined by AND."""
    tests = []
    for term in (t.strip() for t in re.split(r"\s+AND\s+", text.strip()) if t.strip()):
        match = _TERM.match(term)
        if not match:
            raise ApiError("INVALID_ARGUMENT", f"Provided filter is not valid: {term!r}.")
        field_name, op, value = match["field"], match["op"], match["value"].strip('"')
        root = _CAMEL.get(field_name, field_name).split(".", 1)[0]
        if root not in allowed or (op == ":" and root != "labels"):
            raise ApiError("INVALID_ARGUMENT", f"Unsupported filter field or operator: {term!r}.")
        tests.append(_term_test(field_name, op, value))
    return lambda m, v: all(t(m, v) for t in tests)


def _term_test(field_name: str, op: str, value: str) -> Any:
    name = _CAMEL.get(field_name, field_name)
    if name == "labels" and op == ":":
        return lambda m, v: value in v.labels
    if name.startswith("labels."):
        key = name.split(".", 1)[1].strip('"')
        if op == ":":
            return lambda m, v: key in v.labels
        return lambda m, v: (v.labels.get(key) == value) == (op == "=")
    if name == "model":
        return lambda m, v: (m.model_id == value) == (op == "=")
    if name == "display_name":
        return lambda m, v: (m.display_name == value) == (op == "=")
    return lambda m, v: False  # base_model_name: no uploaded model has one


def _order(text: str, allowed: set[str], *, versions: bool = False) -> list[tuple[str, bool]]:
    spec = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, direction = part.partition(" ")
        name = _CAMEL.get(name, name)
        if name not in allowed or direction.strip() not in ("", "asc", "desc"):
            raise ApiError("INVALID_ARGUMENT", f"Unsupported order_by field: {part!r}.")
        spec.append(
            (("version_" if versions and name != "display_name" else "") + name, direction.strip() == "desc")
        )
    return spec or [("version_create_time" if versions else "create_time", False)]


def _sort_value(m: StoredModel, v: StoredVersion, name: str) -> Any:
    return {
        "display_name": m.display_name,
        "create_time": m.created,
        "update_time": m.updated,
        "version_create_time": v.created,
        "version_update_time": v.updated,
    }[name]


def _page(
    rows: list[tuple[StoredModel, StoredVersion]],
    spec: list[tuple[str, bool]],
    query: Mapping[str, str],
    tiebreak: Any,
) -> tuple[list[tuple[StoredModel, StoredVersion]], str | None]:
    """Keyset paging: a token carries the last row's sort key, so rows created
    while a client pages never shift a page (as offset paging would)."""
    size = int(query.get("pageSize") or 0)
    if size < 0:
        raise ApiError("INVALID_ARGUMENT", "page_size must not be negative.")
    size = min(size or 100, 1000)
    fingerprint = hashlib.sha256(json.dumps([query.get("filter", ""), spec]).encode()).hexdigest()[:12]

    def raw(row: tuple[StoredModel, StoredVersion]) -> list[Any]:
        return [_sort_value(*row, name) for name, _ in spec] + [tiebreak(*row)]

    def key(values: list[Any]) -> tuple[Any, ...]:
        directions = [desc for _, desc in spec] + [False]
        return tuple(_Desc(x) if desc else x for x, desc in zip(values, directions, strict=True))

    ordered = sorted(rows, key=lambda r: key(raw(r)))
    if token := query.get("pageToken"):
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            assert state["f"] == fingerprint
            last = key(state["k"])
        except Exception:
            raise ApiError("INVALID_ARGUMENT", "Invalid page token.") from None
        ordered = [r for r in ordered if key(raw(r)) > last]
    page = ordered[:size]
    if len(ordered) <= size:
        return page, None
    state = {"k": raw(page[-1]), "f": fingerprint}
    return page, base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _read_mask(text: str) -> Any:
    if not text.strip():
        return lambda body: body
    known = set(discovery_document()["schemas"]["GoogleCloudAiplatformV1Model"]["properties"])
    paths = set()
    for path in (p.strip() for p in text.split(",") if p.strip()):
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)
        if camel not in known:
            raise ApiError("INVALID_ARGUMENT", f"Invalid read_mask path {path!r}.")
        paths.add(camel)
    return lambda body: {k: v for k, v in body.items() if k in paths}
