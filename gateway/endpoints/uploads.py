"""``PUT /artifacts/{registry}/{model}/{path}``: store one file of a model in a
registry that keeps artifacts (a ``VersionRegistrar``), streamed into the
artifact store (``gateway.artifacts``) up to ``artifacts.max_artifact_bytes``.

A request may declare the file's sha256 (``Content-Digest: sha-256=:<base64>:``
or ``x-amz-checksum-sha256``, see ``gateway.artifacts.digests``): the file then
goes straight to its content-addressed key, and a body that does not match
answers 400 ``DIGEST_MISMATCH`` with nothing stored."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.protocol import VersionRegistrar
from gateway.artifacts.digests import declared_sha256
from gateway.endpoints import gateway_of
from gateway.errors import GatewayError
from gateway.http_auth import current_principal
from gateway.http_errors import error_response, gateway_error_response, request_id_of


async def upload_artifact(request: Request) -> Response:
    request_id = request_id_of(request)
    gw = gateway_of(request)
    registry_id = request.path_params["registry"]
    try:
        adapter = gw.adapter(registry_id)
        registry = gw.settings.registry(registry_id)
        if registry is not None:  # uploads are writes: the registry's team (or admin) only
            gw.access(await current_principal(request)).require_registry_team(registry)
        if not isinstance(adapter, VersionRegistrar):
            return error_response(
                400, "BAD_USER_INPUT", f"registry {registry_id!r} does not store artifacts", request_id
            )
        declared = declared_sha256(request.headers)
        stored = await gw.artifacts.save(
            registry_id,
            request.path_params["model"],
            request.path_params["path"],
            request.stream(),
            declared=declared,
        )
    except GatewayError as exc:
        return gateway_error_response(exc, request_id)
    return JSONResponse({"uri": stored.uri, "digest": stored.digest, "size": stored.size}, status_code=201)
