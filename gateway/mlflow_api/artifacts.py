"""MLflow's artifact proxy over the model store, for native versions.

A native version's files are served read-only under
``<gateway>/mlflow/api/2.0/mlflow-artifacts/artifacts/<registry>/<model>/<version>/``
(MLflow's ``mlflow-artifacts`` routes: list with ``?path=``, download by path),
and that URL is the version's ``source`` and its ``get-download-uri`` answer.

Why an ``http(s)://`` URL and not ``mlflow-artifacts:/…``: MLflow's client
resolves ``mlflow-artifacts:`` against the *tracking* URI
(``MlflowArtifactsRepository.resolve_uri``), which fails when only the registry
URI names the gateway (``mlflow.set_registry_uri``) and the tracking URI is a
local ``mlruns`` or another server. An ``http(s)://…/mlflow-artifacts/artifacts/…``
URL is read by ``HttpArtifactRepository`` whatever the tracking URI, with the
same credentials (``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``),
and lists through ``<…>/api/2.0/mlflow-artifacts/artifacts?path=…``, which this
proxy answers.

The base URL is the one the client reached the gateway at; the MLflow endpoint
sets it for the request (``PROXY``) so every version the request answers with
names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from gateway.artifacts.store import StoredFile, check_path
from gateway.errors import BadInput

ROUTE = "/api/2.0/mlflow-artifacts/artifacts"


@dataclass(frozen=True)
class ArtifactProxy:
    """Where this gateway's MLflow artifact proxy is, and which registries it serves."""

    base_url: str  # "http://gateway:8000/mlflow"
    native: frozenset[str]  # registry ids whose versions may live in the model store
    store: str  # the model store's URI prefix: "s3://bucket/prefix/"

    def source(self, registry_id: str, model_name: str, version: str, artifact_uri: str | None) -> str | None:
        """The proxy's URL of a native version whose files the model store holds;
        None for any other (its artifactUri is read where it is)."""
        own = f"{self.store}{registry_id}/{model_name}/"
        if registry_id not in self.native or not (artifact_uri or "").startswith(own):
            return None
        return f"{self.base_url}{ROUTE}/{registry_id}/{model_name}/{version}"


# Set by the MLflow endpoint for the request it answers; None elsewhere (then a
# native version's source is its artifactUri, as before).
PROXY: ContextVar[ArtifactProxy | None] = ContextVar("mlflow_artifact_proxy", default=None)


@dataclass(frozen=True)
class ProxyPath:
    """A path under the proxy: a version, and a path inside it ("" for its root)."""

    registry_id: str
    model_name: str
    version: str
    inner: str


def parse_path(raw: str) -> ProxyPath | None:
    """``<registry>/<model>/<version>[/<inner>]``; None above a version (the proxy
    lists no registries or models: search does). Refuses ``..`` and other unsafe
    segments (``BadInput``)."""
    parts = [p for p in raw.strip("/").split("/") if p] if raw else []
    if len(parts) < 3:
        return None
    inner = "/".join(parts[3:])
    for segment in parts[:3]:
        check_path(segment)
    if inner:
        check_path(inner)
    return ProxyPath(parts[0], parts[1], parts[2], inner)


def listing(files: Sequence[StoredFile], inner: str) -> list[dict[str, Any]]:
    """MLflow's ``ListArtifacts`` entries for directory ``inner`` of a version:
    its direct children by base name (as MLflow's server answers), directories
    without a size. A file or an absent path lists nothing, as there."""
    prefix = f"{inner}/" if inner else ""
    children: dict[str, dict[str, Any]] = {}
    for f in files:
        if not f.path.startswith(prefix):
            continue
        name, _, rest = f.path[len(prefix) :].partition("/")
        if rest:
            children.setdefault(name, {"path": name, "is_dir": True})
        else:
            children[name] = {"path": name, "is_dir": False, "file_size": f.size}
    return [children[n] for n in sorted(children)]


def bad_path(raw: str) -> BadInput:
    return BadInput(
        f"artifact path {raw!r} may use only letters, digits, '.', '_', '-' and '/' between names"
    )
