"""The ``azureml`` adapter: an Azure ML workspace or registry behind ``RegistryAdapter``."""

from __future__ import annotations

import re
from typing import Any

import httpx

from adapters.azureml.api import ALL, AzureMLApi
from adapters.azureml.auth import EntraClientCredentialsAuth
from adapters.azureml.links import studio_url
from adapters.azureml.mapping import job_edge, stage_fields, to_model, to_version, writable_properties
from adapters.azureml.options import AzureMLSettings
from adapters.base import ChangeSet, Health, Page, archive_other_production
from adapters.toolkit.paging import decode_token, encode_token, listing, listing_token
from adapters.toolkit.retry import RetryPolicy
from gateway.domain import LineageEdge, Model, ModelVersion, Stage, record_edges
from gateway.errors import RegistryError, RegistryNotFound

# mfe.json's container-name pattern; version ids are free strings without slashes.
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")
VERSION = re.compile(r"^[^/?#]{1,255}$")


class AzureMLRegistry:
    """Reads and stage write-through for one Azure ML workspace or registry."""

    kind = "azureml"

    def __init__(
        self,
        registry_id: str,
        settings: AzureMLSettings,
        *,
        team: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        auth: EntraClientCredentialsAuth | None = None,
    ):
        self.registry_id = registry_id
        self.team = team
        self.settings = settings
        self._api = AzureMLApi(registry_id, settings, transport=transport, retry=retry, auth=auth)

    @property
    def auth(self) -> EntraClientCredentialsAuth:
        return self._api.auth

    # --- reads ---------------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """One page of model containers, archived ones included (``listViewType=All``)."""
        body = await self._api.list_containers(self._next_link(page_token))
        items = listing(self.registry_id, body, "value", what="a model listing")
        models = [to_model(m, self.registry_id) for m in items]
        return Page(
            models, self._token(listing_token(self.registry_id, body, "nextLink", what="a model listing"))
        )

    async def get_model(self, name: str) -> Model | None:
        if not NAME.match(name):
            return None
        wire = await self._api.get_container(name)
        return to_model(wire, self.registry_id) if wire else None

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """One page of versions with ``listViewType=All``, oldest first.

        An Azure ML *registry* ignores ``listViewType`` on this listing and never
        lists archived versions (azure-sdk-for-python#48675), though it still
        answers a GET for them. So on a registry the last page also carries the
        archived versions found by probing the numeric gaps below the container's
        ``latestVersion``/``nextVersion`` (at most ``archived_probe_limit`` GETs);
        an archived version with a non-numeric id cannot be found that way."""
        if not NAME.match(model_name):
            return Page([])
        state = decode_token(page_token) if page_token else {}
        body = await self._api.list_versions(model_name, state.get("next"), view=ALL)
        if body is None:
            return Page([])
        items = listing(self.registry_id, body, "value", what="a version listing")
        versions = [to_version(v, self.registry_id, self.settings.stages, model_name) for v in items]
        next_link = listing_token(self.registry_id, body, "nextLink", what="a version listing")
        if not self.settings.is_registry:
            return Page(versions, self._token(next_link))
        seen = set(state.get("seen") or ()) | {int(v.version) for v in versions if v.version.isdigit()}
        if next_link:
            return Page(versions, encode_token({"next": next_link, "seen": sorted(seen)}))
        return Page(versions + await self._archived_in_registry(model_name, seen), None)

    async def _archived_in_registry(self, model_name: str, listed: set[int]) -> list[ModelVersion]:
        container = await self._api.get_container(model_name)
        props: dict[str, Any] = (container or {}).get("properties") or {}
        highest = max(listed, default=0)
        for key, offset in (("latestVersion", 0), ("nextVersion", -1)):
            value = str(props.get(key) or "")
            if value.isdigit():
                highest = max(highest, int(value) + offset)
        found = []
        gaps = [n for n in range(1, highest + 1) if n not in listed][: self.settings.archived_probe_limit]
        for number in gaps:
            wire = await self._api.get_version(model_name, str(number))
            if wire and (wire.get("properties") or {}).get("isArchived"):
                found.append(to_version(wire, self.registry_id, self.settings.stages, model_name))
        return found

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        if not NAME.match(name) or not VERSION.match(version):
            return None
        wire = await self._api.get_version(name, version)
        return to_version(wire, self.registry_id, self.settings.stages, name) if wire else None

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """ARM offers no change feed for model assets, and Azure documents no rule
        for when a container's ``lastModifiedAt`` moves (a new version? a stage
        change?). So the sync engine compares a full listing, with no request here."""
        return ChangeSet(cursor=None, changed=None)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """The training job (``jobName``) as a PRODUCED_BY edge, plus the record's edges."""
        if "id" not in version.native:
            version = await self.get_version(version.model_name, version.version) or version
        edges = record_edges(version)
        job = job_edge(version, self.settings)
        return [*edges, job] if job else edges

    # --- write-through -------------------------------------------------------

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """PUT the version back with the new ``stage`` (or ``isArchived``), every
        other field as just read. ``stage`` is a free string per version, so
        PRODUCTION then archives every other version of the model that reads
        PRODUCTION: one PRODUCTION version per model (``archive_other_production``).
        Azure ML keeps no note of who asked: ``actor`` lives in modelgate's audit
        log only."""
        written = await self._write_stage(version, stage)
        if stage is Stage.PRODUCTION:
            await archive_other_production(
                self, written, lambda other: self._write_stage(other, Stage.ARCHIVED)
            )
        return written

    async def _write_stage(self, version: ModelVersion, stage: Stage) -> ModelVersion:
        current = await self._api.get_version(version.model_name, version.version)
        if current is None:
            raise RegistryNotFound(
                self.registry_id, f"model {version.model_name} has no version {version.version}", status=404
            )
        properties = {**writable_properties(current), **stage_fields(stage, self.settings.stages)}
        answer = await self._api.put_version(version.model_name, version.version, {"properties": properties})
        written = await self._api.get_version(version.model_name, version.version)
        # A registry PUT is a long-running operation: until it lands, the PUT's own
        # answer is the registry's word on the version.
        wire = written if written and _has(written, properties) else answer
        if not wire.get("properties"):
            raise RegistryError(self.registry_id, f"version {version.uri} vanished during the write")
        return to_version(wire, self.registry_id, self.settings.stages, version.model_name)

    # --- operations ----------------------------------------------------------

    def source_url(self, model_name: str, version: str | None = None) -> str | None:
        """Azure ML studio's page for the version (``SourceLinker``)."""
        return studio_url(self.settings, model_name, version)

    async def health(self) -> Health:
        """One authenticated read: also reports credentials Entra ID no longer accepts."""
        try:
            await self._api.list_containers()
        except RegistryError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True)

    async def aclose(self) -> None:
        await self._api.aclose()

    # --- paging ----------------------------------------------------------------

    def _token(self, next_link: str | None) -> str | None:
        return encode_token({"next": next_link}) if next_link else None

    def _next_link(self, page_token: str | None) -> str | None:
        return decode_token(page_token).get("next") if page_token else None


def _has(wire: dict[str, Any], properties: dict[str, Any]) -> bool:
    props = wire.get("properties") or {}
    return all(props.get(k) == v for k, v in properties.items() if k in ("stage", "isArchived"))
