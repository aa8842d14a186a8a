"""The ``huggingface`` adapter: Hugging Face Hub model repositories behind ``RegistryAdapter``."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import httpx

from adapters.base import ChangeSet, Health, Page
from adapters.huggingface.api import HubApi
from adapters.huggingface.links import hub_page_url
from adapters.huggingface.mapping import (
    BASE_MODEL_TAG,
    base_reference,
    repo_id_of,
    stage_commits,
    to_model,
    to_version,
)
from adapters.huggingface.options import MAIN, HuggingFaceSettings
from adapters.toolkit.paging import decode_token, encode_token
from adapters.toolkit.retry import RetryPolicy
from gateway.domain import (
    LineageEdge,
    LineageNode,
    Model,
    ModelVersion,
    Relation,
    Stage,
    record_edges,
    version_node,
)
from gateway.errors import RegistryError, RegistryNotFound, RegistryRejected

Wire = dict[str, Any]
INFO_CONCURRENCY = 8
# A repository's info at a commit never changes: cached by (repo, commit), bounded.
INFO_CACHE = 4096


class HuggingFaceRegistry:
    """Reads and tag-moving stage write-through for an organisation's (or a list of)
    Hub model repositories."""

    kind = "huggingface"

    def __init__(
        self,
        registry_id: str,
        settings: HuggingFaceSettings,
        *,
        team: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.registry_id = registry_id
        self.team = team
        self.settings = settings
        self._api = HubApi(registry_id, settings, transport=transport, retry=retry)
        self._infos: OrderedDict[tuple[str, str], Wire] = OrderedDict()
        self._slots = asyncio.Semaphore(INFO_CONCURRENCY)

    @property
    def api(self) -> HubApi:
        return self._api

    def describe_endpoint(self) -> str | None:
        return self.settings.endpoint

    # --- reads ---------------------------------------------------------------

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        """The organisation's repositories (the Hub's ``Link`` paging), then the
        configured ``repositories`` not already listed, ``page_size`` at a time."""
        state = decode_token(page_token) if page_token else {}
        phase = state.get("phase") or ("org" if self.settings.organization else "list")
        if phase == "org":
            assert self.settings.organization is not None
            items, next_path = await self._api.models_page(self.settings.organization, state.get("next"))
            models = [
                to_model(w, self.registry_id, self.team) for w in items if isinstance(w, dict) and w.get("id")
            ]
            if next_path:
                return Page(models, encode_token({"phase": "org", "next": next_path}))
            rest = self._listed_repositories()
            return Page(models, encode_token({"phase": "list", "offset": 0}) if rest else None)
        offset = int(state.get("offset") or 0)
        chunk = self._listed_repositories()[offset : offset + self.settings.page_size]
        infos = await asyncio.gather(*(self._api.model_info(repo) for repo in chunk))
        models = [to_model(w, self.registry_id, self.team) for w in infos if w]
        more = offset + len(chunk) < len(self._listed_repositories())
        return Page(models, encode_token({"phase": "list", "offset": offset + len(chunk)}) if more else None)

    def _listed_repositories(self) -> list[str]:
        """Configured repositories the organisation listing does not already cover."""
        org = (self.settings.organization or "").casefold()
        return [r for r in self.settings.repositories if r.split("/", 1)[0].casefold() != org]

    async def get_model(self, name: str) -> Model | None:
        repo = self._repo(name)
        wire = await self._api.model_info(repo) if repo else None
        return to_model(wire, self.registry_id, self.team) if wire else None

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        """A page of the repository's version refs, oldest commit first. The Hub
        lists refs in one answer; modelgate pages them ``page_size`` at a time."""
        repo = self._repo(model_name)
        refs = await self._api.refs(repo) if repo else None
        if repo is None or refs is None:
            return Page([])
        versions = await self._versions(repo, refs)
        offset = int(decode_token(page_token).get("offset") or 0) if page_token else 0
        end = offset + self.settings.page_size
        return Page(versions[offset:end], encode_token({"offset": end}) if end < len(versions) else None)

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        repo = self._repo(name)
        if repo is None or not self.settings.is_version_ref(version):
            return None
        refs = await self._api.refs(repo)
        if refs is None:
            return None
        wanted = [r for r in _version_refs(refs, self.settings) if r["name"] == version]
        if not wanted:
            return None
        stage_refs = stage_commits(refs.get("tags") or [], self.settings.stages)
        return await self._version(repo, wanted[0], stage_refs)

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """The Hub has no change feed, and moving a tag (a stage change) touches no
        date it reports: every sync compares a full listing."""
        return ChangeSet(cursor=None, changed=None)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """The card's ``base_model`` (DERIVED_FROM) and ``datasets`` (TRAINED_ON)."""
        if "commit" not in version.native:  # e.g. a bare index row
            version = await self.get_version(version.model_name, version.version) or version
        edges = record_edges(version)
        me = version_node(version)
        for base in str(version.tags.get(BASE_MODEL_TAG) or "").split(",")[1:]:  # the first is ``parent``
            if base.strip():
                edges.append(
                    LineageEdge(me, LineageNode(base_reference(base.strip()), "model"), Relation.DERIVED_FROM)
                )
        return edges

    # --- write-through -------------------------------------------------------

    async def set_stage(self, version: ModelVersion, stage: Stage, *, actor: str) -> ModelVersion:
        """Move the stage's first tag (``prod``, ``staging``) to the version's commit:
        the Hub cannot move a tag, so it is deleted and created again at the commit
        (if the creation fails the old position is restored, best effort, and the
        error reported). DRAFT removes the version's stage tags; ARCHIVED has no
        tag convention and is refused. Works from a fresh read of the refs."""
        repo = self._repo(version.model_name)
        refs = await self._api.refs(repo) if repo else None
        current = [r for r in _version_refs(refs or {}, self.settings) if r["name"] == version.version]
        if repo is None or not current or not self.settings.is_version_ref(version.version):
            raise RegistryRejected(
                self.registry_id,
                f"repository {version.model_name} has no version {version.version}",
                status=404,
            )
        commit = current[0]["targetCommit"]
        tags = {t["name"]: t["targetCommit"] for t in (refs or {}).get("tags") or []}
        message = f"modelgate: {stage.value} (approved promotion, by {actor})"
        if stage is Stage.DRAFT:
            for name, target in tags.items():
                if target == commit and self.settings.stages.stage_for(name) is not None:
                    await self._api.delete_tag(repo, name)
        else:
            tag = self.settings.stages.written(stage)
            if tag is None:
                raise RegistryRejected(
                    self.registry_id,
                    f"no tag convention for {stage.value} on the Hub (only production and staging tags)",
                )
            if tags.get(tag) != commit:
                await self._move_tag(repo, tag, commit, tags.get(tag), message)
        written = await self.get_version(version.model_name, version.version)
        if written is None:
            raise RegistryRejected(self.registry_id, f"version {version.uri} vanished during the write")
        return written

    async def _move_tag(self, repo: str, tag: str, commit: str, previous: str | None, message: str) -> None:
        if previous is not None:
            await self._api.delete_tag(repo, tag)
        try:
            await self._api.create_tag(repo, tag, commit, message)
        except RegistryError:
            if previous is not None:
                # Put it back where it was: the promotion failed, the old stage stands
                # (if that fails too, the first error is the one to report).
                with contextlib.suppress(RegistryError):
                    await self._api.create_tag(repo, tag, previous, f"modelgate: restored {tag}")
            raise

    # --- operations ----------------------------------------------------------

    def source_url(self, model_name: str, version: str | None = None) -> str | None:
        """The repository's page on the Hub (``SourceLinker``)."""
        return hub_page_url(self.settings.endpoint, model_name, version)

    async def health(self) -> Health:
        """``whoami`` with a token (it proves the token), else one listing call."""
        try:
            if self.settings.token:
                await self._api.whoami()
            elif self.settings.organization:
                await self._api.models_page(self.settings.organization, None)
            elif self.settings.repositories:
                await self._api.model_info(self.settings.repositories[0])
        except RegistryError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True)

    async def aclose(self) -> None:
        await self._api.aclose()

    # --- helpers -------------------------------------------------------------

    def _repo(self, name: str) -> str | None:
        """The repository a modelgate model name names, if it belongs to this registry."""
        repo = repo_id_of(name)
        return repo if repo and self.settings.owns(repo) else None

    async def _versions(self, repo: str, refs: Mapping[str, Any]) -> list[ModelVersion]:
        stage_refs = stage_commits(refs.get("tags") or [], self.settings.stages)
        found = await asyncio.gather(
            *(self._version(repo, r, stage_refs) for r in _version_refs(refs, self.settings))
        )
        versions = [v for v in found if v is not None]
        return sorted(
            versions, key=lambda v: (v.created_at is None, v.created_at, v.version == MAIN, v.version)
        )

    async def _version(
        self, repo: str, ref: Wire, stage_refs: Mapping[str, list[str]]
    ) -> ModelVersion | None:
        info = await self._info(repo, ref["targetCommit"])
        if info is None:
            return None
        return to_version(
            repo,
            ref,
            info,
            stage_refs,
            registry_id=self.registry_id,
            stages=self.settings.stages,
            team=self.team,
        )

    async def _info(self, repo: str, commit: str) -> Wire | None:
        key = (repo, commit)
        if key in self._infos:
            self._infos.move_to_end(key)
            return self._infos[key]
        async with self._slots:
            try:
                info = await self._api.model_info(repo, commit)
            except RegistryNotFound:
                info = None
        if info is not None:
            self._infos[key] = info
            while len(self._infos) > INFO_CACHE:
                self._infos.popitem(last=False)
        return info


def _version_refs(refs: Mapping[str, Any], settings: HuggingFaceSettings) -> list[Wire]:
    """The tags (and ``main``) that are versions under the configured convention."""
    candidates = [
        *(refs.get("tags") or []),
        *(b for b in refs.get("branches") or [] if b.get("name") == MAIN),
    ]
    return [r for r in candidates if settings.is_version_ref(str(r.get("name") or ""))]
