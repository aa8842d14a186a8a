"""The ``wandb`` adapter: the W&B Registry behind ``RegistryAdapter``."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from adapters.base import ChangeSet, Health, Page, WebhookRejected
from adapters.toolkit.retry import RetryPolicy
from adapters.wandb.api import WandbApi
from adapters.wandb.mapping import (
    REGISTRY_PREFIX,
    CollectionRef,
    Wire,
    collection_ref,
    model_name,
    run_details,
    single_reference,
    to_model,
    to_version,
)
from adapters.wandb.options import WandbSettings
from adapters.wandb.queries import (
    ADD_ALIASES,
    DELETE_ALIASES,
    HEALTH,
    REGISTRY_COLLECTIONS,
    REGISTRY_VERSIONS,
    UPDATE_ARTIFACT_TAGS,
    VERSION_DETAILS,
)
from gateway.domain import LineageEdge, Model, ModelVersion, Stage, record_edges
from gateway.errors import RegistryError, RegistryNotFound, RegistryRejected, RegistryUnavailable

log = logging.getLogger(__name__)
DETAIL_CONCURRENCY = 8
# Pages that come back empty while claiming more (wandb#5487): followed this many
# times before the listing is taken as ended.
MAX_EMPTY_PAGES = 5
RUN_INPUTS_PAGE = 100


class WandbRegistry:
    """Reads and alias write-through for one W&B organisation's Registry."""

    kind = "wandb"

    def __init__(
        self,
        registry_id: str,
        settings: WandbSettings,
        *,
        team: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.registry_id = registry_id
        self.team = team
        self.settings = settings
        self.api = WandbApi(registry_id, settings, transport=transport, retry=retry)
        self._org_entity: str | None = None
        self._details = asyncio.Semaphore(DETAIL_CONCURRENCY)

    # --- paging ----------------------------------------------------------------

    async def _connection(
        self, document: str, variables: dict[str, Any], field: str, cursor: str | None
    ) -> tuple[list[Wire], str | None]:
        """One non-empty Relay page of ``orgEntity.<field>`` and the cursor after it.
        Survives the paging bugs the SDK works around: empty pages that claim more
        (asked again from their cursor, a few times), and a missing ``endCursor``
        (the last edge's cursor stands in); a page claiming more with no new cursor
        at all ends the listing rather than loop."""
        for _ in range(MAX_EMPTY_PAGES + 1):
            data = await self.api.query(
                document,
                {
                    **variables,
                    "organization": self.settings.organization,
                    "cursor": cursor,
                    "perPage": self.settings.page_size,
                },
            )
            entity = (data.get("organization") or {}).get("orgEntity")
            if entity is None:
                raise RegistryNotFound(
                    self.registry_id,
                    f"W&B organization {self.settings.organization!r} not found (or not visible to this key)",
                )
            self._org_entity = entity.get("name") or self._org_entity
            # GraphQL answers every field asked for: a field missing, or a connection
            # whose ``edges`` is not a list, is a wrong answer, not an empty page.
            connection = entity.get(field, ...)
            found = connection.get("edges") if isinstance(connection, dict) else None
            if connection is ... or (connection is not None and not isinstance(found, list)):
                raise RegistryUnavailable(
                    self.registry_id, f"answered the {field} query off its shape", shape="unexpected"
                )
            connection = connection or {}
            edges = [e for e in found or () if isinstance(e, dict) and e.get("node")]
            info = connection.get("pageInfo") or {}
            after = info.get("endCursor") or (edges[-1].get("cursor") if edges else None)
            claims_more = bool(info.get("hasNextPage"))
            if not edges and claims_more:
                cursor = after or cursor  # an empty page that claims more: ask again, from its cursor
                continue
            if claims_more and (not after or after == cursor):
                log.warning("W&B claimed another page of %s without a new cursor; listing ends here", field)
                return [e["node"] for e in edges], None
            return [e["node"] for e in edges], after if claims_more else None
        return [], None

    def _registry_filter(self, registry: str | None = None) -> str | None:
        name = registry or self.settings.registry
        return json.dumps({"name": REGISTRY_PREFIX + name}) if name else None

    # --- reads -----------------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        nodes, after = await self._connection(
            REGISTRY_COLLECTIONS,
            {"registryFilter": self._registry_filter()},
            "artifactCollections",
            page_token,
        )
        models = [
            to_model(n, self.registry_id, self.settings.registry, self.team)
            for n in nodes
            if _is_collection(n)
        ]
        return Page(models, after)

    async def get_model(self, name: str) -> Model | None:
        ref = collection_ref(name, self.settings.registry)
        if ref is None:
            return None
        variables = {
            "registryFilter": self._registry_filter(ref.registry),
            "collectionFilter": json.dumps({"name": ref.collection}),
        }
        nodes, _ = await self._connection(REGISTRY_COLLECTIONS, variables, "artifactCollections", None)
        for node in nodes:
            if _is_collection(node) and node["name"] == ref.collection and _registry(node) == ref.registry:
                return to_model(node, self.registry_id, self.settings.registry, self.team)
        return None

    async def _membership_page(self, ref: CollectionRef, cursor: str | None) -> tuple[list[Wire], str | None]:
        variables = {
            "registryFilter": self._registry_filter(ref.registry),
            "collectionFilter": json.dumps({"name": ref.collection}),
        }
        nodes, after = await self._connection(REGISTRY_VERSIONS, variables, "artifactMemberships", cursor)
        mine = [
            n
            for n in nodes
            if (n.get("artifactCollection") or {}).get("name") == ref.collection
            and _registry(n.get("artifactCollection") or {}) == ref.registry
            and n.get("artifact")
            and n.get("versionIndex") is not None
        ]
        return mine, after

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """One page of a collection's versions in link order, each with the run that logged it."""
        ref = collection_ref(model_name, self.settings.registry)
        if ref is None:
            return Page([])
        nodes, after = await self._membership_page(ref, page_token)
        return Page(list(await asyncio.gather(*(self._complete(n) for n in nodes))), after)

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]:
        """Every version of every collection read, in one membership listing
        (``BulkVersionLister``): the same query without a collection filter."""
        nodes, after = await self._connection(
            REGISTRY_VERSIONS, {"registryFilter": self._registry_filter()}, "artifactMemberships", page_token
        )
        known = [
            n
            for n in nodes
            if n.get("artifact")
            and n.get("versionIndex") is not None
            and (n.get("artifactCollection") or {}).get("project")
        ]
        return Page(list(await asyncio.gather(*(self._complete(n) for n in known))), after)

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        membership = await self._find_membership(name, version)
        return await self._complete(membership) if membership else None

    async def _find_membership(self, name: str, version: str) -> Wire | None:
        ref = collection_ref(name, self.settings.registry)
        if ref is None or not version.startswith("v") or not version[1:].isdigit():
            return None
        index = int(version[1:])
        cursor: str | None = None
        while True:
            nodes, cursor = await self._membership_page(ref, cursor)
            for node in nodes:
                if node.get("versionIndex") == index:
                    return node
            if not cursor:
                return None

    async def _complete(self, membership: Wire) -> ModelVersion:
        """A membership with its manifest's reference and its run's details."""
        async with self._details:
            artifact_id = membership["artifact"]["id"]
            data = await self.api.query(VERSION_DETAILS, {"id": artifact_id, "perPage": RUN_INPUTS_PAGE})
            artifact = data.get("artifact") or {}
            uri = await self._reference(artifact)
            run = artifact.get("createdBy")
            inputs = [e.get("node") or {} for e in ((run or {}).get("artifacts") or {}).get("edges") or ()]
            refs = {n["id"]: ref for n in inputs if n.get("id") and (ref := await self._reference(n))}
        return to_version(
            membership,
            registry_id=self.registry_id,
            org_entity=self._org_entity or "",
            single=self.settings.registry,
            stages=self.settings.stages,
            team=self.team,
            artifact_uri=uri,
            details=run_details(run, refs),
        )

    async def _reference(self, artifact: Wire) -> str | None:
        url = ((artifact.get("currentManifest") or {}).get("file") or {}).get("directUrl")
        if not url:
            return None
        return single_reference(await self.api.storage_json(url))

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """No change feed but webhooks: collections carry ``updatedAt`` (W&B moves it
        when a version is linked or edited). Collections updated at or after the
        cursor are re-read; the cursor is the newest ``updatedAt`` seen."""
        newest = cursor or ""
        changed: list[str] = []
        token: str | None = None
        while True:
            nodes, token = await self._connection(
                REGISTRY_COLLECTIONS,
                {"registryFilter": self._registry_filter()},
                "artifactCollections",
                token,
            )
            for node in nodes:
                updated = str(node.get("updatedAt") or node.get("createdAt") or "")
                newest = max(newest, updated)
                if cursor and updated >= cursor:
                    changed.append(model_name(_registry(node), node["name"], self.settings.registry))
            if not token:
                break
        return ChangeSet(cursor=newest or None, changed=changed if cursor else None)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """TRAINED_ON the datasets the logging run used (from the record)."""
        if version.partial or "artifactId" not in version.native:
            version = await self.get_version(version.model_name, version.version) or version
        return record_edges(version)

    # --- write-through ---------------------------------------------------------

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """Add the stage's first alias to this version (W&B moves it off any other
        version: aliases are unique in a collection), remove the other stage aliases
        from it, and add or remove the archived tag. Each mutation is sent once; a
        protected alias this key may not set fails with W&B's message (403). W&B
        records the key's user as the editor; ``actor`` is in modelgate's audit log."""
        membership = await self._find_membership(version.model_name, version.version)
        if membership is None:
            raise RegistryRejected(self.registry_id, f"{version.uri} does not exist in W&B", status=404)
        stages = self.settings.stages
        artifact = membership["artifact"]
        collection = membership["artifactCollection"]
        target = {
            "entityName": ((collection.get("project") or {}).get("entity") or {}).get("name")
            or self._org_entity,
            "projectName": (collection.get("project") or {}).get("name"),
            "artifactCollectionName": collection["name"],
        }
        current = {a["alias"] for a in membership.get("aliases") or ()}
        wanted = {Stage.PRODUCTION: stages.production[0], Stage.STAGING: stages.staging[0]}.get(stage)
        remove = sorted(a for a in current & set(stages.all()) if a != wanted)
        writes: list[Callable[[], Awaitable[Any]]] = []
        if wanted and wanted not in current:
            writes.append(lambda: self._aliases(ADD_ALIASES, artifact["id"], target, [wanted]))
        if remove:
            writes.append(lambda: self._aliases(DELETE_ALIASES, artifact["id"], target, remove))
        tags = {t["name"] for t in artifact.get("tags") or ()}
        if stage is Stage.ARCHIVED and stages.archived_tag not in tags:
            writes.append(lambda: self._tags(artifact["id"], add=[stages.archived_tag]))
        elif stage is not Stage.ARCHIVED and stages.archived_tag in tags:
            writes.append(lambda: self._tags(artifact["id"], delete=[stages.archived_tag]))
        for write in writes:
            await write()
        written = await self.get_version(version.model_name, version.version)
        if written is None:
            raise RegistryRejected(self.registry_id, f"{version.uri} vanished during the write")
        return written

    async def _aliases(
        self, document: str, artifact_id: str, target: Mapping[str, Any], aliases: list[str]
    ) -> None:
        entries = [{**target, "alias": alias} for alias in aliases]
        await self.api.mutate(document, {"input": {"artifactID": artifact_id, "aliases": entries}})

    async def _tags(self, artifact_id: str, *, add: list[str] = [], delete: list[str] = []) -> None:  # noqa: B006
        body: dict[str, Any] = {"artifactID": artifact_id}
        if add:
            body["tagsToAdd"] = [{"tagName": t} for t in add]
        if delete:
            body["tagsToDelete"] = [{"tagName": t} for t in delete]
        await self.api.mutate(UPDATE_ARTIFACT_TAGS, {"input": body})

    # --- change feed: registry automations -------------------------------------

    async def handle_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        """A W&B automation's webhook delivery. W&B authenticates it with the
        webhook's access token as ``Authorization: Bearer <token>`` (checked in
        constant time against ``webhook_token_*``); the payload is the automation's
        template, which should carry ``${artifact_collection_name}`` and
        ``${project_name}`` (README). Returns the model to refresh."""
        expected = self.settings.webhook_token
        if not expected:
            raise WebhookRejected("no webhook token is configured for this registry (webhook_token_env)")
        lowered = {k.lower(): v for k, v in headers.items()}
        scheme, _, token = lowered.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise WebhookRejected("missing or wrong bearer token (the W&B webhook's access token)")
        try:
            payload = json.loads(body)
        except ValueError:
            log.warning("W&B webhook body is not JSON; ignored")
            return []
        if not isinstance(payload, dict):
            return []
        collection = payload.get("artifact_collection_name")
        project = str(payload.get("project_name") or "")
        if not isinstance(collection, str) or not collection:
            return []
        registry = project.removeprefix(REGISTRY_PREFIX) if project.startswith(REGISTRY_PREFIX) else None
        if self.settings.registry and registry not in (None, self.settings.registry):
            return []
        if not self.settings.registry and registry is None:
            return []
        return [model_name(registry or "", collection, self.settings.registry)]

    # --- operations --------------------------------------------------------------

    async def health(self) -> Health:
        try:
            data = await self.api.mutate(HEALTH, {"org": self.settings.organization})  # once, unretried
        except RegistryError as exc:
            return Health(ok=False, detail=exc.message)
        if not data.get("organization"):
            return Health(ok=False, detail=f"W&B organization {self.settings.organization!r} not found")
        return Health(ok=True)

    def describe_endpoint(self) -> str:
        return self.api.base_url

    async def aclose(self) -> None:
        await self.api.aclose()


def _registry(node: Wire) -> str:
    return str((node.get("project") or {}).get("name") or "").removeprefix(REGISTRY_PREFIX)


def _is_collection(node: Wire) -> bool:
    # Registry listings hold portfolios; the SDK drops anything else defensively.
    return node.get("__typename", "ArtifactPortfolio") != "ArtifactSequence" and bool(node.get("project"))
