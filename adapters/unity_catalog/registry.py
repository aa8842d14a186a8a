"""The ``unity_catalog`` adapter: Unity Catalog's model registry behind ``RegistryAdapter``."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.base import ChangeSet, Health, Page
from adapters.toolkit.paging import decode_token, encode_token, listing, listing_token
from adapters.toolkit.retry import RetryPolicy
from adapters.unity_catalog.api import UnityCatalogApi, Wire
from adapters.unity_catalog.mapping import alias_names, lineage_edges, to_model, to_version
from adapters.unity_catalog.options import PREFIX, UnityCatalogSettings
from gateway.domain import LineageEdge, Model, ModelVersion, Stage
from gateway.errors import RegistryError, RegistryRejected

SCHEMA_PAGE = 50


class UnityCatalogRegistry:
    """Reads, and (Databricks flavor) alias write-through, for one catalog of a
    Unity Catalog server (or one schema of it)."""

    kind = "unity_catalog"

    def __init__(
        self,
        registry_id: str,
        settings: UnityCatalogSettings,
        *,
        team: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.registry_id = registry_id
        self.team = team
        self.settings = settings
        self._api = UnityCatalogApi(registry_id, settings, transport=transport, retry=retry)

    @property
    def api(self) -> UnityCatalogApi:
        return self._api

    def describe_endpoint(self) -> str | None:
        return self.settings.base_url + PREFIX

    # --- reads ---------------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """One page of the catalog's models. The server lists one schema at a time,
        so without a configured ``schema`` the page token also carries which schema
        (by name, in name order) the listing has reached."""
        if self.settings.schema is not None:
            body = await self._api.list_models(self.settings.schema, page_token)
            return Page(self._models(body), self._token(body))
        state = _state(page_token)
        schemas = await self._schemas()
        position = schemas.index(state["s"]) if state.get("s") in schemas else 0
        token: str | None = state.get("t") if state.get("s") in schemas else None
        while position < len(schemas):
            body = await self._api.list_models(schemas[position], token)
            models = self._models(body)
            token = self._token(body)
            if token:
                return Page(models, encode_token({"s": schemas[position], "t": token}))
            position += 1
            if position < len(schemas) and models:
                return Page(models, encode_token({"s": schemas[position], "t": None}))
            if models:
                return Page(models)
        return Page([])

    async def get_model(self, name: str) -> Model | None:
        if not self._in_scope(name):
            return None
        wire = await self._api.get_model(name)
        return to_model(wire, self.registry_id, self.team) if wire else None

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """One page of a model's versions (the server pages them by number, oldest first)."""
        if not self._in_scope(model_name):
            return Page([])
        model_aliases: list[Wire] | None = None
        if self.settings.has_aliases:
            model = await self._api.get_model(model_name)
            if model is None:
                return Page([])
            model_aliases = list(model.get("aliases") or ())
        body = await self._api.list_versions(model_name, page_token)
        versions = [
            self._version(w, None if model_aliases is None else alias_names(model_aliases, w["version"]))
            for w in listing(self.registry_id, body, "model_versions", what="a version listing")
        ]
        return Page(versions, self._token(body))

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        if not self._in_scope(name) or not version.isdigit():
            return None
        wire = await self._api.get_version(name, int(version))
        if wire is None:
            return None
        aliases = alias_names(wire.get("aliases"), wire.get("version")) if self.settings.has_aliases else None
        return self._version(wire, aliases)

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """No change feed, and neither a new version nor an alias move changes the
        model's ``updated_at``: always "compare a full listing"."""
        return ChangeSet(cursor=None, changed=None)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """The MLflow run behind ``run_id`` and the LoggedModel a ``models:/m-…`` source names."""
        if "run_id" not in version.native and "source" not in version.native:  # e.g. a bare index row
            version = await self.get_version(version.model_name, version.version) or version
        return lineage_edges(version, self.settings.runs_registry)

    # --- write-through -------------------------------------------------------

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """Databricks: move the stage's first configured alias to this version (an
        alias names one version, so it leaves the one it named) and remove from
        this version the aliases of the stages above the target (STAGING drops
        its production aliases; DRAFT its production and staging ones). Each
        request is sent once. OSS has no aliases: refused, the lifecycle is
        read-only. ARCHIVED has no Unity Catalog equivalent: refused. Unity
        Catalog records the token's principal as editor; ``actor`` lives in
        modelgate's audit log."""
        if not self.settings.has_aliases:
            raise RegistryRejected(
                self.registry_id,
                "Unity Catalog OSS has no aliases or stages: its lifecycle is read-only, so "
                f'{stage.value} cannot be written (use flavor = "databricks" for a server with aliases)',
            )
        if stage is Stage.ARCHIVED:
            raise RegistryRejected(
                self.registry_id,
                "Unity Catalog has no archived state for model versions: ARCHIVED cannot be written",
            )
        number = int(version.version) if version.version.isdigit() else -1
        model = await self._api.get_model(version.model_name) if self._in_scope(version.model_name) else None
        current = await self._api.get_version(version.model_name, number) if model and number >= 0 else None
        if model is None or current is None:
            raise RegistryRejected(
                self.registry_id, f"model {version.model_name} has no version {version.version}", status=404
            )
        mine = {a.casefold(): a for a in alias_names(model.get("aliases"), number)}
        mapping = self.settings.aliases
        drop = {Stage.STAGING: mapping.production, Stage.DRAFT: mapping.production + mapping.staging}
        for alias in drop.get(stage, ()):
            if alias.casefold() in mine:
                await self._api.delete_alias(version.model_name, mine[alias.casefold()])
        wanted = mapping.meaning(stage)
        if wanted and not any(a.casefold() in mine for a in wanted[:1]):
            await self._api.set_alias(version.model_name, wanted[0], number)
        written = await self.get_version(version.model_name, version.version)
        if written is None:
            raise RegistryRejected(self.registry_id, f"version {version.uri} vanished during the write")
        return written

    # --- operations ----------------------------------------------------------

    async def health(self) -> Health:
        """One cheap authenticated read of the configured catalog (or schema)."""
        try:
            if self.settings.schema is not None:
                await self._api.list_models(self.settings.schema, size=1)
            else:
                await self._api.list_schemas(size=1)
        except RegistryError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True)

    async def aclose(self) -> None:
        await self._api.aclose()

    # --- helpers -------------------------------------------------------------

    def _in_scope(self, name: str) -> bool:
        """Only three-level names in the configured catalog (and schema) are this registry's."""
        parts = name.split(".")
        if len(parts) != 3 or not all(parts) or parts[0] != self.settings.catalog:
            return False
        return self.settings.schema is None or parts[1] == self.settings.schema

    def _models(self, body: Wire) -> list[Model]:
        items = listing(self.registry_id, body, "registered_models", what="a model listing")
        return [to_model(w, self.registry_id, self.team) for w in items]

    def _token(self, body: Wire) -> str | None:
        return listing_token(self.registry_id, body, "next_page_token", what="a listing")

    def _version(self, wire: Wire, aliases: list[str] | None) -> ModelVersion:
        return to_version(
            wire, registry_id=self.registry_id, aliases=aliases, mapping=self.settings.aliases, team=self.team
        )

    async def _schemas(self) -> list[str]:
        """Every schema of the catalog, by name (few: read whole for each model page)."""
        names: list[str] = []
        token: str | None = None
        while True:
            body = await self._api.list_schemas(token, SCHEMA_PAGE)
            names += [str(s["name"]) for s in body.get("schemas") or () if s.get("name")]
            token = body.get("next_page_token") or None
            if not token:
                return sorted(set(names))


def _state(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return decode_token(token)
    except ValueError:
        return {}  # from another version of modelgate: start over
