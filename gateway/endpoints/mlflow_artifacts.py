"""MLflow's artifact proxy, read-only, for native versions (see
``gateway.mlflow_api.artifacts``):

- ``GET /mlflow/api/2.0/mlflow-artifacts/artifacts?path=<registry>/<model>/<version>[/<dir>]``
  lists a directory of a version (``{"files": [{path, is_dir, file_size}]}``);
- ``GET /mlflow/api/2.0/mlflow-artifacts/artifacts/<registry>/<model>/<version>/<path>``
  streams one file (``ETag`` = its digest).

Both pass the version's visibility gate: a hidden version answers
``RESOURCE_DOES_NOT_EXIST`` exactly as an absent one. Writes (upload, delete,
multipart) answer ``NOT_IMPLEMENTED``: native files are uploaded with
``PUT /artifacts/...`` and registered with ``registerModelVersion``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.artifacts.store import StoredFile, read_range
from gateway.domain import ModelVersion, version_uri
from gateway.endpoints import gateway_of
from gateway.endpoints.mlflow import mlflow_error_response
from gateway.endpoints.reports import content_disposition
from gateway.errors import BadInput, GatewayError, NotFound
from gateway.http_auth import current_principal
from gateway.mlflow_api.artifacts import ROUTE, ProxyPath, bad_path, listing, parse_path
from gateway.mlflow_api.errors import MlflowApiError, invalid

READ_ONLY = (
    "modelgate's MLflow artifact proxy is read-only: upload a native version's files with "
    "PUT /artifacts/{registry}/{model}/{path} and register them with registerModelVersion"
)


def _absent(raw: str) -> MlflowApiError:
    return MlflowApiError("RESOURCE_DOES_NOT_EXIST", f"No such artifact: {raw}")


async def _version_files(request: Request, where: ProxyPath, raw: str) -> list[StoredFile]:
    """The files of the version ``where`` names, if the caller may see it (and it is
    a native one); absent and hidden alike otherwise."""
    gw = gateway_of(request)
    try:
        access = gw.access(await current_principal(request))
        version: ModelVersion = await access.visible_version(
            gw.index, version_uri(where.registry_id, where.model_name, where.version)
        )
    except (NotFound, BadInput):
        raise _absent(raw) from None
    files = await gw.stored_files(version)
    if not files:  # a remote registry's version, or one whose files are kept elsewhere
        raise _absent(raw)
    return files


def _where(raw: str) -> ProxyPath | None:
    try:
        return parse_path(raw)
    except BadInput:
        raise invalid(bad_path(raw).message) from None


async def list_artifacts(request: Request) -> Response:
    raw = request.query_params.get("path", "")
    try:
        unknown = sorted(set(request.query_params) - {"path"})
        if unknown:
            raise invalid(f"Unsupported parameter(s) {', '.join(map(repr, unknown))}; supported: path")
        where = _where(raw)
        if where is None:  # above a version: nothing is listed here (search finds models)
            return JSONResponse({})
        entries = listing(await _version_files(request, where, raw), where.inner)
    except MlflowApiError as exc:
        return mlflow_error_response(request, exc)
    except GatewayError as exc:
        return mlflow_error_response(request, MlflowApiError.of(exc))
    return JSONResponse({"files": entries} if entries else {})


async def download_artifact(request: Request) -> Response:
    raw = request.path_params["path"]
    try:
        where = _where(raw)
        if where is None or not where.inner:
            raise _absent(raw)
        found = next((f for f in await _version_files(request, where, raw) if f.path == where.inner), None)
        if found is None:
            raise _absent(raw)
    except MlflowApiError as exc:
        return mlflow_error_response(request, exc)
    except GatewayError as exc:
        return mlflow_error_response(request, MlflowApiError.of(exc))
    headers = {
        "etag": f'"{found.digest}"',
        "content-length": str(found.size),
        "content-disposition": content_disposition(found.path.rsplit("/", 1)[-1]),
        "x-content-digest": found.digest,
    }
    return StreamingResponse(
        read_range(gateway_of(request).artifacts, found.key, 0, found.size),
        media_type="application/octet-stream",
        headers=headers,
    )


async def refuse_write(request: Request) -> Response:
    return mlflow_error_response(request, MlflowApiError("NOT_IMPLEMENTED", READ_ONLY))


WRITES = ["PUT", "POST", "PATCH", "DELETE"]


def routes() -> list[Route]:
    """Under the ``/mlflow`` mount (``gateway.endpoints.mlflow.routes``)."""
    return [
        Route(ROUTE, list_artifacts, methods=["GET"]),
        Route(ROUTE + "/{path:path}", download_artifact, methods=["GET"]),
        Route(ROUTE, refuse_write, methods=WRITES),
        Route(ROUTE + "/{path:path}", refuse_write, methods=WRITES),
        Route("/api/2.0/mlflow-artifacts/mpu/{path:path}", refuse_write, methods=WRITES),
    ]
