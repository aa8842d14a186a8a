"""A full sync as a small pipeline of three stages, each its own task:

- the reader turns the registry's listing into batches (small ones first, so
  the first models are searchable soon, larger ones after);
- one writer indexes every batch, catalogue batches before details;
- in a two-pass sync the details filler, once every model is indexed, reads
  the details of each written batch for the writer to write again.

Reading runs a few batches ahead of writing, so the registry serves the next
pages while the index commits this one. A stage that fails hands its error to
the writer: a reader's fails the pass, a filler's only the details pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.catalogue.index import CatalogueIndex
from gateway.domain import Model, ModelVersion
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

FIRST_BATCH_SIZE = 50  # the first models of a full sync are written (searchable) on their own
BATCH_SIZE = 200  # models written per index transaction: the first batches of a full sync
# Later batches of a full sync: fewer, larger transactions cost less per model (statement
# compilation, listener set-up) once the first models are searchable.
FULL_SYNC_BATCH_SIZE = 500
SMALL_BATCHES_UNTIL = 1000  # models of a full sync written in BATCH_SIZE batches
WRITE_AHEAD = 4  # batches read ahead of the index writer during a full sync
FILL_VERSIONS = 1000  # versions whose details one fill step reads (and the index then writes)
FILLS_AHEAD = 2  # fill steps read ahead of the index writer

Pair = tuple[Model, list[ModelVersion]]
# What the pass does once every model is indexed: (models seen) -> (removed, partial, held).
Catalogued = Callable[[set[str]], Awaitable[tuple[int, str | None, str | None]]]
Fill = Callable[[list[Pair]], Awaitable[list[Pair]]]  # a batch with its details read


@dataclass
class FullSyncOutcome:
    seen: set[str] = field(default_factory=set)  # models read and indexed
    changed: int = 0  # models whose index entry changed
    removed: int = 0
    partial: str | None = None  # the message about models that could not be read
    held: str | None = None  # removals held
    catalogued_at: float | None = None  # perf_counter() when every model was indexed
    details_error: str | None = None


def batch_size(read_models: int) -> int:
    """Small batches first (the first models are searchable soon), then larger
    ones (cheaper per model once the catalogue is filling)."""
    if read_models <= FIRST_BATCH_SIZE:
        return FIRST_BATCH_SIZE
    if read_models <= SMALL_BATCHES_UNTIL:
        return BATCH_SIZE
    return FULL_SYNC_BATCH_SIZE


def by_versions(batch: list[Pair], size: int) -> list[list[Pair]]:
    """The batch in parts of about ``size`` versions, whole models each."""
    parts: list[list[Pair]] = [[]]
    count = 0
    for pair in batch:
        if count >= size:
            parts.append([])
            count = 0
        parts[-1].append(pair)
        count += len(pair[1])
    return [p for p in parts if p]


def details_message(exc: BaseException) -> str:
    reason = exc.message if isinstance(exc, GatewayError) else f"{type(exc).__name__}"
    return f"the catalogue is complete, but some versions lack their run details: {reason}"


class FullSync:
    """One full pass over a registry's ``listing`` (pairs, ``None`` at each page
    boundary) into ``index``. ``fill``: the details filler of a two-pass sync."""

    def __init__(
        self,
        registry_id: str,
        index: CatalogueIndex,
        listing: AsyncIterator[Pair | None],
        catalogued: Catalogued,
        fill: Fill | None = None,
        progress: Callable[[str, int], None] | None = None,
    ):
        self.registry_id = registry_id
        self.index = index
        self.listing = listing
        self.catalogued = catalogued
        self.fill = fill
        self.progress = progress
        self.outcome = FullSyncOutcome()
        self.batches: asyncio.Queue[list[Pair] | BaseException | None] = asyncio.Queue(maxsize=WRITE_AHEAD)
        # Each written batch goes on to have its details read (unbounded: the
        # catalogue pass never waits for details) and written again.
        self.to_fill: asyncio.Queue[list[Pair] | None] = asyncio.Queue()
        self.filled: asyncio.Queue[list[Pair] | BaseException | None] = asyncio.Queue(maxsize=FILLS_AHEAD)
        # Every model is written and the registry HEALTHY: details may have the registry now.
        self.catalogue_done = asyncio.Event()

    async def run(self) -> FullSyncOutcome:
        tasks = [asyncio.create_task(self.read(), name=f"modelgate-sync-read-{self.registry_id}")]
        if self.fill is not None:
            tasks.append(
                asyncio.create_task(
                    self.fill_details(self.fill), name=f"modelgate-sync-fill-{self.registry_id}"
                )
            )
        try:
            await self.write()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return self.outcome

    # --- the reader ------------------------------------------------------------

    async def read(self) -> None:
        try:
            batch: list[Pair] = []
            read_models = 0
            async for pair in self.listing:
                if pair is None:  # a page boundary: the first models go out at once
                    if batch and read_models <= FIRST_BATCH_SIZE:
                        await self.batches.put(batch)
                        batch = []
                    continue
                batch.append(pair)
                read_models += 1
                if len(batch) >= batch_size(read_models):
                    await self.batches.put(batch)
                    batch = []
            if batch:
                await self.batches.put(batch)
            await self.batches.put(None)
        except Exception as exc:  # handed to the writer, which fails the pass with it
            await self.batches.put(exc)

    # --- the details filler ----------------------------------------------------

    async def fill_details(self, fill: Fill) -> None:
        try:
            # The catalogue pass has the registry (and the index writer) to itself:
            # details are read once every model is searchable.
            await self.catalogue_done.wait()
            while (batch := await self.to_fill.get()) is not None:
                batch, ended = self._join_waiting(batch)
                for part in by_versions(batch, FILL_VERSIONS):
                    await self.filled.put(await fill(part))
                if ended:
                    break
            await self.filled.put(None)
        except Exception as exc:  # handed to the writer: the details pass ends with it
            await self.filled.put(exc)

    def _join_waiting(self, batch: list[Pair]) -> tuple[list[Pair], bool]:
        """Batches written meanwhile join this step (fewer, fuller requests);
        True when the end was among them."""
        while not self.to_fill.empty() and sum(len(vs) for _, vs in batch) < FILL_VERSIONS:
            more = self.to_fill.get_nowait()
            if more is None:
                return batch, True
            batch = [*batch, *more]
        return batch, False

    # --- the writer ------------------------------------------------------------

    async def write(self) -> None:
        """One writer: a catalogue batch whenever one is ready, details in between."""
        open_queues: dict[str, asyncio.Queue[Any]] = {"catalogue": self.batches}
        if self.fill is not None:
            open_queues["details"] = self.filled
        source: dict[asyncio.Future[Any], str] = {}
        try:
            while open_queues:
                for name, queue in open_queues.items():
                    if name not in source.values():
                        source[asyncio.ensure_future(queue.get())] = name
                done, _ = await asyncio.wait(source, return_when=asyncio.FIRST_COMPLETED)
                task = sorted(done, key=lambda f: source[f] != "catalogue")[0]  # catalogue first
                stream = source.pop(task)
                item = task.result()
                ended = await (
                    self._write_catalogue(item) if stream == "catalogue" else self._write_details(item)
                )
                if ended:
                    del open_queues[stream]
        finally:
            for task in source:
                task.cancel()
            for task in source:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _write_catalogue(self, item: list[Pair] | BaseException | None) -> bool:
        if isinstance(item, BaseException):
            raise item
        if item is None:
            await self._catalogue_complete()
            return True
        out = self.outcome
        out.changed += await self.index.replace_models(item, details_pending=self.fill is not None)
        out.seen.update(model.name for model, _ in item)
        if self.fill is not None:
            self.to_fill.put_nowait(item)
        if self.progress:
            self.progress(self.registry_id, len(out.seen))
        return False

    async def _catalogue_complete(self) -> None:
        """Every model is indexed: removals, the registry's state, then details."""
        self.to_fill.put_nowait(None)
        out = self.outcome
        out.removed, out.partial, out.held = await self.catalogued(out.seen)
        out.catalogued_at = time.perf_counter()
        self.catalogue_done.set()

    async def _write_details(self, item: list[Pair] | BaseException | None) -> bool:
        if isinstance(item, BaseException):
            self.outcome.details_error = details_message(item)
            log.warning("%s: %s", self.registry_id, self.outcome.details_error)
            return True
        if item is None:
            await self.index.record_details_filled(self.registry_id)
            return True
        await self.index.replace_models(item, details_filled=True)
        return False
