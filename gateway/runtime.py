"""The running gateway: settings, store, adapters, index and sync engine, wired
once and shared by the HTTP server, the CLI and the tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adapters.base import create_adapter, factory_for, load_factories
from adapters.protocol import (
    AdapterContext,
    AdapterFactory,
    RegistrationRequest,
    RegistryAdapter,
    VersionRegistrar,
)
from gateway.artifacts import ArtifactStore, open_backend
from gateway.artifacts.directories import FileSource, assemble_directory, directory_files
from gateway.artifacts.store import StoredFile, version_files
from gateway.auth.access import AccessPolicy
from gateway.auth.principal import Principal
from gateway.catalogue.cache import AsyncCache, cache_from_url
from gateway.catalogue.index import CatalogueIndex
from gateway.catalogue.live import LiveReader
from gateway.catalogue.sync import SyncEngine
from gateway.config import ConfigError, Settings
from gateway.domain import ModelVersion
from gateway.errors import BadInput, Forbidden, NotFound
from gateway.governance.policies import PolicySet, policies_for
from gateway.governance.service import Governance
from gateway.lineage.service import LineageService
from gateway.observability import Metrics, OperationLabels, fan_out, start_tracing
from gateway.resilience import GuardedAdapter, guard
from gateway.rollouts.alerts import AlertSender
from gateway.rollouts.engine import RolloutEngine
from gateway.rollouts.prometheus import PrometheusGate
from gateway.rollouts.restore import TrafficRestorer
from gateway.serving.history import StageHistory
from gateway.serving.service import DeploymentReport, Serving
from gateway.store.database import Database
from gateway.upkeep import UpkeepProgress

log = logging.getLogger(__name__)

POLICY_REEVALUATION = "policyReevaluation"
LINEAGE_REHARVEST = "lineageReharvest"


def validate_settings(settings: Settings, factories: dict[str, AdapterFactory] | None = None) -> PolicySet:
    """Everything a config can get wrong, checked before anything starts; returns
    the compiled policy file (a bad rule names the policy and the CEL error)."""
    if settings.observability.tracing:
        try:
            import opentelemetry.exporter.otlp.proto.http
            import opentelemetry.sdk  # noqa: F401
        except ImportError:
            raise ConfigError(
                "observability.tracing", "needs the 'otel' extra: pip install 'modelgate[otel]'"
            ) from None
    factories = factories if factories is not None else load_factories()
    for registry in settings.registries:
        factory_for(registry, factories).validate(registry)
    return policies_for(settings)


@dataclass
class Gateway:
    settings: Settings
    database: Database
    index: CatalogueIndex
    adapters: dict[str, RegistryAdapter]
    sync: SyncEngine
    artifacts: ArtifactStore
    cache: AsyncCache
    live: LiveReader
    governance: Governance
    lineage: LineageService
    rollouts: RolloutEngine
    serving: Serving
    history: StageHistory
    metrics: Metrics = field(default_factory=Metrics)
    # Whole-catalogue work left for the background (``start_upkeep``), shown in /readyz.
    upkeep: list[UpkeepProgress] = field(default_factory=list)
    _background: list[asyncio.Task[None]] = field(default_factory=list)
    _sync_lock: Any = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        migrate: bool = True,
        factories: dict[str, AdapterFactory] | None = None,
        background_upkeep: bool = False,
    ) -> Gateway:
        """Build the gateway; ``factories`` replaces entry-point discovery (tests).

        Work over the whole catalogue that a policy change or an upgrade calls for
        (``gateway.upkeep``) is done here, before this returns, unless
        ``background_upkeep``: then ``start_upkeep`` runs it while the gateway serves
        (a server: over a million versions it takes minutes)."""
        factories = factories if factories is not None else load_factories()
        policies = validate_settings(settings, factories)
        database = Database(settings.storage.url, audit_key=settings.governance.audit_key())
        try:
            if migrate:
                await database.migrate()
            artifacts_dir = Path(settings.storage.artifacts_dir)
            context = AdapterContext(database=database, artifacts_dir=artifacts_dir, environ=dict(os.environ))
            # Every registry call gets a deadline and a circuit breaker (gateway.resilience).
            adapters: dict[str, RegistryAdapter] = {
                r.id: guard(create_adapter(r, factories, context), r) for r in settings.registries
            }
        except BaseException:
            await database.aclose()
            raise
        index = CatalogueIndex(database, search_cache_seconds=settings.cache.search_ttl_seconds)
        registries = {r.id: r for r in settings.registries}
        serving = Serving(database, adapters)
        sync = SyncEngine(index, adapters, registries, serving)
        cache = cache_from_url(settings.cache.url, settings.cache.ttl_seconds, settings.cache.max_entries)
        governance = Governance(database, index, adapters, sync, registries, policies)
        governance.attach()
        lineage = LineageService(database, index, adapters, cache, settings, factories=factories)
        lineage.attach()  # harvests inside the same indexing transactions
        rollout_settings = settings.rollouts
        rollouts = RolloutEngine(
            database,
            adapters,
            governance.promotions,
            alerts=AlertSender(rollout_settings.webhook_url, rollout_settings.webhook_secret()),
            lease_seconds=rollout_settings.lease_seconds,
            poll_seconds=rollout_settings.poll_seconds,
            prometheus=(
                PrometheusGate(rollout_settings.prometheus_url, rollout_settings.prometheus_error_rate_query)
                if rollout_settings.prometheus_url and rollout_settings.prometheus_error_rate_query
                else None
            ),
            prometheus_registries=rollout_settings.prometheus_registries,
            restorer=TrafficRestorer(database, adapters, serving),
        )
        # A rollback's restored traffic is sent when its request is applied.
        governance.promotions.before_write.append(rollouts.restorer.before_write)
        history = StageHistory(database)
        index.listeners.append(history)  # stage changes, inside the indexing transactions
        gateway = cls(
            settings=settings,
            database=database,
            index=index,
            adapters=adapters,
            sync=sync,
            artifacts=ArtifactStore(
                open_backend(settings.artifacts),
                max_bytes=settings.artifacts.max_artifact_bytes,
                presigned_seconds=settings.artifacts.presigned_seconds,
            ),
            cache=cache,
            live=LiveReader(adapters, cache),
            governance=governance,
            lineage=lineage,
            rollouts=rollouts,
            serving=serving,
            history=history,
            metrics=Metrics(
                OperationLabels(
                    settings.observability.operation_names, settings.observability.max_operation_labels
                )
            ),
        )
        observers: list[Callable[[str, str, float, str | None], None]] = [
            gateway.metrics.observe_registry_call
        ]
        if settings.observability.tracing:
            observers.append(start_tracing())
        for adapter in adapters.values():
            if isinstance(adapter, GuardedAdapter):
                adapter.observe = fan_out(observers)
        sync.on_progress = gateway.metrics.sync_progress
        try:
            if background_upkeep:
                await governance.record_policies()
                if await governance.reevaluation_needed():
                    gateway.upkeep.append(UpkeepProgress(POLICY_REEVALUATION, "models"))
                if not await lineage.harvester.is_current(database):
                    gateway.upkeep.append(UpkeepProgress(LINEAGE_REHARVEST, "versions"))
            else:
                await governance.start()  # records a policy change and re-evaluates if needed
                await lineage.start()  # re-harvests if the registries references resolve against changed
        except BaseException:
            await gateway.aclose()
            raise
        return gateway

    def start_upkeep(self) -> None:
        """Run the whole-catalogue work ``open`` left for later, in the background,
        one task after the other; ``aclose`` (SIGTERM) cancels it between statements."""
        if any(p.state == "pending" for p in self.upkeep):
            self._background.append(asyncio.create_task(self._run_upkeep(), name="modelgate-upkeep"))

    async def _run_upkeep(self) -> None:
        for progress in self.upkeep:
            try:
                if progress.task == POLICY_REEVALUATION:
                    await self.governance.reevaluate_if_needed(progress)
                else:
                    await self.lineage.start(progress)
            except asyncio.CancelledError:
                progress.finish("stopped")
                raise
            except Exception:  # the next start tries again (nothing was recorded as done)
                log.exception("upkeep: %s failed", progress.task)
                progress.finish("failed")
            else:
                progress.finish("done")

    def start_background_sync(self) -> None:
        """Start syncing in the background, unless another process on this machine
        already does: with several workers over one SQLite file, one of them syncs
        (an OS file lock, released when the process ends). On PostgreSQL every
        process may try; an advisory lock per registry picks one per pass.

        Every process drives rollouts: a lease per rollout picks one driver."""
        self._background.append(asyncio.create_task(self.rollouts.run_forever(), name="modelgate-rollouts"))
        if self.database.dialect == "sqlite" and not self._take_sync_lock():
            log.info("another gateway process syncs this SQLite store; this one serves only")
            return
        self._background.append(asyncio.create_task(self.sync.run_forever(), name="modelgate-sync"))

    def _take_sync_lock(self) -> bool:
        import fcntl

        path = self.database.sqlite_path
        if path is None:  # an in-memory database belongs to this process alone
            return True
        handle = open(f"{path}.sync-lock", "a")  # noqa: SIM115 - held for the process's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._sync_lock = handle
        return True

    def access(self, principal: Principal) -> AccessPolicy:
        """What ``principal`` may see and do here (``gateway.auth.access``)."""
        return AccessPolicy.of(principal, self.settings, self.governance.policies.roles)

    def adapter(self, registry_id: str) -> RegistryAdapter:
        try:
            return self.adapters[registry_id]
        except KeyError:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise NotFound(f"no registry {registry_id!r} (configured: {known})", field="registry") from None

    async def register_version(
        self, registry_id: str, request: RegistrationRequest, files: Sequence[FileSource] | None = None
    ) -> ModelVersion:
        """Register ``request``; with ``files`` (uploaded files of the model), a
        directory version: the files are assembled into the model store's
        content-addressed directory first, which becomes its ``artifactUri``."""
        adapter = self.adapter(registry_id)
        if not isinstance(adapter, VersionRegistrar):
            raise BadInput(
                f"registry {registry_id!r} is a {adapter.kind} registry: register versions there "
                "with its own tools; modelgate registers into native registries only",
                field="registry",
            )
        if files is not None:
            if request.version.artifact_uri:
                raise BadInput("give artifactUri or files, not both", field="files")
            uri, recorded = await assemble_directory(self.artifacts, registry_id, request.model_name, files)
            request = replace(request, version=replace(request.version, artifact_uri=uri), files=recorded)
        # The registration and its audit event commit in one transaction.
        version = await adapter.register_version(request, within=self.governance.audit_registration)
        # The index is the read path: make the new version visible at once.
        await self.sync.refresh_model(registry_id, request.model_name)
        return version

    async def stored_files(self, version: ModelVersion) -> list[StoredFile]:
        """A native version's files in the model store: a directory version's
        recorded files, else its one uploaded file; none for remote registries'
        versions (their registry holds the bytes) and artifacts kept elsewhere."""
        adapter = self.adapters.get(version.registry_id)
        if not isinstance(adapter, VersionRegistrar):
            return []
        recorded = await adapter.recorded_files(version.model_name, version.version)
        if recorded:
            return directory_files(self.artifacts, version.artifact_uri, recorded)
        return await version_files(
            self.artifacts, version.registry_id, version.model_name, version.artifact_uri
        )

    async def record_deployment(self, principal: Principal, report: DeploymentReport) -> ModelVersion:
        """A serving system reports traffic for a version of a registry that does not
        read its own serving state; the version is re-indexed with it at once. Needs
        write access to the version's team, as a registration does."""
        report = report.checked()
        access = self.access(principal)
        version: ModelVersion = await access.visible_version(self.index, report.version_uri)
        settings = self.settings.registry(version.registry_id)
        team = (settings.team if settings else None) or version.team
        if not access.can_write(team):
            raise Forbidden(
                f"{principal.name} is not a member of team {team or '(none)'}, which owns {version.uri}"
            )
        await self.serving.record(report)
        await self.sync.refresh_model(version.registry_id, version.model_name)
        return await self.index.get_version(version.uri) or version

    async def aclose(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for progress in self.upkeep:  # not finished: the next start does it again
            if progress.state in ("pending", "running"):
                progress.state = "stopped"
        for adapter in self.adapters.values():
            try:
                await adapter.aclose()
            except Exception:  # closing one adapter must not leak the others
                log.exception("closing adapter %s failed", adapter.registry_id)
        await self.lineage.aclose()
        await self.cache.aclose()
        if self._sync_lock is not None:
            self._sync_lock.close()  # releases the flock
        await self.database.aclose()
