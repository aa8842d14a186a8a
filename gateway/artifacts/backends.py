"""An ``[artifacts]`` URL made into an object store.

The library is ``obstore`` (Python bindings to Rust's ``object_store``, the
crate behind Arrow, DataFusion and Delta). It was weighed against:

- fsspec with s3fs/gcsfs/adlfs: three packages (s3fs alone pulls aiobotocore,
  botocore, aiohttp) with different async stories and multipart handled per
  backend; signed URLs only in some of them;
- opendal: as broad, but its presigning and multipart knobs differ per service
  and its Python typing is thinner.

obstore is one wheel with no Python dependencies, speaks S3 (and MinIO, Ceph,
R2, moto), GCS, Azure Blob and local disk behind one async API, streams, does
multipart uploads itself (a part at a time: flat memory) and signs URLs for the
three clouds. Credentials: the ``*_env``/``*_file`` keys, else the store's
standard chain (environment, profile, instance or workload identity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from obstore.exceptions import BaseError
from obstore.store import AzureStore, GCSStore, LocalStore, S3Store

from gateway.config import ArtifactSettings, ConfigError

ObjectStore: TypeAlias = AzureStore | GCSStore | LocalStore | S3Store


@dataclass(frozen=True)
class Backend:
    """A store and how its keys read as URIs: ``<root>/<key>``."""

    store: ObjectStore
    root: str  # "s3://bucket", "file:///abs/dir"; no trailing slash
    prefix: str  # every key starts with it: "" or "a/b/"
    signs: bool  # the store hands out signed URLs

    def key(self, relative: str) -> str:
        return f"{self.prefix}{relative}"

    def uri(self, key: str) -> str:
        return f"{self.root}/{key}"

    def key_of(self, uri: str) -> str | None:
        """The store key a URI names, or None when it lies outside this store."""
        start = f"{self.root}/{self.prefix}"
        return uri[len(self.root) + 1 :] if uri.startswith(start) and len(uri) > len(start) else None


def open_backend(settings: ArtifactSettings, environ: Mapping[str, str] | None = None) -> Backend:
    url = settings.url or "file://./data/artifacts"
    if url.startswith("file://"):
        root = Path(url[len("file://") :]).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return Backend(LocalStore(root), root.as_uri(), "", signs=False)
    try:
        return _open_bucket(url, settings, environ)
    except BaseError as exc:
        # The library's first line says what is wrong ("Unable to decode service account
        # file ..."); what follows may quote configuration, so it is left out.
        problem = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise ConfigError("artifacts", f"the store refused its configuration: {problem}") from None


def _open_bucket(url: str, settings: ArtifactSettings, environ: Mapping[str, str] | None) -> Backend:
    parts = urlsplit(url)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    secrets = settings.credentials(environ)
    # The library's default gives every request 30 s end to end: a CompleteMultipartUpload
    # or the server-side copy of a multi-GiB file on a busy store takes longer, and failed
    # a finished upload. A stalled connection is still caught by the read timeout.
    client: dict[str, Any] = {"timeout": "900s", "read_timeout": "120s", "connect_timeout": "10s"}
    if settings.endpoint and settings.endpoint.startswith("http://"):
        client["allow_http"] = True
    store: ObjectStore
    if parts.scheme == "s3":
        config: dict[str, Any] = {
            k: v for k, v in secrets.items() if k in ("access_key_id", "secret_access_key", "session_token")
        }
        if settings.endpoint:
            config["endpoint"] = settings.endpoint
        if settings.region:
            config["region"] = settings.region
        store = S3Store(bucket, config=config, client_options=client)  # type: ignore[arg-type]
    elif parts.scheme == "gs":
        config = {}
        if "service_account_key" in secrets:
            config["service_account_key"] = secrets["service_account_key"]
        if settings.endpoint:
            config["base_url"] = settings.endpoint
        store = GCSStore(bucket, config=config, client_options=client)  # type: ignore[arg-type]
    elif parts.scheme == "az":
        if not settings.account_name:
            raise ConfigError("artifacts.account_name", "az:// needs the storage account's name")
        config = {"account_name": settings.account_name}
        if "account_key" in secrets:
            config["account_key"] = secrets["account_key"]
        if settings.endpoint:
            config["endpoint"] = settings.endpoint
        store = AzureStore(bucket, config=config, client_options=client)  # type: ignore[arg-type]
    else:  # the loader has already refused other schemes
        raise ConfigError("artifacts.url", f"unsupported scheme in {url!r}")
    return Backend(store, f"{parts.scheme}://{bucket}", prefix, signs=True)
