"""The ``vertex`` adapter: Vertex AI Model Registry behind ``RegistryAdapter``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import httpx

from adapters.base import ChangeSet, Health, Page
from adapters.toolkit.paging import listing, listing_token
from adapters.toolkit.retry import RetryPolicy
from adapters.toolkit.timestamps import to_utc
from adapters.vertex.api import VertexApi
from adapters.vertex.auth import ServiceAccountAuth
from adapters.vertex.links import vertex_console_url
from adapters.vertex.mapping import MODEL_NAME, lineage_edges, model_id_of, to_model, to_version
from adapters.vertex.options import VertexSettings
from adapters.vertex.serving import endpoint_from_wire
from adapters.vertex.traffic import VertexTraffic
from gateway.domain import Endpoint, LineageEdge, Model, ModelVersion, Stage, TrafficShare, record_edges
from gateway.errors import RegistryError, RegistryRejected

# Vertex model IDs: generated ones are numbers, user-chosen ones [a-z0-9_-].
MODEL_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
NEWEST_FIRST = "update_time desc"
TIMES_ONLY = "name,updateTime"


class VertexRegistry:
    """Reads and stage write-through for one Vertex project and location."""

    kind = "vertex"

    def __init__(
        self,
        registry_id: str,
        settings: VertexSettings,
        *,
        team: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,  # tests set it to move token expiry
    ):
        self.registry_id = registry_id
        self.team = team
        self.settings = settings
        self._api = VertexApi(registry_id, settings, transport=transport, retry=retry, clock=clock)
        self._traffic = VertexTraffic(registry_id, settings, self._api, transport=transport, retry=retry)

    @property
    def auth(self) -> ServiceAccountAuth:
        return self._api.auth

    # --- reads ---------------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """One page of models, ordered by ``create_time`` so that models created
        while a sync pages through land on a later page. Vertex lists each model
        once, as the version holding its ``default`` alias, so a model's tags are
        that version's labels. ``model_filter`` (Vertex filter syntax) scopes the
        listing; reads by name are not filtered."""
        body = await self._api.list_models(page_token)
        # Google APIs omit an empty ``models``; anything else off the shape is an error.
        items = listing(self.registry_id, body, "models", what="models.list")
        models = [to_model(m, self.registry_id) for m in items]
        return Page(models, listing_token(self.registry_id, body, "nextPageToken", what="models.list"))

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """Every version through ``:listVersions``, oldest first. In this listing
        Vertex names each version ``…/models/ID@VERSION``; elsewhere without ``@``."""
        if not MODEL_ID.match(model_name):
            return Page([])
        body = await self._api.list_versions(model_name, page_token)
        if body is None:
            return Page([])
        items = listing(self.registry_id, body, "models", what="models.listVersions")
        versions = [to_version(m, self.registry_id, self.settings.stages) for m in items]
        return Page(
            versions, listing_token(self.registry_id, body, "nextPageToken", what="models.listVersions")
        )

    async def get_model(self, name: str) -> Model | None:
        if not MODEL_ID.match(name):
            return None
        wire = await self._api.get_model(name)
        return to_model(wire, self.registry_id) if wire else None

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        """``GET …/models/ID@VERSION``. Vertex would also resolve ``@alias``; only
        version ids are accepted here, so a URI always names one fixed version."""
        if not MODEL_ID.match(name) or not version.isdigit():
            return None
        wire = await self._api.get_model(name, version)
        return to_version(wire, self.registry_id, self.settings.stages) if wire else None

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """Vertex documents ``updateTime`` only as "when this Model was most recently
        updated", not whether moving an alias (a stage change) or uploading a
        version bumps it, nor how a model's time relates to its versions'. So by
        default this answers ``changed=None`` (the sync engine compares a full
        listing), with no request at all. With ``incremental_sync = true`` it lists
        models by ``update_time desc`` and stops at the cursor (inclusive: a model
        updated in the cursor's own instant is read again rather than missed).
        Deleted models are only noticed by a full listing."""
        if not self.settings.incremental_sync:
            return ChangeSet(cursor=None, changed=None)
        since = _parse_cursor(cursor)
        if since is None:
            body = await self._api.list_models(order_by=NEWEST_FIRST, page_size=1, read_mask=TIMES_ONLY)
            newest = [to_utc(m.get("updateTime")) for m in body.get("models") or ()]
            return ChangeSet(cursor=newest[0].isoformat() if newest and newest[0] else None, changed=None)
        changed: dict[str, None] = {}
        latest = since
        token: str | None = None
        while True:
            body = await self._api.list_models(token, order_by=NEWEST_FIRST, read_mask=TIMES_ONLY)
            for wire in body.get("models") or ():
                updated = to_utc(wire.get("updateTime"))
                if updated is None or updated < since:
                    return ChangeSet(cursor=latest.isoformat(), changed=list(changed))
                changed[model_id_of(wire["name"])] = None
                latest = max(latest, updated)
            token = body.get("nextPageToken") or None
            if token is None:
                return ChangeSet(cursor=latest.isoformat(), changed=list(changed))

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """Deployments from the record, plus what Vertex ML Metadata knows around the
        version's ``metadataArtifact``: producing runs, input datasets, parent models."""
        if "metadataArtifact" not in version.native and "name" not in version.native:
            fresh = await self.get_version(version.model_name, version.version)  # e.g. from a bare index row
            version = fresh or version
        edges = record_edges(version)
        artifact = version.native.get("metadataArtifact")
        if not artifact:
            return edges
        subgraph = await self._api.lineage_subgraph(artifact)
        if subgraph is None:  # the metadata artifact was deleted
            return edges
        projects = {self.settings.project}
        if match := MODEL_NAME.match(str(version.native.get("name", ""))):
            projects.add(match.group(1))  # Vertex may spell the project as its number
        return edges + lineage_edges(version, subgraph, (frozenset(projects), self.settings.location))

    # --- serving -------------------------------------------------------------

    async def list_endpoints(self) -> list[Endpoint]:
        """Every endpoint of the configured location with its traffic split over
        versions (``ServingReader``; see ``adapters.vertex.serving``)."""
        found: list[Endpoint] = []
        token: str | None = None
        while True:
            body = await self._api.list_endpoints(token)
            found += [
                endpoint_from_wire(w, self.registry_id, self.settings.project, self.settings.location)
                for w in body.get("endpoints") or ()
            ]
            token = body.get("nextPageToken") or None
            if token is None:
                return found

    # --- canary rollouts (see adapters.vertex.traffic) ---------------------------

    async def endpoint_traffic(self, endpoint: str) -> Endpoint:
        """One endpoint's deployed models and split (``TrafficController``)."""
        return await self._traffic.endpoint_traffic(endpoint)

    async def set_traffic(self, endpoint: str, shares: Sequence[TrafficShare]) -> Endpoint:
        """Replace the endpoint's ``trafficSplit`` (whole percentages summing to 100)."""
        return await self._traffic.set_traffic(endpoint, shares)

    async def deploy_candidate(self, endpoint: str, version: ModelVersion) -> Endpoint:
        """``endpoints.deployModel`` with 0 % traffic (``CandidateDeployer``)."""
        return await self._traffic.deploy_candidate(endpoint, version)

    async def error_rate(self, endpoint: str, variant: str, start: datetime, end: datetime) -> float | None:
        """5xx share of a deployed model's responses, from Cloud Monitoring (``ErrorRateReader``)."""
        return await self._traffic.error_rate(endpoint, variant, start, end)

    # --- write-through -------------------------------------------------------

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """Write a stage as Vertex aliases (PRODUCTION, STAGING) or the archived label.

        Works from a fresh read, so a retry after a partial failure does only what
        is still missing. The target stage's first alias is added with
        ``:mergeVersionAliases``; Vertex documents that an alias is unique within a
        model and *moves* from the version that held it, so the previous holder
        loses it in the same call. Other stage aliases this version held are
        removed in that call too (``-alias``). ARCHIVED sets the label (PATCH with
        ``updateMask=labels`` and the etag just read) and drops the stage aliases;
        DRAFT drops both. ``default`` is never touched. Vertex keeps no record of
        who changed an alias: ``actor`` lives in modelgate's audit log only.

        PRODUCTION moves every configured production alias the model uses (with
        ``production_aliases = ["production", "champion"]`` and ``champion`` on
        another version, both come here), so one version is left in production."""
        current = await self._api.get_model(version.model_name, version.version)
        if current is None:
            raise RegistryRejected(
                self.registry_id, f"model {version.model_name} has no version {version.version}", status=404
            )
        stages = self.settings.stages
        held = set(current.get("versionAliases") or ())
        labels: dict[str, str] = dict(current.get("labels") or {})
        label_key, label_value = stages.archived_label
        is_archived = labels.get(label_key) == label_value
        by_stage = {Stage.PRODUCTION: stages.production_aliases, Stage.STAGING: stages.staging_aliases}
        targets = by_stage.get(stage, ())
        if (stage is Stage.ARCHIVED) != is_archived:
            if stage is Stage.ARCHIVED:
                labels[label_key] = label_value
            else:
                labels.pop(label_key, None)
            await self._api.patch_labels(version.model_name, version.version, labels, current.get("etag"))
        merge = [] if not targets or set(targets) & held else [targets[0]]
        if stage is Stage.PRODUCTION and len(targets) > 1:
            used = await self._aliases_in_use(version.model_name, set(targets))
            merge = [a for a in targets if a in used and a not in held] or merge
        merge += [f"-{alias}" for alias in stages.stage_aliases if alias in held and alias not in targets]
        if merge:
            await self._api.merge_version_aliases(version.model_name, version.version, merge)
        written = await self.get_version(version.model_name, version.version)
        if written is None:
            raise RegistryRejected(self.registry_id, f"version {version.uri} vanished during the write")
        return written

    async def _aliases_in_use(self, model_name: str, wanted: set[str]) -> set[str]:
        used: set[str] = set()
        token: str | None = None
        while True:
            body = await self._api.list_versions(model_name, token)
            for wire in (body or {}).get("models") or ():
                used |= wanted & set(wire.get("versionAliases") or ())
            token = (body or {}).get("nextPageToken") or None
            if not token:
                return used

    # --- operations ----------------------------------------------------------

    async def health(self) -> Health:
        """One cheap authenticated read: also reports a key Google no longer accepts."""
        try:
            await self._api.list_models(page_size=1, read_mask="name")
        except RegistryError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True)

    def source_url(self, model_name: str, version: str | None = None) -> str | None:
        """The model's page in the Google Cloud console (``SourceLinker``)."""
        s = self.settings
        return vertex_console_url(s.api_base, s.project, s.location, model_name)

    def describe_endpoint(self) -> str:
        """The Vertex AI REST root of the configured location (``EndpointDescriber``)."""
        return f"{self.settings.api_base}{self.settings.parent}"

    async def aclose(self) -> None:
        await self._traffic.aclose()
        await self._api.aclose()


def _parse_cursor(cursor: str | None) -> datetime | None:
    if not cursor:
        return None
    try:
        return to_utc(cursor)
    except ValueError:  # a cursor from another version of modelgate: start over
        return None
