"""The fake server's in-memory state and its answers, following the OSS server's
repositories (``server/.../persist/ModelRepository.java``, ``PagedListingHelper``):

- models list one schema at a time (``catalog_name`` and ``schema_name`` both, or
  neither for the whole metastore; one without the other is INVALID_ARGUMENT),
  ordered by name, the next page token being the last name of a full page;
- versions are numbered from 1 per model, listed by number (token: the last
  number of a full page), created PENDING_REGISTRATION and made READY by
  ``finalize`` (only from PENDING_REGISTRATION);
- page size: ``max_results`` capped at the server's 100 (also when absent or 0);
- storage locations are ``file://`` directories under ``root``, created like the
  server's managed locations, so MLflow's ``uc:`` client writes model files there;
- errors are ``{"error_code", "message", "details"}`` with the server's statuses.

Databricks mode adds aliases (one version per alias; deleting a version drops its
aliases), returned when ``include_aliases=true``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGE_SIZE = 100  # PagedListingHelper.DEFAULT_PAGE_SIZE
STATUS = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
}


class HttpError(Exception):
    def __init__(self, error_code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status or STATUS.get(error_code, 500)

    def body(self) -> dict[str, Any]:
        details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": self.error_code}]
        return {"error_code": self.error_code, "message": self.message, "details": details}


def _page_size(query: dict[str, str]) -> int:
    raw = query.get("max_results")
    size = int(raw) if raw not in (None, "") else 0
    if size < 0:
        raise HttpError("INVALID_ARGUMENT", "maxResults must be greater than or equal to 0")
    return min(size, PAGE_SIZE) if size > 0 else PAGE_SIZE


def _parts(full_name: str, levels: int) -> list[str]:
    parts = full_name.split(".")
    if len(parts) != levels or not all(parts):
        raise HttpError("INVALID_ARGUMENT", f"Invalid full name: {full_name}")
    return parts


@dataclass
class UnityCatalogStore:
    root: Path
    aliases_enabled: bool = False
    catalogs: dict[str, dict[str, Any]] = field(default_factory=dict)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)
    _last_ms: int = 0

    def now(self) -> int:
        """Epoch ms, strictly increasing (two writes never share a timestamp)."""
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    # --- dispatch ---------------------------------------------------------------

    def handle(self, method: str, rest: str, query: dict[str, str], body: Any) -> Any:
        parts = rest.strip("/").split("/")
        body = body if isinstance(body, dict) else {}
        head = parts[0]
        if head == "catalogs":
            if len(parts) == 1:
                return self.create_catalog(body) if method == "POST" else self.list_catalogs(query)
            return self._catalog(parts[1])
        if head == "schemas":
            if len(parts) == 1:
                return self.create_schema(body) if method == "POST" else self.list_schemas(query)
            return self._schema(parts[1])
        if head == "models":
            return self._models_route(method, parts[1:], query, body)
        raise HttpError("NOT_FOUND", f"no route for {method} /{rest}")

    def _models_route(
        self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]
    ) -> Any:
        if not parts:
            return self.create_model(body) if method == "POST" else self.list_models(query)
        if parts == ["versions"]:
            return self.create_version(body)
        name = parts[0]
        with_aliases = self.aliases_enabled and query.get("include_aliases") == "true"
        if len(parts) == 1:
            if method == "PATCH":
                return self.update_model(name, body)
            if method == "DELETE":
                return self.delete_model(name, force=query.get("force") == "true")
            return self.model_wire(name, with_aliases)
        if parts[1] == "versions" and len(parts) == 2:
            return self.list_versions(name, query)
        if parts[1] == "versions":
            number = int(parts[2])
            if len(parts) == 4 and parts[3] == "finalize":
                return self.finalize(name, number)
            if method == "PATCH":
                return self.update_version(name, number, body)
            if method == "DELETE":
                return self.delete_version(name, number)
            return self.version_wire(name, number, with_aliases)
        if parts[1] == "aliases" and len(parts) == 3 and self.aliases_enabled:
            alias = parts[2]
            if method == "PUT":
                return self.set_alias(name, alias, int(body["version_num"]))
            if method == "DELETE":
                return self.delete_alias(name, alias)
            return self.version_by_alias(name, alias, with_aliases)
        raise HttpError("NOT_FOUND", f"no route for {method} /models/{'/'.join(parts)}")

    # --- catalogs and schemas ---------------------------------------------------

    def create_catalog(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["name"]
        if name in self.catalogs:
            raise HttpError("ALREADY_EXISTS", f"Catalog already exists: {name}")
        now = self.now()
        info = {"name": name, "id": str(uuid.uuid4()), "created_at": now, "updated_at": now}
        if body.get("comment"):
            info["comment"] = body["comment"]
        self.catalogs[name] = info
        return info

    def list_catalogs(self, query: dict[str, str]) -> dict[str, Any]:
        return {"catalogs": [self.catalogs[n] for n in sorted(self.catalogs)]}

    def _catalog(self, name: str) -> dict[str, Any]:
        if name not in self.catalogs:
            raise HttpError("NOT_FOUND", f"Catalog not found: {name}")
        return self.catalogs[name]

    def create_schema(self, body: dict[str, Any]) -> dict[str, Any]:
        catalog, name = body["catalog_name"], body["name"]
        self._catalog(catalog)
        full = f"{catalog}.{name}"
        if full in self.schemas:
            raise HttpError("ALREADY_EXISTS", f"Schema already exists: {full}")
        now = self.now()
        info = {
            "name": name,
            "catalog_name": catalog,
            "full_name": full,
            "schema_id": str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
        }
        self.schemas[full] = info
        return info

    def list_schemas(self, query: dict[str, str]) -> dict[str, Any]:
        catalog = query.get("catalog_name") or ""
        self._catalog(catalog)
        names = sorted(s["name"] for s in self.schemas.values() if s["catalog_name"] == catalog)
        page, token = self._name_page(names, query)
        result: dict[str, Any] = {"schemas": [self.schemas[f"{catalog}.{n}"] for n in page]}
        if token:
            result["next_page_token"] = token
        return result

    def _schema(self, full: str) -> dict[str, Any]:
        if full not in self.schemas:
            raise HttpError("NOT_FOUND", f"Schema not found: {full}")
        return self.schemas[full]

    @staticmethod
    def _name_page(names: list[str], query: dict[str, str]) -> tuple[list[str], str | None]:
        size = _page_size(query)
        after = query.get("page_token") or None
        page = [n for n in names if after is None or n > after][:size]
        return page, (page[-1] if len(page) == size else None)

    # --- registered models --------------------------------------------------------

    def create_model(self, body: dict[str, Any]) -> dict[str, Any]:
        catalog, schema, name = body["catalog_name"], body["schema_name"], body["name"]
        self._schema(f"{catalog}.{schema}")
        full = f"{catalog}.{schema}.{name}"
        if full in self.models:
            raise HttpError("ALREADY_EXISTS", f"Registered model already exists: {full}")
        model_id = str(uuid.uuid4())
        location = self.root / catalog / schema / "models" / model_id
        location.mkdir(parents=True, exist_ok=True)
        now = self.now()
        info: dict[str, Any] = {
            "name": name,
            "catalog_name": catalog,
            "schema_name": schema,
            "full_name": full,
            "storage_location": location.as_uri(),
            "owner": "modelgate-tests",
            "created_at": now,
            "created_by": "modelgate-tests",
            "updated_at": now,
            "updated_by": "modelgate-tests",
            "id": model_id,
        }
        if body.get("comment"):
            info["comment"] = body["comment"]
        self.models[full] = info
        self.versions[full] = {}
        self.aliases[full] = {}
        return info

    def list_models(self, query: dict[str, str]) -> dict[str, Any]:
        catalog, schema = query.get("catalog_name") or "", query.get("schema_name") or ""
        if catalog and not schema:
            raise HttpError(
                "INVALID_ARGUMENT", "Cannot specify catalog w/o schema for list registered models."
            )
        if schema and not catalog:
            raise HttpError(
                "INVALID_ARGUMENT", "Cannot specify schema w/o catalog for list registered models."
            )
        if not catalog:  # the whole metastore, paged by id
            ids = sorted((m["id"], full) for full, m in self.models.items())
            size = _page_size(query)
            after = query.get("page_token") or None
            chosen = [(i, f) for i, f in ids if after is None or i > after][:size]
            result: dict[str, Any] = {"registered_models": [self.models[f] for _, f in chosen]}
            if len(chosen) == size:
                result["next_page_token"] = chosen[-1][0]
            return result
        self._schema(f"{catalog}.{schema}")
        prefix = f"{catalog}.{schema}."
        names = sorted(m["name"] for full, m in self.models.items() if full.startswith(prefix))
        page, token = self._name_page(names, query)
        result = {"registered_models": [self.models[prefix + n] for n in page]}
        if token:
            result["next_page_token"] = token
        return result

    def _model(self, full: str) -> dict[str, Any]:
        _parts(full, 3)
        if full not in self.models:
            raise HttpError("NOT_FOUND", f"Registered model not found: {full}")
        return self.models[full]

    def model_wire(self, full: str, with_aliases: bool = False) -> dict[str, Any]:
        info = dict(self._model(full))
        if with_aliases:
            info["aliases"] = self._alias_records(full)
        return info

    def update_model(self, full: str, body: dict[str, Any]) -> dict[str, Any]:
        model = self._model(full)
        if "comment" not in body and "new_name" not in body:
            raise HttpError("INVALID_ARGUMENT", "No updated fields defined.")
        if "new_name" in body:
            raise HttpError("INVALID_ARGUMENT", "renaming is not served by this fake")
        model["comment"] = body["comment"]
        model["updated_at"] = self.now()
        return model

    def delete_model(self, full: str, *, force: bool) -> dict[str, Any]:
        self._model(full)
        if self.versions[full] and not force:
            raise HttpError("INVALID_ARGUMENT", f"Registered model has versions: {full}")
        for table in (self.models, self.versions, self.aliases):
            table.pop(full, None)
        return {}

    # --- versions -----------------------------------------------------------------

    def create_version(self, body: dict[str, Any]) -> dict[str, Any]:
        full = f"{body['catalog_name']}.{body['schema_name']}.{body['model_name']}"
        model = self._model(full)
        number = max(self.versions[full], default=0) + 1
        version_id = str(uuid.uuid4())
        location = Path(model["storage_location"].removeprefix("file://")) / "versions" / version_id
        location.mkdir(parents=True, exist_ok=True)
        now = self.now()
        info: dict[str, Any] = {
            "model_name": body["model_name"],
            "catalog_name": body["catalog_name"],
            "schema_name": body["schema_name"],
            "version": number,
            "source": body["source"],
            "status": "PENDING_REGISTRATION",
            "storage_location": location.as_uri(),
            "created_at": now,
            "created_by": "modelgate-tests",
            "updated_at": now,
            "updated_by": "modelgate-tests",
            "id": version_id,
        }
        for key in ("run_id", "comment"):
            if body.get(key):
                info[key] = body[key]
        self.versions[full][number] = info
        return info

    def _version(self, full: str, number: int) -> dict[str, Any]:
        self._model(full)
        if number not in self.versions[full]:
            raise HttpError("NOT_FOUND", f"Model version not found: {full}/{number}")
        return self.versions[full][number]

    def version_wire(self, full: str, number: int, with_aliases: bool = False) -> dict[str, Any]:
        info = dict(self._version(full, number))
        if with_aliases:
            info["aliases"] = [a for a in self._alias_records(full) if a["version_num"] == number]
        return info

    def list_versions(self, full: str, query: dict[str, str]) -> dict[str, Any]:
        self._model(full)
        size = _page_size(query)
        token = query.get("page_token") or "0"
        if not token.isdigit():
            raise HttpError("INVALID_ARGUMENT", f"Invalid page token received: {token}")
        numbers = [n for n in sorted(self.versions[full]) if n > int(token)][:size]
        result: dict[str, Any] = {"model_versions": [self.versions[full][n] for n in numbers]}
        if len(numbers) == size:
            result["next_page_token"] = str(numbers[-1])
        return result

    def update_version(self, full: str, number: int, body: dict[str, Any]) -> dict[str, Any]:
        version = self._version(full, number)
        if "comment" not in body:
            raise HttpError("INVALID_ARGUMENT", "No updated fields defined.")
        version["comment"] = body["comment"]
        version["updated_at"] = self.now()
        return version

    def finalize(self, full: str, number: int) -> dict[str, Any]:
        version = self._version(full, number)
        if version["status"] != "PENDING_REGISTRATION":
            raise HttpError(
                "INVALID_ARGUMENT", f"Model version not in a pending registration state: {full}/{number}"
            )
        version["status"] = "READY"
        version["updated_at"] = self.now()
        return version

    def delete_version(self, full: str, number: int) -> dict[str, Any]:
        self._version(full, number)
        del self.versions[full][number]
        self.aliases[full] = {a: v for a, v in self.aliases[full].items() if v != number}
        return {}

    # --- aliases (Databricks) -----------------------------------------------------

    def _alias_records(self, full: str) -> list[dict[str, Any]]:
        model = self.models[full]
        return [
            {
                "alias_name": alias,
                "version_num": number,
                "model_name": model["name"],
                "catalog_name": model["catalog_name"],
                "schema_name": model["schema_name"],
            }
            for alias, number in sorted(self.aliases[full].items())
        ]

    def set_alias(self, full: str, alias: str, number: int) -> dict[str, Any]:
        self._version(full, number)
        self.aliases[full][alias] = number
        return next(a for a in self._alias_records(full) if a["alias_name"] == alias)

    def delete_alias(self, full: str, alias: str) -> dict[str, Any]:
        self._model(full)
        if alias not in self.aliases[full]:
            raise HttpError("NOT_FOUND", f"Alias not found: {alias}")
        del self.aliases[full][alias]
        return {}

    def version_by_alias(self, full: str, alias: str, with_aliases: bool) -> dict[str, Any]:
        self._model(full)
        if alias not in self.aliases[full]:
            raise HttpError("NOT_FOUND", f"Alias not found: {alias}")
        return self.version_wire(full, self.aliases[full][alias], with_aliases)
