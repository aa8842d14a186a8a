"""A fake of Azure Machine Learning's ARM model endpoints and of the Entra ID token endpoint.

There is no Azure ML emulator. The fake serves the twelve model operations of
``spec/mfe-models.json`` (workspace and registry: list, get and create-or-update
of model containers and versions) and checks **every request and every
response** against that spec with ``SpecChecker``; a violation is recorded in
``FakeAzureML.violations`` and the ``azureml_fake`` fixture fails the test that
caused it.

Behaviour the spec or Azure's documentation gives, which the fake implements:
ARM envelopes (``id``, ``name``, ``type``, ``systemData``), ``nextLink`` paging
with the ``$skip`` continuation token, ``listViewType`` (``ActiveOnly`` by
default: archived versions are hidden unless ``ArchivedOnly``/``All``), ``$top``
and ``count`` page sizes, ``tags``/``properties`` filters, a version PUT
creating its container, ``latestVersion``/``nextVersion`` on containers,
registry PUTs as long-running operations (``201`` with ``Azure-AsyncOperation``,
the operation ``Succeeded`` on its first poll), ARM errors
``{"error": {"code", "message"}}`` and 401 with ``WWW-Authenticate`` for a
missing, expired or revoked bearer token.

Reproduced on purpose: **the registry backend ignores ``listViewType`` on version
listings** (azure-sdk-for-python#48675: ActiveOnly, ArchivedOnly and All return
the same active versions), so an adapter's workaround is tested.

The token side answers what MSAL (inside azure-identity) asks for: instance
discovery (``/common/discovery/instance``), the tenant's OpenID configuration
and ``POST /{tenant}/oauth2/v2.0/token`` with client credentials (a secret, or a
federated client assertion as in AKS workload identity). Errors carry AADSTS
codes as Entra ID does.

Choices the fake makes where Azure documents nothing (tests must not depend on
them): default order is creation time ascending; fields a PUT leaves out come back
as their defaults (``tags``/``properties``/``flavors`` ``{}``, ``isArchived`` and
``isAnonymous`` false: azure-ai-ml's reader needs ``flavors`` to be a map); a page holds ``page_size``
items unless ``$top``/``count`` asks for fewer; tokens are opaque random strings.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.azureml.spec_check import Operation, SpecChecker

ARM_SCOPE = "https://management.azure.com/.default"
CLIENT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PROVIDER = "Microsoft.MachineLearningServices"
VERSION_DEFAULTS: dict[str, Any] = {
    "tags": {},
    "properties": {},
    "flavors": {},
    "isAnonymous": False,
    "isArchived": False,
}
CONTAINER_DEFAULTS: dict[str, Any] = {"tags": {}, "properties": {}, "isArchived": False}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Asset:
    """A stored container or version: the ``properties`` object and its systemData."""

    properties: dict[str, Any]
    created_at: str
    created_by: str
    modified_at: str
    modified_by: str
    seq: int


@dataclass
class Scope:
    """One workspace or registry."""

    kind: str  # "workspaces" | "registries"
    containers: dict[str, Asset] = field(default_factory=dict)
    versions: dict[str, dict[str, Asset]] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One ARM request as a handler sees it."""

    op: Operation
    query: dict[str, list[str]]
    body: Any
    base: str  # scheme://host:port the client used (the fake listens on http and https)


@dataclass
class Client:
    client_id: str
    secret: str | None = None
    assertion: str | None = None
    disabled: bool = False


class FakeAzureML:
    def __init__(self, tenant_id: str, subscription_id: str, resource_group: str):
        self.tenant_id = tenant_id
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.checker = SpecChecker()
        self.scopes: dict[str, Scope] = {}
        self.clients: dict[str, Client] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expiry on time.monotonic)
        self.violations: list[str] = []
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.statuses: list[int] = []  # the status of every ARM answer, in order
        self.tokens_issued = 0
        self.revocations = 0  # how often every token was revoked
        # ARM's resource, and any the tests add (azure-ai-ml asks for "{resource_manager}/.default"
        # of its configured cloud, which for the fake is the fake's own URL).
        self.accepted_scopes = {ARM_SCOPE}
        self._seq = 0
        self._lock = threading.Lock()
        self.reset_switches()

    # --- switches tests flip ------------------------------------------------

    def reset_switches(self) -> None:
        self.token_lifetime = 3599
        self.page_size = 20
        self.registry_ignores_list_view = True
        self.fail_next: list[tuple[int, str]] = []  # (status, ARM error code) for the next ARM calls
        self.accept_tokens = True  # False: ARM refuses every token (e.g. a broken role assignment)

    def add_workspace(self, name: str) -> None:
        self.scopes.setdefault(f"workspaces/{name.lower()}", Scope("workspaces"))

    def add_registry(self, name: str) -> None:
        self.scopes.setdefault(f"registries/{name.lower()}", Scope("registries"))

    def add_client(self, client_id: str, *, secret: str | None = None, assertion: str | None = None) -> None:
        self.clients[client_id] = Client(client_id, secret, assertion)

    def revoke_tokens(self) -> None:
        """Every issued token stops working (e.g. the app's sign-in was revoked)."""
        self.tokens.clear()
        self.revocations += 1

    def disable_client(self, client_id: str) -> None:
        """The app registration's secret expired or was deleted."""
        self.clients[client_id].disabled = True
        self.revoke_tokens()

    def token_requests(self) -> int:
        return self.tokens_issued

    # --- the app ---------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/common/discovery/instance", self._instance_discovery, methods=["GET"]),
                Route("/{tenant}/v2.0/.well-known/openid-configuration", self._openid, methods=["GET"]),
                Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
                Route("/fake-operations/{op}", self._operation_status, methods=["GET"]),
                Route("/subscriptions/{rest:path}", self._arm, methods=["GET", "PUT"]),
            ]
        )

    # --- Entra ID ----------------------------------------------------------------

    async def _instance_discovery(self, request: Request) -> Response:
        host = request.url.netloc
        tenant_endpoint = f"{_base(request)}/{self.tenant_id}/v2.0/.well-known/openid-configuration"
        return JSONResponse(
            {
                "tenant_discovery_endpoint": tenant_endpoint,
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            }
        )

    async def _openid(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant not in (self.tenant_id, "organizations", "common"):
            return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        root = _base(request)
        base = f"{root}/{tenant}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{root}/{tenant}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "issuer": f"{root}/{self.tenant_id}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
            }
        )

    async def _token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if tenant != self.tenant_id:
            return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory.",
            )
        if "client_assertion" in form:
            if (
                form.get("client_assertion_type") != CLIENT_ASSERTION
                or form["client_assertion"] != client.assertion
            ):
                return _aad_error(
                    401, "invalid_client", 700024, "Client assertion is not within its valid time range."
                )
        elif form.get("client_secret") is None or form["client_secret"] != client.secret:
            return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if client.disabled:
            return _aad_error(401, "invalid_client", 7000222, "The provided client secret keys are expired.")
        if form.get("scope") not in self.accepted_scopes:
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope')} is not valid.",
            )
        token = secrets.token_urlsafe(48)
        with self._lock:
            self.tokens[token] = (client.client_id, time.monotonic() + self.token_lifetime)
            self.tokens_issued += 1
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    # --- ARM ---------------------------------------------------------------------

    async def _arm(self, request: Request) -> Response:
        path = request.url.path
        query = parse_qs(request.url.query, keep_blank_values=True)
        self.requests.append((request.method, path, query))
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(
                    None, 400, "InvalidRequestContent", "The request content is not valid JSON."
                )
        operation, problems = self.checker.check_request(request.method, path, query, body)
        self.violations += problems
        if operation is None:
            return self._error(
                None, 404, "NoRegisteredProviderFound", f"No route for {request.method} {path}."
            )
        if problems:
            return self._error(operation, 400, "UserError", "; ".join(problems))
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not token:
            return self._unauthorized(
                request,
                operation,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        issued = self.tokens.get(token) if self.accept_tokens else None
        if issued is None:
            return self._unauthorized(
                request, operation, "InvalidAuthenticationToken", "The access token is invalid."
            )
        if time.monotonic() >= issued[1]:
            return self._unauthorized(
                request,
                operation,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            )
        if self.fail_next:
            status, code = self.fail_next.pop(0)
            return self._error(operation, status, code, f"injected {code}", headers={"Retry-After": "1"})
        params = operation.path_params
        if (
            params["subscriptionId"].lower() != self.subscription_id
            or params["resourceGroupName"].lower() != self.resource_group
        ):
            return self._error(
                operation,
                404,
                "ResourceGroupNotFound",
                f"Resource group '{params['resourceGroupName']}' could not be found.",
            )
        kind = "registries" if "registryName" in params else "workspaces"
        scope_name = params.get("registryName") or params["workspaceName"]
        scope = self.scopes.get(f"{kind}/{scope_name.lower()}")
        if scope is None:
            return self._error(
                operation, 404, "ResourceNotFound", f"The {kind[:-1]} '{scope_name}' could not be found."
            )
        handler = HANDLERS[operation.operation_id.removeprefix("Registry")]
        call = Call(operation, query, body, _base(request))
        with self._lock:
            status, payload, headers = handler(self, scope, call)
        return self._respond(operation, status, payload, headers)

    def _respond(
        self, operation: Operation | None, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> Response:
        self.statuses.append(status)
        if operation is not None:
            self.violations += self.checker.check_response(operation, status, payload, headers or {})
        return JSONResponse(payload, status_code=status, headers=headers)

    def _error(
        self,
        operation: Operation | None,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return self._respond(operation, status, {"error": {"code": code, "message": message}}, headers)

    def _unauthorized(self, request: Request, operation: Operation, code: str, message: str) -> Response:
        challenge = (
            f'Bearer authorization_uri="{_base(request)}/{self.tenant_id}", error="invalid_token", '
            f'error_description="{message}"'
        )
        return self._error(operation, 401, code, message, headers={"WWW-Authenticate": challenge})

    async def _operation_status(self, request: Request) -> Response:
        # The Azure-AsyncOperation resource of a registry PUT: done on the first poll.
        return JSONResponse({"status": "Succeeded", "name": request.path_params["op"]})

    # --- state ---------------------------------------------------------------------

    def _stamp(self) -> tuple[str, int]:
        self._seq += 1
        return _now(), self._seq

    def scope_id(self, scope: Scope, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/{scope.kind}/{name}"
        )

    def envelope(
        self, op: Operation, kind: str, name: str, asset: Asset, model: str | None = None
    ) -> dict[str, Any]:
        params = op.path_params
        scope_name = params.get("registryName") or params["workspaceName"]
        scope_kind = "registries" if "registryName" in params else "workspaces"
        base = (
            f"/subscriptions/{params['subscriptionId']}/resourceGroups/{params['resourceGroupName']}"
            f"/providers/{PROVIDER}/{scope_kind}/{scope_name}/models"
        )
        rid = f"{base}/{model}/versions/{name}" if model else f"{base}/{name}"
        return {
            "id": rid,
            "name": name,
            "type": f"{PROVIDER}/{scope_kind}/models" + ("/versions" if model else ""),
            "properties": asset.properties,
            "systemData": {
                "createdAt": asset.created_at,
                "createdBy": asset.created_by,
                "createdByType": "Application",
                "lastModifiedAt": asset.modified_at,
                "lastModifiedBy": asset.modified_by,
                "lastModifiedByType": "Application",
            },
        }

    def page(self, call: Call, items: list[dict[str, Any]], limit_param: str) -> dict[str, Any]:
        op, query = call.op, call.query
        start = _decode_skip(query.get("$skip", [""])[0])
        size = self.page_size
        if query.get(limit_param):
            size = max(1, min(size, int(query[limit_param][0])))
        chunk = items[start : start + size]
        body: dict[str, Any] = {"value": chunk}
        if start + size < len(items):
            rest = {k: v[0] for k, v in query.items() if k != "$skip"}
            rest["$skip"] = base64.urlsafe_b64encode(json.dumps({"offset": start + size}).encode()).decode()
            body["nextLink"] = f"{call.base}{_concrete(op)}?{urlencode(rest)}"
        return body

    # --- test-only helpers ---------------------------------------------------------

    def version(
        self, scope_name: str, model: str, version: str, *, registry: bool = False
    ) -> dict[str, Any] | None:
        scope = self.scopes[f"{'registries' if registry else 'workspaces'}/{scope_name.lower()}"]
        asset = scope.versions.get(model, {}).get(version)
        return dict(asset.properties) if asset else None


# --- operation handlers (run under the fake's lock) ------------------------------------

Result = tuple[int, Any, dict[str, str] | None]


def _list_containers(fake: FakeAzureML, scope: Scope, call: Call) -> Result:
    op, query = call.op, call.query
    view = query.get("listViewType", ["ActiveOnly"])[0]
    rows = sorted(scope.containers.items(), key=lambda kv: kv[1].seq)
    items = [fake.envelope(op, "model", name, asset) for name, asset in rows if _in_view(asset, view)]
    return 200, fake.page(call, items, "count"), None


def _get_container(fake: FakeAzureML, scope: Scope, call: Call) -> Result:
    op = call.op
    name = op.path_params.get("modelName") or op.path_params["name"]
    asset = scope.containers.get(name)
    if asset is None:
        return 404, _not_found("model container", name), None
    return 200, fake.envelope(op, "model", name, asset), None


def _put_container(fake: FakeAzureML, scope: Scope, call: Call) -> Result:
    op, body = call.op, call.body
    name = op.path_params.get("modelName") or op.path_params["name"]
    props = {**CONTAINER_DEFAULTS, **{k: v for k, v in body["properties"].items() if v is not None}}
    existing = scope.containers.get(name)
    now, seq = fake._stamp()
    if existing is None:
        props.update(latestVersion=None, nextVersion="1", provisioningState="Succeeded")
        scope.containers[name] = Asset(props, now, "modelgate-tests", now, "modelgate-tests", seq)
        status = 201
    else:
        for read_only in ("latestVersion", "nextVersion", "provisioningState"):
            props[read_only] = existing.properties.get(read_only)
        existing.properties, existing.modified_at = props, now
        status = 200
    return status, fake.envelope(op, "model", name, scope.containers[name]), _lro_headers(call, scope, status)


def _list_versions(fake: FakeAzureML, scope: Scope, call: Call) -> Result:
    op, query = call.op, call.query
    name = op.path_params.get("modelName") or op.path_params["name"]
    view = query.get("listViewType", ["ActiveOnly"])[0]
    if scope.kind == "registries" and fake.registry_ignores_list_view:
        view = "ActiveOnly"  # azure-sdk-for-python#48675
    rows = sorted(scope.versions.get(name, {}).items(), key=lambda kv: kv[1].seq)
    if query.get("$orderBy", [""])[0].lower() == "createdtime desc":
        rows.reverse()
    wanted_tags = _filters(query.get("tags", [""])[0])
    items = [
        fake.envelope(op, "version", version, asset, model=name)
        for version, asset in rows
        if _in_view(asset, view) and _matches(asset.properties.get("tags") or {}, wanted_tags)
    ]
    return 200, fake.page(call, items, "$top"), None


def _get_version(fake: FakeAzureML, scope: Scope, call: Call) -> Result:
    op = call.op
    name = op.path_params.get("modelName") or op.path_params["name"]
    version = op.path_params["version"]
    asset = scope.versions.get(name, {}).get(version)
    if asset is None:
        return 404, _not_found("model version", f"{name}:{version}"), None
    return 200, fake.envelope(op, "version", version, asset, model=name), None


def _put_version(fake: FakeAzureML, scope: Scope, call: Call) -> Result:
    op, body = call.op, call.body
    name = op.path_params.get("modelName") or op.path_params["name"]
    version = op.path_params["version"]
    now, seq = fake._stamp()
    container = scope.containers.get(name)
    if container is None:  # a version PUT creates its container
        props0 = {
            **CONTAINER_DEFAULTS,
            "latestVersion": None,
            "nextVersion": "1",
            "provisioningState": "Succeeded",
        }
        container = Asset(props0, now, "modelgate-tests", now, "modelgate-tests", seq)
        scope.containers[name] = container
    versions = scope.versions.setdefault(name, {})
    # The service fills what the client left out (azure-ai-ml's reader assumes ``flavors`` is a map).
    props = {**VERSION_DEFAULTS, **{k: v for k, v in body["properties"].items() if v is not None}}
    props["provisioningState"] = "Succeeded"
    existing = versions.get(version)
    if existing is None:
        versions[version] = Asset(props, now, "modelgate-tests", now, "modelgate-tests", seq)
        status = 201
    else:
        existing.properties, existing.modified_at = props, now
        status = 200
    container.properties["latestVersion"] = version
    numeric = [int(v) for v in versions if v.isdigit()]
    container.properties["nextVersion"] = str(max(numeric) + 1) if numeric else "1"
    container.modified_at = now
    return (
        status,
        fake.envelope(op, "version", version, versions[version], model=name),
        _lro_headers(call, scope, status),
    )


HANDLERS: dict[str, Callable[[FakeAzureML, Scope, Call], Result]] = {
    "ModelContainers_List": _list_containers,
    "ModelContainers_Get": _get_container,
    "ModelContainers_CreateOrUpdate": _put_container,
    "ModelVersions_List": _list_versions,
    "ModelVersions_Get": _get_version,
    "ModelVersions_CreateOrUpdate": _put_version,
}


def _lro_headers(call: Call, scope: Scope, status: int) -> dict[str, str] | None:
    if scope.kind != "registries" or status != 201:
        return None
    return {
        "Azure-AsyncOperation": f"{call.base}/fake-operations/{uuid.uuid4()}",
        "x-ms-async-operation-timeout": "PT1H",
    }


def _in_view(asset: Asset, view: str) -> bool:
    archived = bool(asset.properties.get("isArchived"))
    return view == "All" or (view == "ArchivedOnly") == archived


def _filters(text: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        out[key] = value if sep else None
    return out


def _matches(tags: dict[str, Any], wanted: dict[str, str | None]) -> bool:
    return all(k in tags and (v is None or tags[k] == v) for k, v in wanted.items())


def _not_found(what: str, name: str) -> dict[str, Any]:
    return {"error": {"code": "UserError", "message": f"Could not find {what} {name}."}}


def _decode_skip(token: str) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        return 0


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _concrete(op: Operation) -> str:
    path = op.template
    for key, value in op.path_params.items():
        path = path.replace("{" + key + "}", value)
    return path


def _aad_error(status: int, error: str, code: int, message: str) -> Response:
    trace = str(uuid.uuid4())
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {message} Trace ID: {trace}",
            "error_codes": [code],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
        },
        status_code=status,
    )
