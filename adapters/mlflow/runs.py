"""Run details for model versions: params, metrics, dataset inputs, code.

A version only names its run (``run_id``); everything the catalogue shows about
training lives on the run. ``runs/get`` costs one request per run, so several
runs are read with ``runs/search`` and an ``attributes.run_id IN (...)``
filter instead (MLflow spends ~0.6 ms per run either way, so fewer requests is
what saves time). That search needs the experiment ids, which are listed once
a minute; a run it misses is read with ``runs/get``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from adapters.mlflow.mapping import RunDetails, is_not_found, run_from_wire
from adapters.toolkit.http import JsonHttpClient
from adapters.toolkit.paging import record
from adapters.toolkit.retry import RetryPolicy, retry_read
from gateway.errors import RegistryError, RegistryForbidden

log = logging.getLogger(__name__)

RUN_BATCH = 200  # run ids per runs/search request
BATCH_FROM = 3  # fewer runs than this: runs/get is as cheap as a search
EXPERIMENTS_MAX_AGE = 60.0  # seconds the experiment id list is reused


class RunReader:
    def __init__(self, registry_id: str, http: JsonHttpClient, retry: RetryPolicy, concurrency: int):
        self.registry_id = registry_id
        self._http = http
        self._retry = retry
        self._concurrency = concurrency
        self._experiments: tuple[float, list[str] | None] | None = None

    async def details(self, run_ids: Iterable[str | None]) -> dict[str, RunDetails | None]:
        """Run details for these ids, each read once, at most ``concurrency`` requests
        at a time. A run that is gone (or not readable) maps to None."""
        ids = sorted({r for r in run_ids if r})
        if not ids:
            return {}
        found: dict[str, RunDetails | None] = {}
        semaphore = asyncio.Semaphore(self._concurrency)
        if len(ids) >= BATCH_FROM and (experiments := await self._experiment_ids()):

            async def search(chunk: list[str]) -> None:
                async with semaphore:
                    found.update(await self._search(experiments, chunk))

            await asyncio.gather(*(search(ids[i : i + RUN_BATCH]) for i in range(0, len(ids), RUN_BATCH)))

        async def get(run_id: str) -> None:
            async with semaphore:
                found[run_id] = await self.get(run_id)

        # Runs the search missed (an experiment created since it was listed) are read one by one.
        await asyncio.gather(*(get(r) for r in ids if r not in found))
        return found

    async def get(self, run_id: str) -> RunDetails | None:
        try:
            body = await self._http.get("runs/get", {"run_id": run_id})
        except RegistryForbidden:  # MLflow's per-experiment permissions: the version still lists
            log.info("%s: run %s is not readable by modelgate", self.registry_id, run_id)
            return None
        except RegistryError as exc:
            if is_not_found(exc):
                return None
            raise
        return run_from_wire(self.registry_id, record(self.registry_id, body, "run", what="runs/get"))

    async def _search(self, experiments: list[str], run_ids: list[str]) -> dict[str, RunDetails]:
        quoted = ", ".join(f"'{r}'" for r in run_ids if "'" not in r)
        request = {
            "experiment_ids": experiments,
            "filter": f"attributes.run_id IN ({quoted})",
            "max_results": len(run_ids),
            "run_view_type": "ALL",  # a deleted run still says how its model was trained
        }
        # runs/search is a POST, but a read: safe to retry.
        body = await retry_read(
            lambda: self._http.send("POST", "runs/search", json_body=request), self._retry
        )
        runs = [run_from_wire(self.registry_id, raw) for raw in body.get("runs") or ()]
        return {r.run_id: r for r in runs}

    async def _experiment_ids(self) -> list[str] | None:
        """Every experiment id, cached for a minute; None when there is more than one
        page of them (1,000), where naming them all in each search would not pay."""
        if self._experiments and self._experiments[0] > time.monotonic() - EXPERIMENTS_MAX_AGE:
            return self._experiments[1]
        body = await self._http.get("experiments/search", {"max_results": 1000, "view_type": "ALL"})
        experiments = body.get("experiments") or []
        ids = None if body.get("next_page_token") else [e["experiment_id"] for e in experiments]
        self._experiments = (time.monotonic(), ids)
        return ids
