"""The fake registry's in-memory state: what the server keeps in its database.

Entities are stored as the JSON the server answers: registered models, model
versions, serving environments and InferenceServices (contexts, sharing one id
sequence as in the server's schema) and artifacts of every type (another). The
HTTP side, auth and the spec checks live in ``app.py``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.kubeflow.filters import FilterError, parse

DEFAULT_PAGE_SIZE = 100
ORDER_FIELDS = {
    "ID": "id",
    "CREATE_TIME": "createTimeSinceEpoch",
    "LAST_UPDATE_TIME": "lastUpdateTimeSinceEpoch",
}
CONTEXTS = ("registered_models", "model_versions", "serving_environments", "inference_services")
# The spec's artifact-type-specific collections, and the artifactType they hold.
TYPED_ARTIFACTS = {"model_artifacts": "model-artifact"}
FINDS = {
    "registered_model": "registered_models",
    "model_version": "model_versions",
    "serving_environment": "serving_environments",
    "inference_service": "inference_services",
    "model_artifact": "model_artifacts",
    "artifact": "artifacts",
}
# Which context a child collection's parent id names, and the field that links them.
CHILDREN = {
    ("registered_models", "versions"): ("model_versions", "registeredModelId"),
    ("serving_environments", "inference_services"): ("inference_services", "servingEnvironmentId"),
}
# Fields the server owns: a client's value is ignored on create and update.
SERVER_FIELDS = ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class RegistryStore:
    """Answers one API call (the path after the generation prefix) from memory."""

    clock: Callable[[], float] = time.time
    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _version_artifacts: dict[str, list[str]] = field(default_factory=dict)
    _next_context: int = 1
    _next_artifact: int = 1
    _last_ms: int = 0

    def __post_init__(self) -> None:
        for collection in (*CONTEXTS, "artifacts"):
            self.entities.setdefault(collection, {})

    def handle(self, method: str, rest: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = rest.split("/")
        if len(parts) == 1 and parts[0] in FINDS:
            return 200, self._find(parts[0], query)
        collection = parts[0]
        if len(parts) == 1:
            if method == "GET":
                return 200, self._list(self._items(collection), query)
            return 201, self._create(collection, body or {})
        entity_id = parts[1]
        if len(parts) == 2:
            entity = self._get(collection, entity_id)
            if method == "PATCH":
                return 200, self._patch(collection, entity, body or {})
            return 200, entity
        parent = self._get(collection, entity_id)
        child = parts[2]
        if collection == "model_versions" and child == "artifacts":
            if method == "GET":
                items = [self.entities["artifacts"][a] for a in self._version_artifacts.get(parent["id"], [])]
                if kind := query.get("artifactType"):
                    items = [a for a in items if a.get("artifactType") == kind]
                return 200, self._list(items, query)
            return self._upsert_version_artifact(parent, body or {})
        if (collection, child) in CHILDREN:
            target, link = CHILDREN[(collection, child)]
            if method == "GET":
                items = [e for e in self.entities[target].values() if e.get(link) == parent["id"]]
                return 200, self._list(items, query)
            return 201, self._create(target, {**(body or {}), link: parent["id"]})
        if collection == "inference_services" and child == "model":
            return 200, self._get("registered_models", parent["registeredModelId"])
        raise HttpError(404, f"{rest} is not served by the fake")

    def _items(self, collection: str) -> list[dict[str, Any]]:
        if collection in TYPED_ARTIFACTS:
            kind = TYPED_ARTIFACTS[collection]
            return [a for a in self.entities["artifacts"].values() if a.get("artifactType") == kind]
        if collection not in self.entities:
            raise HttpError(404, f"{collection} is not served by the fake")
        return list(self.entities[collection].values())

    def _get(self, collection: str, entity_id: str) -> dict[str, Any]:
        store = "artifacts" if collection in TYPED_ARTIFACTS else collection
        entity = self.entities.get(store, {}).get(entity_id)
        if entity is None or (
            collection in TYPED_ARTIFACTS and entity.get("artifactType") != TYPED_ARTIFACTS[collection]
        ):
            raise HttpError(404, f"no {collection[:-1].replace('_', ' ')} with id {entity_id}")
        return entity

    def _find(self, kind: str, query: dict[str, str]) -> dict[str, Any]:
        collection = FINDS[kind]
        name, external_id, parent = query.get("name"), query.get("externalId"), query.get("parentResourceId")
        if not name and not external_id:
            raise HttpError(400, "either name or externalId is required")
        if name and collection == "model_versions" and not parent:
            raise HttpError(400, "a model version name is only unique with parentResourceId")
        for entity in self._items(collection):
            if external_id and entity.get("externalId") != external_id:
                continue
            if name and entity.get("name") != name:
                continue
            if parent and collection == "model_versions" and entity.get("registeredModelId") != parent:
                continue
            return entity
        raise HttpError(404, f"no {kind.replace('_', ' ')} matches {query}")

    def _list(self, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        size = int(query.get("pageSize") or DEFAULT_PAGE_SIZE)
        order = ORDER_FIELDS.get(query.get("orderBy") or "ID")
        if order is None:
            raise HttpError(400, f"cannot order by {query.get('orderBy')!r}")
        descending = (query.get("sortOrder") or "ASC") == "DESC"
        if query.get("filterQuery"):
            try:
                predicate = parse(query["filterQuery"])
            except FilterError as exc:
                raise HttpError(400, str(exc)) from None
            items = [i for i in items if predicate(i)]

        def key(item: dict[str, Any]) -> tuple[int, int]:
            return int(item.get(order) or 0), int(item["id"])

        ordered = sorted(items, key=key, reverse=descending)
        if token := query.get("nextPageToken"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(token.encode())))
            except (ValueError, TypeError):
                raise HttpError(400, f"invalid nextPageToken {token!r}") from None
            ordered = [i for i in ordered if (key(i) < after if descending else key(i) > after)]
        page = ordered[:size]
        more = len(ordered) > size
        next_token = base64.urlsafe_b64encode(json.dumps(key(page[-1])).encode()).decode() if more else ""
        return {"items": page, "nextPageToken": next_token, "pageSize": size, "size": len(page)}

    def _now(self) -> str:
        ms = max(int(self.clock() * 1000), self._last_ms + 1)  # strictly increasing, like row order
        self._last_ms = ms
        return str(ms)

    def _create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        if collection in TYPED_ARTIFACTS or collection == "artifacts":
            kind = TYPED_ARTIFACTS.get(collection) or body.get("artifactType")
            return self._new_artifact({**body, "artifactType": kind})
        if collection not in CONTEXTS:
            raise HttpError(404, f"{collection} is not served by the fake")
        entity = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        name = entity.get("name")
        if collection == "model_versions":
            model_id = str(entity.get("registeredModelId") or "")
            if model_id not in self.entities["registered_models"]:
                raise HttpError(404, f"no registered model with id {model_id}")
            clash = [v for v in self.entities[collection].values() if v["registeredModelId"] == model_id]
        elif collection == "inference_services":
            for link, target in (
                ("registeredModelId", "registered_models"),
                ("servingEnvironmentId", "serving_environments"),
                ("modelVersionId", "model_versions"),
            ):
                if entity.get(link) and str(entity[link]) not in self.entities[target]:
                    raise HttpError(404, f"no {target[:-1].replace('_', ' ')} with id {entity[link]}")
            clash = [
                s
                for s in self.entities[collection].values()
                if s["servingEnvironmentId"] == entity.get("servingEnvironmentId")
            ]
        else:
            clash = list(self.entities[collection].values())
        if name and any(e.get("name") == name for e in clash):
            raise HttpError(409, f"{collection[:-1].replace('_', ' ')} {name!r} already exists")
        now = self._now()
        entity_id = str(self._next_context)
        self._next_context += 1
        entity.update(id=entity_id, createTimeSinceEpoch=now, lastUpdateTimeSinceEpoch=now)
        entity.setdefault("customProperties", {})
        if collection in ("registered_models", "model_versions"):
            entity.setdefault("state", "LIVE")
        if collection == "inference_services":
            entity.setdefault("desiredState", "DEPLOYED")
        self.entities[collection][entity_id] = entity
        return entity

    def _new_artifact(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        artifact = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        artifact.update(id=str(self._next_artifact), createTimeSinceEpoch=now, lastUpdateTimeSinceEpoch=now)
        self._next_artifact += 1
        artifact.setdefault("customProperties", {})
        if artifact.get("artifactType") in ("model-artifact", "doc-artifact", "dataset-artifact"):
            artifact.setdefault("state", "UNKNOWN")
        self.entities["artifacts"][artifact["id"]] = artifact
        return artifact

    def _patch(self, collection: str, entity: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if "artifactType" in body and body["artifactType"] != entity.get("artifactType"):
            raise HttpError(400, f"cannot change artifactType to {body['artifactType']!r}")
        for key, value in body.items():
            # name is immutable once set; customProperties is replaced whole (the
            # server's reconciler copies the update's map over the stored one).
            if key in SERVER_FIELDS or key == "name" or value is None:
                continue
            entity[key] = value
        entity["lastUpdateTimeSinceEpoch"] = self._now()
        return entity

    def _upsert_version_artifact(self, version: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        links = self._version_artifacts.setdefault(version["id"], [])
        if body.get("id"):
            artifact = self.entities["artifacts"].get(str(body["id"]))
            if artifact is None:
                raise HttpError(404, f"no artifact with id {body['id']}")
            if artifact["id"] not in links:
                links.append(artifact["id"])
            return 200, self._patch("artifacts", artifact, body)
        name = body.get("name")
        for artifact_id in links:  # names are unique among a version's artifacts
            existing = self.entities["artifacts"][artifact_id]
            if (
                name
                and existing.get("name") == name
                and existing.get("artifactType") == body.get("artifactType")
            ):
                return 200, self._patch("artifacts", existing, body)
        artifact = self._new_artifact(body)
        links.append(artifact["id"])
        return 201, artifact
