"""What serves what: endpoints read from registries that have them, traffic
reported by serving systems for the others, and the versions' ``deployments``.

Registries whose adapter is a ``ServingReader`` (SageMaker, Vertex AI, Kubeflow) are read
at the start of each sync pass; the version records the pass indexes carry
their deployments, so ``ModelVersion.deployments``, search and the built-in
compliance checks all see the same state, and a traffic change re-indexes the
versions it touches. Any other registry's serving is reported through
``record`` (``recordDeployment``, ``POST /deployments``), which re-indexes the
version's model at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from adapters.protocol import RegistryAdapter, ServingReader
from gateway.domain import Deployment, Endpoint, ModelVersion, TrafficShare, parse_uri, utcnow
from gateway.errors import BadInput, GatewayError
from gateway.serving import store
from gateway.store.database import Database

log = logging.getLogger(__name__)

DeploymentMap = Mapping[str, tuple[Deployment, ...]]


@dataclass(frozen=True)
class DeploymentReport:
    """A serving system's word: ``version_uri`` takes ``percent`` of ``endpoint``'s traffic."""

    version_uri: str
    endpoint: str
    percent: float | None
    variant: str | None = None
    status: str | None = None

    def checked(self) -> DeploymentReport:
        """Raises BadInput naming the field that is wrong."""
        try:
            parsed = parse_uri(self.version_uri)
        except ValueError as exc:
            raise BadInput(str(exc), field="uri") from None
        if parsed.version is None:
            raise BadInput(f"{self.version_uri} names a model: report the version that serves", field="uri")
        if not self.endpoint.strip() or len(self.endpoint) > 700:
            raise BadInput("endpoint must be a non-empty name of at most 700 characters", field="endpoint")
        if self.percent is not None and not 0.0 <= self.percent <= 100.0:
            raise BadInput(
                f"trafficPercent must be between 0 and 100, not {self.percent:g}", field="trafficPercent"
            )
        for name, value in (("variant", self.variant), ("status", self.status)):
            if value is not None and len(value) > (256 if name == "variant" else 64):
                raise BadInput(f"{name} is too long", field=name)
        return replace(self, endpoint=self.endpoint.strip())


def merged(version: ModelVersion, served: tuple[Deployment, ...]) -> ModelVersion:
    """The version with the serving state's deployments; the record's own (a Vertex
    DeployedModelRef, a registration's list) stay for endpoints the state lacks."""
    known = {d.endpoint for d in served}
    deployments = (*served, *(d for d in version.deployments if d.endpoint not in known))
    return version if deployments == version.deployments else replace(version, deployments=deployments)


class Serving:
    def __init__(self, database: Database, adapters: Mapping[str, RegistryAdapter]):
        self.db = database
        self.adapters = adapters

    def reads_serving(self, registry_id: str) -> bool:
        """Whether the registry's adapter reads serving state itself (a ``ServingReader``)."""
        return isinstance(self.adapters.get(registry_id), ServingReader)

    @property
    def serving_registries(self) -> frozenset[str]:
        return frozenset(rid for rid in self.adapters if self.reads_serving(rid))

    async def refresh_registry(self, registry_id: str) -> set[str] | None:
        """Read a ServingReader's endpoints into the store. Returns the model URIs
        whose deployments changed; None if the registry reads no serving state or
        the read failed (the last state read is kept, and logged)."""
        adapter = self.adapters.get(registry_id)
        if not isinstance(adapter, ServingReader):
            return None
        try:
            endpoints = await adapter.list_endpoints()
        except GatewayError as exc:
            log.warning(
                "registry %s: endpoints not read (%s); keeping the last ones", registry_id, exc.message
            )
            return None
        async with self.db.write() as conn:
            before = await store.deployments_by_version(conn, registry_id)
            await store.replace_registry_endpoints(conn, registry_id, endpoints, utcnow())
            after = await store.deployments_by_version(conn, registry_id)
        changed = {uri for uri in before.keys() | after.keys() if before.get(uri) != after.get(uri)}
        return {m for uri in changed if (m := store.model_of(uri))}

    async def deployments(self, registry_id: str, model_uris: Sequence[str] | None = None) -> DeploymentMap:
        async with self.db.read() as conn:
            return await store.deployments_by_version(conn, registry_id, model_uris)

    async def endpoints(self, registry_ids: Sequence[str] | None = None) -> list[Endpoint]:
        async with self.db.read() as conn:
            return await store.read_endpoints(conn, registry_ids)

    async def record(self, report: DeploymentReport) -> str:
        """Store a checked report for a registry that does not read its own serving
        state; returns the registry id (the caller re-indexes the version's model)."""
        report = report.checked()
        registry_id = parse_uri(report.version_uri).registry_id
        if registry_id not in self.adapters:
            raise BadInput(f"no registry {registry_id!r} is configured", field="uri")
        if self.reads_serving(registry_id):
            raise BadInput(
                f"registry {registry_id!r} reads its serving state from {self.adapters[registry_id].kind} "
                "endpoints at every sync; report deployments only for registries that do not",
                field="uri",
            )
        async with self.db.write() as conn:
            await store.put_reported_share(
                conn,
                registry_id,
                report.endpoint,
                TrafficShare(
                    percent=report.percent if report.percent is not None else 100.0,
                    version_uri=report.version_uri,
                    variant=report.variant,
                ),
                report.status,
                utcnow(),
            )
        return registry_id
