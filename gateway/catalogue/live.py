"""Live reads of version details the index lacks, through the adapters.

Reads go through the shared cache (stale-while-revalidate, stale-if-error,
coalescing) and are grouped per registry, so a page of versions costs at most
one batched call per registry; a registry that fails or hangs costs at most the
deadline and yields the index's copy, marked stale, plus a coded error.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.protocol import BatchVersionReader, RegistryAdapter
from gateway.catalogue.cache import AsyncCache
from gateway.codec import version_from_dict, version_to_dict
from gateway.domain import ModelVersion, parse_uri
from gateway.errors import GatewayError, RegistryError, RegistryUnavailable

DEFAULT_DEADLINE_SECONDS = 3.0
PER_REGISTRY_CONCURRENCY = 8


@dataclass(frozen=True)
class LiveVersion:
    version: ModelVersion | None  # None: the registry does not have it (or never answered)
    stale: bool = False
    error: RegistryError | None = None


class LiveReader:
    def __init__(
        self,
        adapters: Mapping[str, RegistryAdapter],
        cache: AsyncCache,
        *,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    ):
        self.adapters = adapters
        self.cache = cache
        self.deadline = deadline_seconds

    async def versions(self, uris: Sequence[str], *, fresh: bool = False) -> dict[str, LiveVersion]:
        """The versions through their adapters: from the cache when it has them, or,
        when ``fresh`` (``live: true``), read from the registry now and the cache
        refreshed with the answer; a registry that fails then yields the error and no
        version, so the caller falls back to the index's copy."""
        by_registry: dict[str, list[str]] = defaultdict(list)
        for uri in dict.fromkeys(uris):
            by_registry[parse_uri(uri).registry_id].append(uri)
        results: dict[str, LiveVersion] = {}
        parts = await asyncio.gather(
            *(self._registry(rid, batch, fresh) for rid, batch in by_registry.items())
        )
        for part in parts:
            results.update(part)
        return results

    async def _registry(self, registry_id: str, uris: list[str], fresh: bool) -> dict[str, LiveVersion]:
        adapter = self.adapters.get(registry_id)
        if adapter is None:
            return {u: LiveVersion(None) for u in uris}

        async def load(keys: list[str]) -> dict[str, Any]:
            found = await asyncio.wait_for(_read(adapter, [_key_to_uri(k) for k in keys]), self.deadline)
            return {_cache_key(uri): version_to_dict(v) for uri, v in found.items() if v is not None}

        keys = [_cache_key(u) for u in uris]
        read = self.cache.refresh_many(keys, load) if fresh else self.cache.get_many(keys, load)
        try:
            cached = await asyncio.wait_for(read, self.deadline + 0.5)
        except TimeoutError:  # the cache backend itself stalled
            stalled = RegistryUnavailable(registry_id, f"no answer within {self.deadline:.1f}s")
            return {u: LiveVersion(None, stale=True, error=stalled) for u in uris}
        out = {}
        for uri in uris:
            entry = cached[_cache_key(uri)]
            error = _as_registry_error(registry_id, entry.error, self.deadline) if entry.error else None
            version = version_from_dict(entry.value) if entry.value else None
            out[uri] = LiveVersion(version, stale=entry.stale, error=error)
        return out


async def _read(adapter: RegistryAdapter, uris: list[str]) -> dict[str, ModelVersion | None]:
    keys = [(p.model_name, p.version or "") for p in map(parse_uri, uris)]
    if isinstance(adapter, BatchVersionReader):
        found = await adapter.get_versions(keys)
        return {uri: found.get(key) for uri, key in zip(uris, keys, strict=True)}
    limit = asyncio.Semaphore(PER_REGISTRY_CONCURRENCY)

    async def one(name: str, version: str) -> ModelVersion | None:
        async with limit:
            return await adapter.get_version(name, version)

    versions = await asyncio.gather(*(one(n, v) for n, v in keys))
    return dict(zip(uris, versions, strict=True))


def _as_registry_error(registry_id: str, exc: Exception, deadline: float) -> RegistryError:
    if isinstance(exc, RegistryError):
        return exc
    if isinstance(exc, TimeoutError):
        return RegistryUnavailable(registry_id, f"no answer within {deadline:.1f}s")
    if isinstance(exc, GatewayError):
        return RegistryUnavailable(registry_id, exc.message)
    return RegistryUnavailable(registry_id, f"read failed ({type(exc).__name__})")


def _cache_key(uri: str) -> str:
    return f"version:{uri}"


def _key_to_uri(key: str) -> str:
    return key.removeprefix("version:")
