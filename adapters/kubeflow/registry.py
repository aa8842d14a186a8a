"""The ``kubeflow`` adapter: Kubeflow Model Registry behind ``RegistryAdapter``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from adapters.base import ChangeSet, Health, Page, archive_other_production
from adapters.kubeflow.api import KubeflowApi
from adapters.kubeflow.mapping import (
    deployment_of,
    domain_name,
    endpoint_of,
    registry_name,
    source_edges,
    string_property,
    to_model,
    to_version,
)
from adapters.kubeflow.options import KubeflowSettings
from adapters.toolkit.retry import RetryPolicy
from gateway.domain import (
    Deployment,
    Endpoint,
    LineageEdge,
    Model,
    ModelVersion,
    Stage,
    record_edges,
    version_uri,
)
from gateway.errors import RegistryError, RegistryNotFound, RegistryRejected

Wire = dict[str, Any]
# Artifact listings per version are the N+1 of a version page; this bounds how
# many run at once.
ARTIFACT_CONCURRENCY = 8
CHANGE_LISTINGS = ("registered_models", "model_versions", "inference_services")


class KubeflowRegistry:
    """Reads and stage write-through for one Kubeflow Model Registry server."""

    kind = "kubeflow"

    def __init__(
        self,
        registry_id: str,
        settings: KubeflowSettings,
        *,
        team: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.registry_id = registry_id
        self.team = team
        self.settings = settings
        self._api = KubeflowApi(registry_id, settings, transport=transport, retry=retry)
        # Serving environment names never change once set: this cache never goes stale.
        self._environments: dict[str, str] = {}  # servingEnvironmentId → name
        self._artifact_slots = asyncio.Semaphore(ARTIFACT_CONCURRENCY)

    @property
    def api(self) -> KubeflowApi:
        return self._api

    # --- reads ---------------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """One page of registered models by id (creation order), so models created
        while a sync pages through land on a later page."""
        body = await self._api.page("registered_models", page_token)
        items = body.get("items") or []
        return Page([to_model(w, self.registry_id, self.team) for w in items], _next(body))

    async def get_model(self, name: str) -> Model | None:
        wire = await self._model(name)
        return to_model(wire, self.registry_id, self.team) if wire else None

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """One page of a model's versions, oldest first, each with its artifacts and
        the InferenceServices that serve it."""
        model = await self._model(model_name)
        if model is None:
            return Page([])
        body = await self._api.page(f"registered_models/{model['id']}/versions", page_token)
        versions = await self._complete(body.get("items") or [], {str(model["id"]): model})
        return Page(versions, _next(body))

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]:
        """Every version of every model in one listing (``GET model_versions``)."""
        body = await self._api.page("model_versions", page_token)
        items = body.get("items") or []
        models = await self._models_by_id({str(v["registeredModelId"]) for v in items})
        known = [v for v in items if str(v["registeredModelId"]) in models]
        return Page(await self._complete(known, models), _next(body))

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        model = await self._model(name)
        if model is None:
            return None
        wire = await self._version(model, version)
        if wire is None:
            return None
        (found,) = await self._complete([wire], {str(model["id"]): model})
        return found

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """The registry has no change feed; every entity carries
        ``lastUpdateTimeSinceEpoch`` (ms). Models, versions and InferenceServices
        (a deployment changes a stage) updated at or after the cursor are listed
        by that field; the cursor is the newest time seen. Inclusive, so an update
        in the cursor's own millisecond is read again rather than missed. The
        registry deletes nothing (it archives), so nothing is reported deleted.
        Artifacts carry no parent id, so one edited in place (not a new version)
        is only seen by a full listing."""
        since = _parse_cursor(cursor)
        if since is None:
            newest = 0
            for path in CHANGE_LISTINGS:
                body = await self._api.page(path, page_size=1, order_by="LAST_UPDATE_TIME", sort_order="DESC")
                newest = max([newest, *(_updated(w) for w in body.get("items") or ())])
            return ChangeSet(cursor=str(newest) if newest else None, changed=None)
        latest = since
        model_ids: dict[str, None] = {}
        for path in CHANGE_LISTINGS:
            async for wire in self._api.every(
                path, order_by="LAST_UPDATE_TIME", filter_query=f"lastUpdateTimeSinceEpoch >= {since}"
            ):
                latest = max(latest, _updated(wire))
                model_id = wire.get("registeredModelId") if path != "registered_models" else wire.get("id")
                if model_id is not None:
                    model_ids[str(model_id)] = None
        names = await self._models_by_id(set(model_ids))
        changed = [domain_name(names[i]["name"]) for i in model_ids if i in names]
        return ChangeSet(cursor=str(latest), changed=changed)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """Edges from the record: dataset artifacts (TRAINED_ON / VALIDATED_ON by
        their ``role``), the InferenceServices that serve it (DEPLOYED_TO), and the
        run its model artifact names as source (PRODUCED_BY)."""
        if "id" not in version.native:  # e.g. a bare index row
            version = await self.get_version(version.model_name, version.version) or version
        return record_edges(version) + source_edges(version)

    async def list_endpoints(self) -> list[Endpoint]:
        """``ServingReader``: one endpoint per InferenceService, DEPLOYED or not,
        serving its ``modelVersionId`` or, without one, its model's latest version
        by creation (the spec's rule). One listing of the services, then one of
        the versions of each model they serve (names for the URIs)."""
        services = [s async for s in self._api.every("inference_services")]
        models = await self._models_by_id({str(s["registeredModelId"]) for s in services})
        versions: dict[str, list[Wire]] = {}  # model id → its versions, oldest first
        for model_id in models:
            versions[model_id] = [
                v
                async for v in self._api.every(
                    f"registered_models/{model_id}/versions", order_by="CREATE_TIME", sort_order="ASC"
                )
            ]
        endpoints = []
        for service in services:
            model_id = str(service["registeredModelId"])
            model = models.get(model_id)
            known = versions.get(model_id) or []
            wanted = service.get("modelVersionId")
            served = next((v for v in known if str(v["id"]) == str(wanted)), None) if wanted else None
            if not wanted and known:
                served = known[-1]
            uri = (
                version_uri(self.registry_id, domain_name(model["name"]), domain_name(served["name"]))
                if model is not None and served is not None
                else None
            )
            environment = await self._environment(str(service.get("servingEnvironmentId") or ""))
            endpoints.append(endpoint_of(service, environment, uri, self.registry_id))
        return sorted(endpoints, key=lambda e: e.uri)

    # --- write-through -------------------------------------------------------

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """PATCH the version's stage property to the stage's first configured value,
        and its ``state`` to ARCHIVED (or back to LIVE when leaving ARCHIVED). A
        version of an archived registered model leaves ARCHIVED only with its
        model, so the model's ``state`` is restored to LIVE first (what the
        Kubeflow UI's "restore" does).

        Works from a fresh read and sends the whole ``customProperties`` map: the
        server *replaces* the map on PATCH, so sending only the stage would erase
        every other property. A stage property is per version, so PRODUCTION then
        archives every other version of the model that reads PRODUCTION (by its
        property, or by being served where ``deployed_is_production``): one
        PRODUCTION version per model (``archive_other_production``). The registry
        records no editor: ``actor`` lives in modelgate's audit log only."""
        model = await self._model(version.model_name)
        current = await self._version(model, version.version) if model else None
        if model is None or current is None:
            raise RegistryRejected(
                self.registry_id, f"model {version.model_name} has no version {version.version}", status=404
            )
        written = await self._write_stage(model, current, version, stage)
        if stage is Stage.PRODUCTION:

            async def archive(other: ModelVersion) -> None:
                wire = await self._version(model, other.version)
                if wire is not None:
                    await self._write_stage(model, wire, other, Stage.ARCHIVED)

            await archive_other_production(self, written, archive)
        return written

    async def _write_stage(
        self, model: Wire, current: Wire, version: ModelVersion, stage: Stage
    ) -> ModelVersion:
        stages = self.settings.stages
        properties = dict(current.get("customProperties") or {})
        wanted = string_property(stages.written(stage))
        body: dict[str, Any] = {}
        if properties.get(stages.property) != wanted:
            properties[stages.property] = wanted
            body["customProperties"] = properties
        state = current.get("state") or "LIVE"
        if stage is Stage.ARCHIVED and state != "ARCHIVED":
            body["state"] = "ARCHIVED"
        elif stage is not Stage.ARCHIVED and state == "ARCHIVED":
            body["state"] = "LIVE"
        if stage is not Stage.ARCHIVED and model.get("state") == "ARCHIVED":
            await self._api.patch(f"registered_models/{model['id']}", {"state": "LIVE"})
        if body:
            await self._api.patch(f"model_versions/{current['id']}", body)
        written = await self.get_version(version.model_name, version.version)
        if written is None:
            raise RegistryRejected(self.registry_id, f"version {version.uri} vanished during the write")
        return written

    # --- operations ----------------------------------------------------------

    async def health(self) -> Health:
        """One cheap authenticated read (it also detects the API generation)."""
        try:
            await self._api.page("registered_models", page_size=1)
        except RegistryError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True)

    async def aclose(self) -> None:
        await self._api.aclose()

    # --- helpers -------------------------------------------------------------

    async def _model(self, name: str) -> Wire | None:
        """The registered model a modelgate model name names, or None."""
        if not _canonical(name):
            return None
        return await self._api.find("registered_model", {"name": registry_name(name)})

    async def _version(self, model: Wire, name: str) -> Wire | None:
        if not _canonical(name):
            return None
        query = {"name": registry_name(name), "parentResourceId": str(model["id"])}
        return await self._api.find("model_version", query)

    async def _models_by_id(self, ids: Iterable[str]) -> dict[str, Wire]:
        found: dict[str, Wire] = {}
        for model_id in ids:
            try:
                wire = await self._api.get(f"registered_models/{model_id}")
            except RegistryNotFound:
                continue
            found[model_id] = wire
        return found

    async def _complete(self, versions: Sequence[Wire], models: Mapping[str, Wire]) -> list[ModelVersion]:
        """Versions with their artifacts and deployments, mapped to the domain."""
        if not versions:
            return []
        artifacts = await asyncio.gather(*(self._artifacts(str(v["id"])) for v in versions))
        serving = await self._deployments(models)
        return [
            to_version(
                wire,
                models[str(wire["registeredModelId"])],
                found,
                serving.get(str(wire["id"]), ()),
                registry_id=self.registry_id,
                stages=self.settings.stages,
                param_prefix=self.settings.param_prefix,
                team=self.team,
            )
            for wire, found in zip(versions, artifacts, strict=True)
        ]

    async def _artifacts(self, version_id: str) -> list[Wire]:
        async with self._artifact_slots:
            return [a async for a in self._api.every(f"model_versions/{version_id}/artifacts")]

    async def _deployments(self, models: Mapping[str, Wire]) -> dict[str, list[Deployment]]:
        """``modelVersionId`` → the DEPLOYED InferenceServices serving it. One
        filtered listing per model; an InferenceService without ``modelVersionId``
        serves the model's latest version by creation (the spec's rule)."""
        serving: dict[str, list[Deployment]] = {}
        for model_id in models:
            services = [
                s
                async for s in self._api.every(
                    "inference_services", filter_query=f"registeredModelId = {int(model_id)}"
                )
                if (s.get("desiredState") or "DEPLOYED") == "DEPLOYED"
            ]
            for service in services:
                version_id = service.get("modelVersionId") or await self._latest_version_id(model_id)
                if version_id is None:
                    continue
                environment = await self._environment(str(service.get("servingEnvironmentId") or ""))
                serving.setdefault(str(version_id), []).append(deployment_of(service, environment))
        return serving

    async def _latest_version_id(self, model_id: str) -> str | None:
        body = await self._api.page(
            f"registered_models/{model_id}/versions", page_size=1, order_by="CREATE_TIME", sort_order="DESC"
        )
        items = body.get("items") or []
        return str(items[0]["id"]) if items else None

    async def _environment(self, environment_id: str) -> str | None:
        if not environment_id:
            return None
        if environment_id not in self._environments:
            try:
                wire = await self._api.get(f"serving_environments/{environment_id}")
            except RegistryNotFound:
                return None
            self._environments[environment_id] = wire.get("name") or environment_id
        return self._environments[environment_id]


def _canonical(name: str) -> bool:
    """Only the escaped spelling is a name: ``a%2Fb`` is, ``a/b`` is not."""
    return bool(name) and domain_name(registry_name(name)) == name


def _next(body: Mapping[str, Any]) -> str | None:
    # The server always sends nextPageToken ("" on the last page).
    return (body.get("nextPageToken") or None) if body.get("items") else None


def _updated(wire: Mapping[str, Any]) -> int:
    try:
        return int(wire.get("lastUpdateTimeSinceEpoch") or 0)
    except (TypeError, ValueError):
        return 0


def _parse_cursor(cursor: str | None) -> int | None:
    if not cursor or not cursor.isdigit():  # none yet, or from another version of modelgate
        return None
    return int(cursor)
