"""An asyncio cache for live registry reads.

cachetools has no asyncio support (decorating a coroutine caches the coroutine
object), so the async behaviour lives here, over a plain key/value backend:

- fresh for ``ttl``; then **stale-while-revalidate** until ``stale_ttl``: the old
  value is answered at once and one background refresh per key runs;
- **request coalescing**: concurrent misses for a key share one load;
- **stale-if-error**: a failed load answers with the last value if there is one.

Backends: in-process (cachetools ``TTLCache``) for one gateway, Redis to share
entries between replicas. Values must be JSON-serialisable (use gateway.codec).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cachetools import TTLCache

log = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Entry:
    value: Any
    stored_at: float  # the cache's clock (time.time()) when loaded


class CacheBackend(Protocol):
    async def get(self, key: str) -> Entry | None: ...

    async def set(self, key: str, entry: Entry, expire_seconds: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryBackend:
    def __init__(self, max_entries: int, expire_seconds: float):
        self._entries: TTLCache[str, Entry] = TTLCache(maxsize=max_entries, ttl=expire_seconds)

    async def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    async def set(self, key: str, entry: Entry, expire_seconds: float) -> None:
        self._entries[key] = entry

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def aclose(self) -> None:
        self._entries.clear()


class RedisBackend:
    """Entries shared by every replica; a Redis outage degrades to cache misses."""

    def __init__(self, url: str, prefix: str = "modelgate:cache:"):
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    async def get(self, key: str) -> Entry | None:
        try:
            raw = await self._redis.get(self._prefix + key)
        except Exception as exc:  # the cache is an optimisation, never a failure
            log.warning("redis cache read failed: %s", exc)
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        return Entry(data["v"], data["at"])

    async def set(self, key: str, entry: Entry, expire_seconds: float) -> None:
        payload = json.dumps({"v": entry.value, "at": entry.stored_at}, separators=(",", ":"))
        try:
            await self._redis.set(self._prefix + key, payload, px=max(1, int(expire_seconds * 1000)))
        except Exception as exc:
            log.warning("redis cache write failed: %s", exc)

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except Exception as exc:
            log.warning("redis cache delete failed: %s", exc)

    async def aclose(self) -> None:
        await self._redis.aclose()


@dataclass(frozen=True)
class Cached:
    value: Any
    stale: bool = False  # older than ttl (being refreshed), or a load failed and this is the last value
    error: Exception | None = None  # the load failed and there was nothing to fall back on


@dataclass
class CacheStats:
    hits: int = 0
    stale_hits: int = 0
    misses: int = 0
    errors_served_stale: int = 0
    live_reads: int = 0  # refresh_many calls: reads that skipped the cache

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.stale_hits + self.misses
        return (self.hits + self.stale_hits) / total if total else 0.0


LoadMany = Callable[[list[str]], Awaitable[dict[str, Any]]]


class AsyncCache:
    def __init__(
        self,
        backend: CacheBackend,
        ttl: float,
        stale_ttl: float | None = None,
        keep_seconds: float = 3600,
        *,
        clock: Callable[[], float] = time.time,  # wall time: Redis entries are shared between hosts
    ):
        self.backend = backend
        self.clock = clock
        self.ttl = ttl
        self.stale_ttl = stale_ttl if stale_ttl is not None else ttl * 10
        # Entries outlive stale_ttl so that stale-if-error has something to serve.
        self.keep_seconds = max(keep_seconds, self.stale_ttl * 2)
        self.stats = CacheStats()
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._refreshing: set[asyncio.Task[Any]] = set()

    async def get(self, key: str, loader: Loader) -> Cached:
        async def load_one(keys: list[str]) -> dict[str, Any]:
            return {keys[0]: await loader()}

        result = (await self.get_many([key], load_one))[key]
        if result.error is not None:
            raise result.error
        return result

    async def get_many(self, keys: list[str], load_many: LoadMany) -> dict[str, Cached]:
        """Every key, loading all misses with one ``load_many`` call (a key absent from
        its answer is cached as None: "the registry has no such thing")."""
        now = self.clock()
        out: dict[str, Cached] = {}
        previous: dict[str, Entry] = {}
        refresh: list[str] = []
        missing: list[str] = []
        for key in dict.fromkeys(keys):
            entry = await self.backend.get(key)
            age = now - entry.stored_at if entry else None
            if entry is not None and age is not None and age < self.ttl:
                self.stats.hits += 1
                out[key] = Cached(entry.value)
            elif entry is not None and age is not None and age < self.stale_ttl:
                self.stats.stale_hits += 1
                out[key] = Cached(entry.value, stale=True)
                refresh.append(key)
            else:
                self.stats.misses += 1
                if entry is not None:
                    previous[key] = entry
                missing.append(key)
        refresh = [k for k in refresh if k not in self._inflight]
        if refresh:  # one background refresh per key; in flight from this moment on
            self._start(refresh, load_many)
        if missing:
            waiting = {k: self._inflight[k] for k in missing if k in self._inflight}
            mine = [k for k in missing if k not in waiting]
            if mine:
                self._start(mine, load_many)
            for key in missing:
                try:
                    out[key] = Cached(await asyncio.shield(self._inflight.get(key) or waiting[key]))
                except KeyError:  # finished between the two lookups: it is in the backend now
                    entry = await self.backend.get(key)
                    out[key] = Cached(entry.value if entry else None)
                except Exception as exc:
                    if key in previous:  # stale-if-error: the last value beats no value
                        self.stats.errors_served_stale += 1
                        out[key] = Cached(previous[key].value, stale=True)
                    else:
                        out[key] = Cached(None, stale=True, error=exc)
        return out

    async def refresh_many(self, keys: list[str], load_many: LoadMany) -> dict[str, Cached]:
        """Every key read now with one ``load_many`` call, whatever the cache holds,
        and the cache refreshed with the answer (a read that must be live). A load
        already in flight is not joined: it may have started before the caller asked.
        A failed load answers ``Cached(None, stale=True, error=...)`` for every key
        and leaves the cached values as they were."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        self.stats.live_reads += 1
        futures = self._start(wanted, load_many)
        out: dict[str, Cached] = {}
        for key in wanted:
            try:
                out[key] = Cached(await asyncio.shield(futures[key]))
            except Exception as exc:
                out[key] = Cached(None, stale=True, error=exc)
        return out

    def _start(self, keys: list[str], load_many: LoadMany) -> dict[str, asyncio.Future[Any]]:
        """Load ``keys`` in the background; their futures are in flight from now on."""
        loop = asyncio.get_running_loop()
        futures = {k: loop.create_future() for k in keys}
        self._inflight.update(futures)

        async def run() -> None:
            try:
                values = await load_many(keys)
                stored = self.clock()
                for key in keys:
                    value = values.get(key)
                    await self.backend.set(key, Entry(value, stored), self.keep_seconds)
                    futures[key].set_result(value)
            except BaseException as exc:  # a failed refresh leaves the stale value serving
                log.info("loading %d cache keys failed: %s", len(keys), exc)
                for future in futures.values():
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # mark retrieved: a lone caller may be gone
                if not isinstance(exc, Exception):
                    raise
            finally:
                for key in keys:
                    if self._inflight.get(key) is futures[key]:
                        del self._inflight[key]

        task = asyncio.create_task(run())
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)
        return futures

    async def refreshed(self) -> None:
        """Wait for the background refreshes running now (stale-while-revalidate)."""
        while self._refreshing:
            await asyncio.gather(*self._refreshing, return_exceptions=True)

    async def invalidate(self, key: str) -> None:
        await self.backend.delete(key)

    async def aclose(self) -> None:
        for task in list(self._refreshing):
            task.cancel()
        await self.backend.aclose()


def cache_from_url(url: str, ttl: float, max_entries: int, keep_seconds: float = 3600) -> AsyncCache:
    if url.startswith(("redis://", "rediss://")):
        return AsyncCache(RedisBackend(url), ttl, keep_seconds=keep_seconds)
    return AsyncCache(MemoryBackend(max_entries, expire_seconds=keep_seconds), ttl, keep_seconds=keep_seconds)
