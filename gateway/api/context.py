"""Per-request state for resolvers: the gateway, who is asking, and dataloaders
that batch index reads so a page of N versions costs one query, not N."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from strawberry.dataloader import DataLoader

from gateway.auth.access import AccessPolicy, Visibility
from gateway.auth.principal import LOCAL_OPERATOR, Principal
from gateway.catalogue.index import RegistryStats
from gateway.catalogue.live import LiveVersion
from gateway.catalogue.refs import resolve_version_uri
from gateway.catalogue.state import StateReport, error_summary, registry_states
from gateway.domain import Approval, Endpoint, Model, ModelVersion, Review
from gateway.errors import GatewayError, RegistryError
from gateway.governance.service import StoredCompliance
from gateway.governance.tier_store import AssignedTier
from gateway.rollouts.engine import EndpointKey
from gateway.runtime import Gateway


def _loader(fetch: Any) -> DataLoader[str, Any]:
    async def load(keys: list[str]) -> list[Any]:
        found = await fetch(keys)
        return [found.get(k) for k in keys]

    return DataLoader(load_fn=load)


@dataclass
class Context:
    gateway: Gateway
    request_id: str
    principal: Principal = LOCAL_OPERATOR
    # Where this request reached the gateway (``http://host:port``): the base of
    # the download URLs the gateway serves itself.
    base_url: str = ""
    # What the principal may see and do (``gateway.auth.access``). Every index read
    # of this request goes through its filter (``visibility``, None: everything),
    # so a restricted model is simply absent.
    access: AccessPolicy = field(init=False)
    visibility: Visibility | None = field(init=False)
    models: DataLoader[str, Model | None] = field(init=False)
    versions: DataLoader[str, ModelVersion | None] = field(init=False)
    latest_versions: DataLoader[str, ModelVersion | None] = field(init=False)
    # The stored policy evaluation of indexed versions (None: not indexed).
    compliance: DataLoader[str, StoredCompliance | None] = field(init=False)
    # Approvals recorded by modelgate's applied promotions, per version.
    promotion_approvals: DataLoader[str, list[Approval]] = field(init=False)
    # Reviews recorded by addReview, per version; risk tiers, per model.
    reviews: DataLoader[str, list[Review]] = field(init=False)
    risk_tiers: DataLoader[str, AssignedTier | None] = field(init=False)
    # Live reads through the adapters (cached, batched per registry).
    live: DataLoader[str, LiveVersion] = field(init=False)
    # ``live: true`` reads: through the adapters now, refreshing the cache.
    live_fresh: DataLoader[str, LiveVersion] = field(init=False)
    # Rollout endpoints as their serving system reports them now, keyed (registry,
    # endpoint URI): one live read per endpoint per request, however many rollouts
    # or aliases ask for it.
    rollout_endpoints: DataLoader[EndpointKey, Endpoint | GatewayError] = field(init=False)
    # Registries whose part of this answer came from the index because they failed:
    # reported in ``errors[]`` (REGISTRY_UNAVAILABLE) next to the data, one per registry.
    registry_errors: dict[str, RegistryError] = field(default_factory=dict)
    _stats: asyncio.Future[dict[str, RegistryStats]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        index = self.gateway.index
        self.access = self.gateway.access(self.principal)
        self.visibility = self.access.visibility
        self.models = _loader(partial(index.get_models, visibility=self.visibility))
        self.versions = _loader(partial(index.get_versions, visibility=self.visibility))
        self.latest_versions = _loader(partial(index.latest_versions, visibility=self.visibility))
        self.compliance = _loader(self.gateway.governance.stored_compliance)
        self.promotion_approvals = _loader(self.gateway.governance.promotions.applied_approvals)
        self.reviews = _loader(self.gateway.governance.reviews_of)
        self.risk_tiers = _loader(self.gateway.governance.tiers_of)
        self.live = _loader(self.gateway.live.versions)
        self.live_fresh = _loader(partial(self.gateway.live.versions, fresh=True))
        self.rollout_endpoints = DataLoader(load_fn=self.gateway.rollouts.endpoints_now)

    async def concrete(self, uri: str, field: str = "uri") -> str:
        """``uri`` with a reference by stage or alias (``mg://r/m@production``) resolved
        to the version that holds it now, among those this principal may see; any
        other URI unchanged (``gateway.catalogue.refs``). Every argument that takes a
        version URI passes here before the core sees it."""
        return await resolve_version_uri(self.gateway.index, uri, self.visibility, field=field)

    async def registry_stats(self) -> dict[str, RegistryStats]:
        """Health and freshness of every registry, read once per request: the
        resolvers asking for it run concurrently, so they share one read."""
        if self._stats is None:
            self._stats = asyncio.ensure_future(self.gateway.index.registry_stats(self.visibility))
        return await asyncio.shield(self._stats)

    def report(self, error: RegistryError) -> None:
        """A registry failure to carry in ``errors[]``, as the principal may read it."""
        self.registry_errors.setdefault(error.registry_id, self.access.registry_error(error))

    async def registry_states(self) -> dict[str, StateReport]:
        """The state of every configured registry (``gateway.catalogue.state``), each
        reason as the principal may read it (``AccessPolicy.reads_registry_errors``)."""
        health = await self.gateway.index.registry_health()
        ids = [r.id for r in self.gateway.settings.registries]
        states = registry_states(ids, health, self.gateway.adapters)
        return {
            rid: s if self.access.reads_registry_errors(rid) else s.without_detail()
            for rid, s in states.items()
        }

    async def registry_error(self, registry_id: str) -> str | None:
        """A registry's last sync error as the principal may read it."""
        health = (await self.gateway.index.registry_health()).get(registry_id)
        if self.access.reads_registry_errors(registry_id):
            return health.last_error if health else None
        return error_summary(health)

    async def note_index_answer(self, registry_ids: Iterable[str] | None = None) -> None:
        """An answer from the index covered these registries (None: every configured
        one, as a search without a registry filter does): each that is down or has
        never completed a sync is reported, since its part may be stale or missing."""
        states = await self.registry_states()
        for rid in states if registry_ids is None else set(registry_ids):
            state = states.get(rid)
            if state is not None and state.reported:  # its reason is already the reader's
                self.registry_errors.setdefault(rid, state.error())

    async def note_missing(self, uri: str, registry_id: str) -> None:
        """A by-URI read the index could not answer: if the registry is down or has
        never completed a sync, the null is not an answer, so say so."""
        state = (await self.registry_states()).get(registry_id)
        if state is not None and state.reported:
            self.registry_errors.setdefault(registry_id, state.error(subject=uri))

    async def complete(self, versions: list[ModelVersion], *, live: bool = False) -> list[ModelVersion]:
        """Versions with every detail: index records that lack some (``partial``), or
        all of them when ``live``, are read through the adapters. A registry that
        fails leaves the index's copy in place and is reported."""
        wanted = [v.uri for v in versions if live or v.partial]
        if not wanted:
            await self.note_index_answer(v.registry_id for v in versions)
            return versions
        loader = self.live_fresh if live else self.live
        fetched = dict(zip(wanted, await loader.load_many(wanted), strict=True))
        out = []
        for v in versions:
            result = fetched.get(v.uri)
            if result is None:
                out.append(v)
            elif result.error is not None:
                self.report(result.error)
                out.append(v)
            else:
                out.append(result.version or v)
        await self.note_index_answer(v.registry_id for v in versions if v.uri not in fetched)
        return out
