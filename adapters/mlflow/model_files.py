"""An MLflow model's own files: ``MLmodel`` and ``requirements.txt``.

MLflow records a logged model's runtime in files next to the model, not in the
registry: ``MLmodel`` (flavors, ``python_version``, ``mlflow_version``, the
signature) and ``requirements.txt`` (the pinned pip requirements). The tracking
server serves them for a registered version at ``GET
/model-versions/get-artifact?name=&version=&path=`` (outside the REST prefix),
reading from whatever artifact store the version's source lives in.

Only versions whose source is an MLflow-logged model are asked: ``models:/m-…``
(MLflow 3 LoggedModels), ``runs:/…``, ``mlflow-artifacts:…``, or a path under
the run's artifact root. Any other source (a bare ``s3://`` prefix someone
registered) may have no MLmodel at all, and asking would make the server probe
that store on every sync. A version's files never change once registered, so
each is read once per process (bounded LRU). Any failure means "not readable":
the version simply lacks what the files would have said.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import yaml
from cachetools import LRUCache

from adapters.mlflow.mapping import ModelFiles
from adapters.toolkit.http import ResponseTooLarge, registry_client, send_capped

log = logging.getLogger(__name__)

CACHE_ENTRIES = 50_000
MAX_FILE_BYTES = 1_000_000
MAX_ENVIRONMENT_CHARS = 1000
LOGGED_MODEL_SCHEMES = ("models:/m-", "runs:/", "mlflow-artifacts:")


def is_logged_model(source: str | None, run_artifact_uri: str | None) -> bool:
    """Whether ``source`` is a model MLflow logged (so it has an ``MLmodel`` file)."""
    if not source:
        return False
    if source.startswith(LOGGED_MODEL_SCHEMES):
        return True
    return bool(run_artifact_uri) and source.startswith(str(run_artifact_uri).rstrip("/") + "/")


def parse_requirements(text: str) -> list[str]:
    """Requirement lines, without comments, options (``-r``, ``--index-url``) or blanks."""
    lines = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def files_from_text(mlmodel: str, requirements: str | None) -> ModelFiles | None:
    """``MLmodel`` (YAML) and ``requirements.txt`` as what the catalogue keeps."""
    try:
        spec = yaml.safe_load(mlmodel)
    except yaml.YAMLError:
        return None
    if not isinstance(spec, Mapping):
        return None
    flavors = _mapping(spec.get("flavors"))
    pyfunc = _mapping(flavors.get("python_function"))
    python = pyfunc.get("python_version")
    parts = [f"python={python}"] if python else []
    parts += parse_requirements(requirements or "")
    environment = " ".join(parts)
    if len(environment) > MAX_ENVIRONMENT_CHARS:
        environment = environment[: MAX_ENVIRONMENT_CHARS - 1] + "…"
    signature = _mapping(spec.get("signature")) or None
    return ModelFiles(
        environment=environment or None,
        signature={k: v for k, v in signature.items() if k in ("inputs", "outputs", "params")}
        if signature
        else None,
        flavors=tuple(sorted(str(f) for f in flavors)),
        mlflow_version=str(spec["mlflow_version"]) if spec.get("mlflow_version") else None,
    )


class ModelFileReader:
    """Reads and caches versions' model files through one tracking server."""

    def __init__(
        self,
        registry_id: str,
        url: str,
        *,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.registry_id = registry_id
        self._client = registry_client(
            url.rstrip("/"), timeout=timeout, auth=auth, headers=headers, transport=transport
        )
        self._concurrency = concurrency
        self._cache: LRUCache[tuple[str, str, str], ModelFiles | None] = LRUCache(CACHE_ENTRIES)

    async def _file(self, name: str, version: str, path: str) -> str | None:
        request = self._client.build_request(
            "GET", "/model-versions/get-artifact", params={"name": name, "version": version, "path": path}
        )
        try:
            # A file past the limit is left out, never read whole.
            response = await send_capped(self._client, self.registry_id, request, MAX_FILE_BYTES)
        except (httpx.HTTPError, ResponseTooLarge) as exc:
            log.info("%s: cannot read %s of %s v%s: %s", self.registry_id, path, name, version, exc)
            return None
        if response.status_code != 200:
            return None
        return response.text

    async def read(self, name: str, version: str, source: str) -> ModelFiles | None:
        key = (name, version, source)
        if key in self._cache:
            return self._cache[key]
        mlmodel = await self._file(name, version, "MLmodel")
        files = None
        if mlmodel is not None:
            requirements = await self._file(name, version, "requirements.txt")
            files = files_from_text(mlmodel, requirements)
        self._cache[key] = files
        return files

    async def read_many(
        self, wanted: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str], ModelFiles | None]:
        """(name, version, source) triples -> files, ``concurrency`` reads at a time."""
        semaphore = asyncio.Semaphore(self._concurrency)
        found: dict[tuple[str, str], ModelFiles | None] = {}

        async def one(name: str, version: str, source: str) -> None:
            async with semaphore:
                found[(name, version)] = await self.read(name, version, source)

        await asyncio.gather(*(one(*w) for w in set(wanted)))
        return found

    async def aclose(self) -> None:
        await self._client.aclose()
