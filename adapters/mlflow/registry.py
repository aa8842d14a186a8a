"""The MLflow Model Registry adapter, over MLflow's REST API (``/api/2.0/mlflow``).

Every call goes through ``api.MlflowApi``: GETs (and the read-only POST
``runs/search``) are retried with jittered backoff inside a deadline, writes are
sent once. See ``mapping.py`` for the wire-format surprises and ``webhooks.py``
for push notifications.

Stage mapping (``stage_mapping = "aliases"``, the default), first match wins:

==========  ==========================================================
PRODUCTION  the version holds an alias in ``production_aliases``
            (default ``production``, ``champion``)
STAGING     an alias in ``staging_aliases`` (``staging``, ``challenger``)
ARCHIVED    version tag ``archived_tag`` (``modelgate.stage=archived``) —
            MLflow has no archive alias, and an alias meaning "archived"
            would move off the old version the moment a second one was
            archived
(legacy)    the legacy ``current_stage``: ``Production``, ``Staging`` or
            ``Archived`` (a version moved with ``transition-stage`` is in
            that stage in this mode too)
DRAFT       none of these
==========  ==========================================================

``set_stage`` to PRODUCTION moves every configured production alias the model
uses (MLflow takes each off its previous holder) and, when another version
holds the legacy ``Production`` stage, transitions this one with
``archive_existing_versions`` so exactly one version is in production either
way. Other targets write their first alias. The version's other mapped aliases
are removed, the archive tag set or removed, and a legacy stage that would
disagree with the target is transitioned. With ``stage_mapping = "stages"``
the legacy ``current_stage`` is read and ``transition-stage`` written (to
Production always with ``archive_existing_versions``).

Run details (params, metrics, datasets): ``runs.py``. Incremental sync, and
why MLflow's timestamps alone cannot drive it: ``changes.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import httpx

from adapters.base import ChangeSet, Health, Page
from adapters.conventions import mlflow_logged_model_uri, mlflow_run_uri
from adapters.mlflow import webhooks
from adapters.mlflow.api import MlflowApi
from adapters.mlflow.changes import ChangeTracker
from adapters.mlflow.history import MetricHistory
from adapters.mlflow.links import mlflow_ui_url
from adapters.mlflow.mapping import (
    LEGACY_STAGES,
    STAGE_TO_LEGACY,
    ModelFiles,
    RunDetails,
    alias_map,
    is_not_found,
    is_validation,
    model_from_wire,
    quote_filter_value,
    version_from_wire,
)
from adapters.mlflow.model_files import ModelFileReader, is_logged_model
from adapters.mlflow.options import Credentials, MlflowOptions
from adapters.mlflow.runs import RunReader
from adapters.toolkit.paging import listing, listing_token, record
from adapters.toolkit.retry import RetryPolicy
from gateway.domain import (
    LineageEdge,
    LineageNode,
    MetricPoint,
    Model,
    ModelVersion,
    Relation,
    Stage,
    code_node,
    version_node,
)
from gateway.errors import NotFound, RegistryError

log = logging.getLogger(__name__)

ALIAS_MAX_AGE = 60.0  # seconds a registered model's aliases are reused from a listing
PROMPT_TAG = "mlflow.prompt.is_prompt"
# A full listing's first pages are short, so that a sync indexes its first models
# within a second or two (a 1,000-version page with run details takes seconds);
# MLflow's page tokens are offsets, so later pages of any size follow on. Both
# listings are in name order: a first version page no longer than the first model
# page names only models that page listed (their aliases are at hand).
FIRST_MODEL_PAGE = 100
FIRST_VERSION_PAGE = FIRST_MODEL_PAGE
LISTING_WAIT = 30.0  # seconds a brief version page waits for the model listing to reach it


class MlflowAdapter:
    """``RegistryAdapter`` + ``WebhookReceiver`` for one MLflow tracking server."""

    kind = "mlflow"

    def __init__(
        self,
        registry_id: str,
        options: MlflowOptions,
        credentials: Credentials | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        credentials = credentials or Credentials()
        self.registry_id = registry_id
        self.options = options
        self._webhook_secret = credentials.webhook_secret
        self._retry = retry or RetryPolicy(deadline_seconds=options.timeout_seconds * 2)
        self._api = MlflowApi(registry_id, options, credentials, retry=self._retry, transport=transport)
        self._aliases: dict[str, tuple[float, dict[str, tuple[str, ...]]]] = {}
        # A brief listing's wire records and aliases by version URI, until filled.
        self._brief: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}
        self._brief_options = dataclasses.replace(options, fetch_run_details=False)
        self._ahead: dict[str, asyncio.Task[dict[str, Any]]] = {}  # brief version pages read ahead
        # How far the running model listing has got: (last name listed, ended); None: none ran.
        self._listed: tuple[str, bool] | None = None
        self._listing = asyncio.Condition()
        self._runs = RunReader(registry_id, self._api.http, self._retry, options.run_concurrency)
        self._history = MetricHistory(self._api.http, self._retry, options.run_concurrency)
        self._files = ModelFileReader(
            registry_id,
            options.url,
            auth=credentials.auth,
            headers=credentials.headers,
            timeout=options.timeout_seconds,
            concurrency=options.run_concurrency,
            transport=transport,
        )
        self._changes = ChangeTracker(self._api.http, self._all_models, options.full_resync_seconds)

    # --- models ------------------------------------------------------------

    async def _search_models(
        self, page_token: str | None, size: int | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        query: dict[str, Any] = {"max_results": size or self.options.page_size, "order_by": ["name ASC"]}
        if page_token:
            query["page_token"] = page_token
        body = await self._api.search_models(query)
        raws = self._items(body, "registered_models")  # an empty result is {}, not []
        now = time.monotonic()
        for raw in raws:
            self._aliases[raw["name"]] = (now, alias_map(raw))
        return raws, self._next(body)

    async def _all_models(self) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            raws, token = await self._search_models(token)
            for raw in raws:
                yield raw
            if not token:
                return

    def _items(self, body: Any, key: str) -> list[dict[str, Any]]:
        """A search's results: MLflow omits ``key`` when there are none (``{}``); any
        other shape is an error, never an empty page."""
        return listing(self.registry_id, body, key, what=f"a search for {key}")

    def _next(self, body: Mapping[str, Any]) -> str | None:
        return listing_token(self.registry_id, body, "next_page_token", what="a search")

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """Registered models by name, ``page_size`` (≤ 1,000) per request. MLflow's page
        token is an offset: in name order only creations and deletions shift it, while
        timestamp order would reshuffle pages on every edit. MLflow hides prompts."""
        first = None if page_token else min(FIRST_MODEL_PAGE, self.options.page_size)
        if page_token is None:  # a listing begins: brief version pages wait for it from now on
            self._listed = ("", False)
        raws, token = await self._search_models(page_token, first)
        self._changes.observe_listing(raws, first_page=page_token is None, last_page=token is None)
        await self._listed_through(raws[-1]["name"] if raws else None, ended=token is None)
        return Page([model_from_wire(self.registry_id, r) for r in raws], token)

    async def get_model(self, name: str) -> Model | None:
        """The registered model, or None. ``registered-models/get`` also answers for
        prompts (registered models tagged ``mlflow.prompt.is_prompt``), which every
        search hides, so they are hidden here too."""
        raw = await self._get_raw_model(name)
        return model_from_wire(self.registry_id, raw) if raw else None

    async def _get_raw_model(self, name: str) -> dict[str, Any] | None:
        try:
            body = await self._api.get_model(name)
        except RegistryError as exc:
            if is_not_found(exc):
                self._aliases.pop(name, None)
                return None
            raise
        raw = record(self.registry_id, body, "registered_model", what="registered-models/get")
        self._aliases[name] = (time.monotonic(), alias_map(raw))
        if any(t.get("key") == PROMPT_TAG and t.get("value") == "true" for t in raw.get("tags") or ()):
            return None
        return raw

    async def _aliases_for(self, names: Iterable[str]) -> dict[str, dict[str, tuple[str, ...]]]:
        """Each model's version → aliases, reused from a listing of the last minute,
        else read again (one ``get`` per model, or one listing if many are stale)."""
        wanted = set(names)
        cutoff = time.monotonic() - ALIAS_MAX_AGE
        stale = [n for n in wanted if n not in self._aliases or self._aliases[n][0] < cutoff]
        if len(stale) > 50:
            async for _ in self._all_models():  # 1 request per 1,000 models beats 50 gets
                pass
            stale = [n for n in stale if n not in self._aliases or self._aliases[n][0] < cutoff]
        if stale:
            semaphore = asyncio.Semaphore(self.options.run_concurrency)

            async def read(name: str) -> None:
                async with semaphore:
                    await self._get_raw_model(name)

            await asyncio.gather(*(read(n) for n in stale))
        return {n: self._aliases[n][1] if n in self._aliases else {} for n in wanted}

    # --- versions ----------------------------------------------------------

    async def _versions(self, raws: list[dict[str, Any]]) -> list[ModelVersion]:
        aliases = await self._aliases_for(r["name"] for r in raws)
        runs = await self._run_details(r.get("run_id") for r in raws)
        files = await self._model_files(raws, runs)
        return [
            version_from_wire(
                self.registry_id,
                self.options,
                raw,
                aliases.get(raw["name"], {}).get(str(raw["version"]), ()),
                runs.get(raw.get("run_id") or ""),
                files.get((raw["name"], str(raw["version"]))),
            )
            for raw in raws
        ]

    async def _model_files(
        self, raws: Iterable[Mapping[str, Any]], runs: Mapping[str, RunDetails | None]
    ) -> dict[tuple[str, str], ModelFiles | None]:
        """Model files of the versions that are MLflow-logged models (see ``model_files.py``)."""
        if not self.options.read_model_files:
            return {}
        wanted = []
        for raw in raws:
            run = runs.get(raw.get("run_id") or "")
            root = run.info.get("artifact_uri") if run else None
            if is_logged_model(raw.get("source"), root):
                wanted.append((raw["name"], str(raw["version"]), str(raw["source"])))
        return await self._files.read_many(wanted) if wanted else {}

    async def _run_details(self, run_ids: Iterable[str | None]) -> dict[str, RunDetails | None]:
        if not self.options.fetch_run_details:
            return {}
        return await self._runs.details(run_ids)

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """A model's versions, oldest first. ``model-versions/search`` sorts by
        ``last_updated_timestamp`` unless told otherwise, omits aliases (taken from the
        registered model) and returns ``{}`` for a model that does not exist."""
        try:
            name_filter = f"name = {quote_filter_value(model_name)}"
            exact = False
        except ValueError:  # both quote characters: match loosely, keep exact matches below
            pattern = "".join("_" if c in "'\"" else c for c in model_name)
            name_filter, exact = f"name LIKE '{pattern}'", True
        query: dict[str, Any] = {
            "filter": name_filter,
            "max_results": self.options.version_page_size,
            "order_by": ["version_number ASC"],
        }
        if page_token:
            query["page_token"] = page_token
        body = await self._api.search_versions(query)
        raws = self._items(body, "model_versions")
        if exact:
            raws = [r for r in raws if r["name"] == model_name]
        return Page(await self._versions(raws), self._next(body))

    async def list_all_versions(self, page_token: str | None = None) -> Page[ModelVersion]:
        """Every version of every model by (name, version), ``version_page_size`` per
        request (MLflow allows 200,000): the cheap way to sync a whole registry, with
        aliases reused from the model listing that precedes it."""
        body = await self._api.search_versions(self._all_versions_query(page_token))
        raws = self._items(body, "model_versions")
        return Page(await self._versions(raws), self._next(body))

    def _all_versions_query(self, page_token: str | None) -> dict[str, Any]:
        """``model-versions/search`` over every model in (name, version) order; a small
        first page, so the first models are indexed at once."""
        size = self.options.version_page_size
        query: dict[str, Any] = {
            "max_results": size if page_token else min(FIRST_VERSION_PAGE, size),
            "order_by": ["name ASC", "version_number ASC"],
        }
        if page_token:
            query["page_token"] = page_token
        return query

    # --- two-pass full sync (DetailFiller) ----------------------------------

    @property
    def fills_details(self) -> bool:
        return self.options.fetch_run_details or self.options.read_model_files

    async def list_all_versions_brief(self, page_token: str | None = None) -> Page[ModelVersion]:
        """``list_all_versions`` without the run details and model files: only what
        ``model-versions/search`` and the model listing's aliases say (stage, tags,
        aliases, source). The wire records are kept until ``fill_details`` takes them."""
        query = self._all_versions_query(page_token)
        if not page_token:  # a new listing: whatever an abandoned one left is stale
            self._brief.clear()
            self._drop_ahead()
        # The next page is on its way while this one waits for its models' aliases.
        fetching = (self._ahead.pop(page_token, None) if page_token else None) or self._fetch_versions(query)
        body = await fetching
        raws = self._items(body, "model_versions")
        if token := self._next(body):
            self._ahead[token] = self._fetch_versions(self._all_versions_query(token))
        if raws:
            await self._until_listed(raws[-1]["name"])
        aliases = await self._aliases_for(r["name"] for r in raws)
        versions = []
        for raw in raws:
            held = aliases.get(raw["name"], {}).get(str(raw["version"]), ())
            version = version_from_wire(self.registry_id, self._brief_options, raw, held, None, partial=True)
            self._brief[version.uri] = (raw, held)
            versions.append(version)
        return Page(versions, self._next(body))

    def _fetch_versions(self, query: dict[str, Any]) -> asyncio.Task[dict[str, Any]]:
        task = asyncio.ensure_future(self._api.search_versions(query))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved, if never awaited
        return task

    def _drop_ahead(self) -> None:
        for task in self._ahead.values():
            task.cancel()
        self._ahead.clear()

    async def _listed_through(self, name: str | None, *, ended: bool) -> None:
        """A model listing page arrived: versions of models up to ``name`` (name order)
        find their aliases fresh."""
        async with self._listing:
            previous = self._listed[0] if self._listed else ""
            self._listed = (name or previous, ended)
            self._listing.notify_all()

    async def _until_listed(self, name: str) -> None:
        """Wait (briefly) until a running model listing has listed ``name``, so its
        aliases come from that listing rather than from a request of their own."""
        async with self._listing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._listing.wait_for(
                        lambda: self._listed is None or self._listed[1] or self._listed[0] >= name
                    ),
                    LISTING_WAIT,
                )

    async def fill_details(self, versions: Sequence[ModelVersion]) -> list[ModelVersion]:
        """The versions of a brief listing with their run details and model files, as
        ``list_all_versions`` builds them (the same wire record and aliases); a version
        the adapter no longer holds the record of is read again."""
        held = [self._brief.pop(v.uri, None) for v in versions]
        raws = [h[0] for h in held if h is not None]
        runs = await self._run_details(r.get("run_id") for r in raws)
        files = await self._model_files(raws, runs)
        filled: list[ModelVersion] = []
        for version, kept in zip(versions, held, strict=True):
            if kept is None:
                fresh = await self.get_version(version.model_name, version.version)
                filled.append(fresh or version)
                continue
            raw, aliases = kept
            filled.append(
                version_from_wire(
                    self.registry_id,
                    self.options,
                    raw,
                    aliases,
                    runs.get(raw.get("run_id") or ""),
                    files.get((raw["name"], str(raw["version"]))),
                )
            )
        return filled

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        """Every detail of one version. MLflow answers a non-numeric version with 400,
        not 404, so that is None here too; aliases come from the registered model."""
        if not version.isdigit():
            return None
        try:
            body, raw_model = await asyncio.gather(
                self._api.get_version(name, version),
                self._get_raw_model(name),
            )
        except RegistryError as exc:
            if is_not_found(exc):
                return None
            raise
        if raw_model is None:
            return None
        raw = record(self.registry_id, body, "model_version", what="model-versions/get")
        runs = await self._run_details([raw.get("run_id")])
        files = await self._model_files([raw], runs)
        aliases = alias_map(raw_model).get(str(raw["version"]), ())
        return version_from_wire(
            self.registry_id,
            self.options,
            raw,
            aliases,
            runs.get(raw.get("run_id") or ""),
            files.get((raw["name"], str(raw["version"]))),
        )

    # --- incremental sync --------------------------------------------------

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """Models changed since ``cursor``; ``changed=None`` (list everything) for the
        first pass, a cursor from another process, or after ``full_resync_seconds``.
        MLflow stamps no alias or tag change, so this compares fingerprints of a
        full registered-model listing (see ``changes.py``)."""
        changes = await self._changes.changes_since(cursor)
        for name in changes.deleted:
            self._aliases.pop(name, None)
        return changes

    # --- lineage -----------------------------------------------------------

    async def metric_history(
        self, version: ModelVersion, keys: Sequence[str] | None, limit: int
    ) -> dict[str, list[MetricPoint]]:
        """The run's logged values per step (``MetricHistoryReader``)."""
        if "run_id" not in version.native:  # not read by this adapter: read it now
            fresh = await self.get_version(version.model_name, version.version)
            if fresh is None:
                return {}
            version = fresh
        run_id = version.native.get("run_id")
        if not run_id:
            return {}
        wanted = list(version.metrics) if keys is None else list(keys)
        return await self._history.read(run_id, wanted, limit)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """Edges MLflow knows: the run's dataset inputs (TRAINED_ON, or VALIDATED_ON by
        their ``mlflow.data.context``), the run and its code (PRODUCED_BY), the
        LoggedModel behind ``source: models:/<model_id>`` (SAME_AS), models the run
        took as inputs and a copied version's source (DERIVED_FROM)."""
        if "run_id" not in version.native:  # not read by this adapter: read it now
            fresh = await self.get_version(version.model_name, version.version)
            if fresh is None:
                return []
            version = fresh
        me = version_node(version)
        edges: list[LineageEdge] = []
        run_id = version.native.get("run_id")
        run = await self._runs.get(run_id) if run_id else None
        if run is not None:
            for ds in run.datasets:
                relation = Relation.VALIDATED_ON if is_validation(ds.role) else Relation.TRAINED_ON
                edges.append(LineageEdge(me, LineageNode(ds.uri, "dataset", ds.name), relation))
            run_label = run.info.get("run_name") or run.run_id
            run_node = LineageNode(
                mlflow_run_uri(self.registry_id, run.run_id), "run", run_label, self.registry_id
            )
            edges.append(LineageEdge(me, run_node, Relation.PRODUCED_BY))
            if (code := code_node(run.code)) is not None:
                edges.append(LineageEdge(me, code, Relation.PRODUCED_BY))
            for model_id in run.model_inputs:
                edges.append(LineageEdge(me, await self._logged_model_node(model_id), Relation.DERIVED_FROM))
        if logged := version.native.get("logged_model_id"):
            edges.append(LineageEdge(me, await self._logged_model_node(logged), Relation.SAME_AS))
        if version.parent:
            edges.append(LineageEdge(me, LineageNode(version.parent, "model_version"), Relation.DERIVED_FROM))
        return edges

    async def _logged_model_node(self, model_id: str) -> LineageNode:
        uri = mlflow_logged_model_uri(self.registry_id, model_id)
        try:
            body = await self._api.get_logged_model(model_id)
            label = (body.get("model") or {}).get("info", {}).get("name") or model_id
        except RegistryError as exc:
            if not is_not_found(exc):
                raise
            label = model_id
        return LineageNode(uri, "logged_model", label, self.registry_id)

    # --- writes ------------------------------------------------------------

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """Write an approved stage, each request sent once, and return the version as
        MLflow reports it afterwards. MLflow's alias and stage APIs carry no author,
        so ``actor`` lives only in modelgate's audit log.

        Aliases mode may take several requests (set the alias, drop the version's
        other mapped aliases, set or drop the archive tag); they are not atomic. If
        one fails the error's ``extensions.applied`` lists what already took effect.
        """
        name, number = version.model_name, version.version
        current = await self.get_version(name, number)
        if current is None:
            raise NotFound(f"{version.uri} does not exist in MLflow", registry=self.registry_id)
        applied: list[str] = []
        try:
            if self.options.stage_mapping == "stages":
                await self._transition(name, number, stage, applied, archive_existing=True)
            else:
                raw_model = await self._get_raw_model(name)
                model_aliases = {
                    a["alias"]: str(a["version"]) for a in (raw_model or {}).get("aliases") or ()
                }
                await self._write_aliases(current, stage, model_aliases, applied)
        except RegistryError as exc:
            exc.extensions["applied"] = applied
            raise
        finally:
            self._aliases.pop(name, None)
        log.info(
            "%s: %s set to %s for %s (%s)", self.registry_id, version.uri, stage, actor, "; ".join(applied)
        )
        updated = await self.get_version(name, number)
        if updated is None:
            raise NotFound(
                f"{version.uri} disappeared from MLflow during the write", registry=self.registry_id
            )
        return updated

    async def _transition(
        self, name: str, number: str, stage: Stage, applied: list[str], *, archive_existing: bool = False
    ) -> None:
        # archive_existing: a Production transition archives the other Production
        # versions, so a promotion leaves one production version (as the user meant).
        archive = (self.options.archive_existing_versions and stage in (Stage.STAGING, Stage.PRODUCTION)) or (
            archive_existing and stage is Stage.PRODUCTION
        )
        await self._api.transition_stage(name, number, STAGE_TO_LEGACY[stage], archive_existing=archive)
        applied.append(f"stage {STAGE_TO_LEGACY[stage]}" + (" (others archived)" if archive else ""))

    async def _legacy_stages(self, name: str) -> dict[str, str]:
        """Every version's legacy ``current_stage`` (one search; aliases not needed)."""
        try:
            name_filter = f"name = {quote_filter_value(name)}"
        except ValueError:
            pattern = "".join("_" if c in "'\"" else c for c in name)
            name_filter = f"name LIKE '{pattern}'"
        stages: dict[str, str] = {}
        token: str | None = None
        while True:
            query: dict[str, Any] = {"filter": name_filter, "max_results": self.options.version_page_size}
            if token:
                query["page_token"] = token
            body = await self._api.search_versions(query)
            for raw in self._items(body, "model_versions"):
                if raw["name"] == name:
                    stages[str(raw["version"])] = raw.get("current_stage") or "None"
            token = self._next(body)
            if not token:
                return stages

    async def _write_aliases(
        self, current: ModelVersion, stage: Stage, model_aliases: Mapping[str, str], applied: list[str]
    ) -> None:
        """Aliases mode. PRODUCTION moves every configured production alias the model
        uses (MLflow takes each off its previous holder, so ``models:/name@champion``
        serves the promoted version), or the first configured one if it uses none;
        other targets write their first alias. The version's other mapped aliases
        are dropped, the archive tag set or removed, and a legacy stage that would
        disagree with the target is transitioned too (it is read as well)."""
        name, number = current.model_name, current.version
        target = self.options.aliases_for(stage)[:1]
        if stage is Stage.PRODUCTION:
            target = [a for a in self.options.production_aliases if a in model_aliases] or target
        for alias in target:  # first: the promotion itself, should a cleanup step fail
            if model_aliases.get(alias) == number:
                continue
            await self._api.set_alias(name, alias, number)
            applied.append(f"alias {alias} -> {number}")
        for alias in sorted((set(current.aliases) & self.options.mapped_aliases) - set(target)):
            await self._api.delete_alias(name, alias)
            applied.append(f"alias {alias} removed")
        tag_key, tag_value = self.options.archived_tag_pair
        tagged = current.tags.get(tag_key) == tag_value
        if stage is Stage.ARCHIVED and not tagged:
            await self._api.set_version_tag(name, number, tag_key, tag_value)
            applied.append(f"tag {tag_key}={tag_value}")
        elif stage is not Stage.ARCHIVED and tagged:
            await self._api.delete_version_tag(name, number, tag_key)
            applied.append(f"tag {tag_key} removed")
        legacy = await self._legacy_stages(name)
        mine = legacy.get(number, "None")
        others_in_production = any(v != number and s == "Production" for v, s in legacy.items())
        if stage is Stage.PRODUCTION and others_in_production:
            # A version promoted the legacy way still reads PRODUCTION: demote it the
            # way MLflow does, by a Production transition that archives the others.
            await self._transition(name, number, Stage.PRODUCTION, applied, archive_existing=True)
        elif mine != "None" and LEGACY_STAGES.get(mine) is not stage:
            await self._transition(name, number, stage, applied)

    # --- webhooks, health ----------------------------------------------------

    async def handle_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        """Verify an MLflow delivery (``X-MLflow-Signature`` HMAC with the configured
        secret, timestamp within ``webhook_tolerance_seconds``) and return the model it
        concerns. Raises ``WebhookRejected``; changes nothing itself."""
        webhooks.verify_delivery(
            headers, body, self._webhook_secret, tolerance_seconds=self.options.webhook_tolerance_seconds
        )
        names = webhooks.changed_models(body)
        for name in names:  # the refresh that follows must not reuse a listing's aliases
            self._aliases.pop(name, None)
        return names

    async def health(self) -> Health:
        """One unretried search: a probe should answer fast, not wait out a backoff."""
        try:
            await self._api.probe()
        except RegistryError as exc:
            return Health(False, exc.message)
        return Health(True)

    def describe_endpoint(self) -> str:
        """The tracking server's REST root (``EndpointDescriber``)."""
        return self._api.base_url

    def source_url(self, model_name: str, version: str | None = None) -> str:
        """MLflow's page for the model or version (``SourceLinker``)."""
        return mlflow_ui_url(self.options.ui_url or self.options.url, model_name, version)

    async def aclose(self) -> None:
        self._drop_ahead()
        await self._api.aclose()
        await self._files.aclose()
