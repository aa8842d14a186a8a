"""The join of a registry's two bulk listings, models and all versions, read
concurrently: a model is complete once its record has arrived and the versions
listing has moved on to another model (or ended).

The versions listing never asks for more pages than the models listing has
delivered: with a model on every version page, each version page's models have
been listed before it (registries that decorate versions with model data, like
MLflow's aliases, find it fresh), and the join's buffers stay small.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from adapters.base import iterate_page_items
from adapters.protocol import Page
from gateway.catalogue.pipeline import Pair
from gateway.domain import Model, ModelVersion

PAGES_AHEAD = 2  # listing pages read ahead of the join during a full sync

Fetch = Callable[[str | None], Awaitable[Page[Any]]]


class _Pacer:
    """Holds the versions listing to the pages the models listing has delivered."""

    def __init__(self, paced: bool):
        self.paced = paced  # unpaced: the listing waits for model data itself
        self.seen = asyncio.Condition()
        self.counts = {"models": 0, "versions": 0}
        self.models_listed = asyncio.Event()

    async def may_ask(self, stream: str) -> None:
        if stream == "versions" and self.paced:
            async with self.seen:
                await self.seen.wait_for(
                    lambda: self.models_listed.is_set() or self.counts["models"] > self.counts["versions"]
                )

    async def got(self, stream: str, page: Page[Any]) -> None:
        async with self.seen:
            self.counts[stream] += 1
            if stream == "models" and not page.next_token:
                self.models_listed.set()
            self.seen.notify_all()

    async def models_ended(self) -> None:
        """Ended or failed: the versions listing must not wait on it."""
        async with self.seen:
            self.models_listed.set()
            self.seen.notify_all()


class ListingJoin:
    """Yields each model with its versions once complete, ``None`` after each
    page's complete models. Models without versions come at the end; versions
    whose model is not listed (deleted meanwhile) are dropped; a model whose
    versions came scattered is read again whole (``reread``) at the very end."""

    def __init__(
        self,
        list_models: Fetch,
        list_all_versions: Fetch,
        reread: Callable[[str], Awaitable[list[ModelVersion]]],
        *,
        paced: bool = True,
    ):
        self.fetch = {"models": list_models, "versions": list_all_versions}
        self.reread = reread
        self.pacer = _Pacer(paced)
        self.models: dict[str, Model] = {}  # listed, not yet yielded
        self.groups: dict[str, list[ModelVersion]] = defaultdict(list)
        self.complete: set[str] = set()  # the versions listing has moved past these
        self.current: str | None = None
        self.yielded: dict[str, Model] = {}
        self.scattered: set[str] = set()  # versions came after the model was yielded

    async def __aiter__(self) -> AsyncIterator[Pair | None]:
        queues: dict[str, asyncio.Queue[Any]] = {
            "models": asyncio.Queue(maxsize=PAGES_AHEAD),
            "versions": asyncio.Queue(maxsize=PAGES_AHEAD),
        }
        pumps = [asyncio.create_task(self._pump(stream, queue)) for stream, queue in queues.items()]
        waiting: dict[asyncio.Task[Any], str] = {}
        try:
            while queues:
                for name, queue in queues.items():
                    if name not in waiting.values():
                        waiting[asyncio.ensure_future(queue.get())] = name
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    stream = waiting.pop(task)
                    if self._take(stream, task.result()):
                        del queues[stream]
                for pair in self._completed(versions_done="versions" not in queues):
                    yield pair
                yield None
            for name in sorted(self.scattered):  # rare: re-read whole, the index replaces the model
                yield self.yielded[name], await self.reread(name)
        finally:
            for task in [*pumps, *waiting]:
                task.cancel()
            for task in [*pumps, *waiting]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _pump(self, stream: str, out: asyncio.Queue[Any]) -> None:
        """One listing, page by page, into ``out``: items, then None (or the error)."""
        fetch = self.fetch[stream]

        async def paced(token: str | None) -> Page[Any]:
            await self.pacer.may_ask(stream)
            page = await fetch(token)
            await self.pacer.got(stream, page)
            return page

        try:
            async for items in iterate_page_items(paced):
                await out.put(items)
            await out.put(None)
        except Exception as exc:
            await out.put(exc)
        finally:
            if stream == "models":
                await self.pacer.models_ended()

    def _take(self, stream: str, item: list[Any] | BaseException | None) -> bool:
        """One page of a listing into the join; True when the listing ended."""
        if isinstance(item, BaseException):
            raise item
        if item is None:
            if stream == "versions" and self.current is not None:
                self.complete.add(self.current)
            return True
        if stream == "models":
            self.models.update((m.name, m) for m in item)
        else:
            self._take_versions(item)
        return False

    def _take_versions(self, versions: list[ModelVersion]) -> None:
        for v in versions:
            name = v.model_name
            if name != self.current:
                if self.current is not None:
                    self.complete.add(self.current)
                self.current = name
                self.complete.discard(name)
            if name in self.yielded:
                self.scattered.add(name)
            else:
                self.groups[name].append(v)

    def _completed(self, *, versions_done: bool) -> list[Pair]:
        """The listed models whose versions are all in, taken out of the join."""
        out: list[Pair] = []
        for name in [n for n in self.models if versions_done or n in self.complete]:
            model = self.models.pop(name)
            self.complete.discard(name)
            self.yielded[name] = model
            out.append((model, self.groups.pop(name, [])))
        return out
