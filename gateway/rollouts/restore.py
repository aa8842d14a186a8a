"""A rollback's traffic: endpoints the gateway's rollouts shifted are put back
on the split they had at ``asOf``.

For each endpoint that a rollout of the model started after ``asOf`` changed,
the split restored is that of the earliest such rollout's recorded previous
traffic (what the endpoint had when it started). An endpoint whose rollouts
since then all ended ROLLED_BACK or ABORTED is already back, and is left alone.

Planned when the rollback is requested (stored with the request it rides on,
in the request's own transaction); sent through the adapter's
``TrafficController`` only when that request is approved and applied, before
its stage is written (``Promotions.before_write``). Every endpoint is checked
before any is shifted: one that no longer has a variant the old split gives
traffic to fails the request with that reason, and no endpoint is changed.
An endpoint restored is marked so (``restored_at``): a retry after a failed
stage write only writes the stage. A crash between the shift and that mark
repeats the shift on retry, which is harmless (the same split again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.protocol import RegistryAdapter, TrafficController
from gateway.domain import Endpoint, TrafficShare, parse_uri, utcnow
from gateway.errors import Conflict
from gateway.governance import audit
from gateway.governance.promotions import PromotionRequest
from gateway.rollouts.records import ACTIVE, RolloutStatus, traffic_json, traffic_of
from gateway.serving.service import Serving
from gateway.store.database import Database
from gateway.store.tables import rollback_traffic as rt
from gateway.store.tables import rollouts as ro

log = logging.getLogger(__name__)

# Rollouts that left the endpoint as it was before them.
RETURNED = (RolloutStatus.ROLLED_BACK.value, RolloutStatus.ABORTED.value)


@dataclass(frozen=True)
class TrafficRestore:
    """One endpoint a rollback puts back on ``traffic`` (rollout ``rollout_id``'s previous split)."""

    registry_id: str
    endpoint_uri: str
    rollout_id: str
    traffic: tuple[TrafficShare, ...]
    as_of: datetime
    restored_at: datetime | None = None


def restored_split(endpoint: Endpoint, wanted: Sequence[TrafficShare]) -> list[TrafficShare]:
    """The split to send: ``wanted`` for the variants the endpoint still has, 0 % for
    variants added since. Raises Conflict if a variant ``wanted`` gives traffic is gone."""
    have = {s.variant for s in endpoint.traffic}
    missing = [s for s in wanted if s.variant not in have and s.percent > 0]
    if missing:
        gone = ", ".join(f"{s.variant} ({s.percent:g} %)" for s in missing)
        raise Conflict(
            f"endpoint {endpoint.name} no longer has variant {gone} that it served at the rollback's "
            "asOf: its traffic cannot be restored; add the variant back or roll back to a later time",
            field="asOf",
        )
    kept = [s for s in wanted if s.variant in have]
    named = {s.variant for s in kept}
    added = [TrafficShare(0.0, s.version_uri, s.variant) for s in endpoint.traffic if s.variant not in named]
    return kept + added


def _same(endpoint: Endpoint, shares: Sequence[TrafficShare]) -> bool:
    now = {s.variant: s.percent for s in endpoint.traffic}
    return all(abs(now.get(s.variant, -1.0) - s.percent) < 1e-6 for s in shares)


class TrafficRestorer:
    def __init__(
        self, database: Database, adapters: Mapping[str, RegistryAdapter], serving: Serving | None = None
    ):
        self.db = database
        self.adapters = adapters
        self.serving = serving

    def _controller(self, registry_id: str) -> TrafficController:
        adapter = self.adapters.get(registry_id)
        if not isinstance(adapter, TrafficController):
            raise Conflict(
                f"registry {registry_id!r} is no longer configured with endpoint traffic control: "
                "the traffic its rollouts shifted cannot be restored",
                field="modelUri",
            )
        return adapter

    async def plan(self, model_uri: str, as_of: datetime) -> list[TrafficRestore]:
        """The endpoints to restore for a rollback of ``model_uri`` to ``as_of``,
        checked against each endpoint now (Conflict if one cannot be restored or a
        rollout of the model is still in progress)."""
        registry_id = parse_uri(model_uri).registry_id
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(ro)
                    .where(
                        ro.c.registry_id == registry_id,
                        ro.c.version_uri.startswith(f"{model_uri}/", autoescape=True),
                    )
                    .order_by(ro.c.started_at, ro.c.id)
                )
            ).all()
        for r in rows:
            if r.status in ACTIVE:
                raise Conflict(
                    f"rollout {r.id} of {r.version_uri} is {r.status}: abort it or let it finish "
                    "before rolling back",
                    field="modelUri",
                )
        since: dict[str, list[Any]] = {}
        for r in rows:
            if r.started_at is not None and r.started_at > as_of and r.previous_traffic:
                since.setdefault(r.endpoint_uri, []).append(r)
        plans = []
        for endpoint_uri, shifted in since.items():
            if all(r.status in RETURNED for r in shifted):
                continue
            first = shifted[0]
            wanted = tuple(traffic_of(first.previous_traffic))
            current = await self._controller(registry_id).endpoint_traffic(endpoint_uri)
            split = restored_split(current, wanted)
            if _same(current, split):
                continue
            plans.append(TrafficRestore(registry_id, endpoint_uri, first.id, wanted, as_of))
        return plans

    @staticmethod
    async def attach(conn: AsyncConnection, promotion_id: str, plans: Sequence[TrafficRestore]) -> None:
        """Store the plans with the request they ride on (in its transaction)."""
        if plans:
            await conn.execute(
                rt.insert(),
                [
                    {
                        "promotion_id": promotion_id,
                        "endpoint_uri": p.endpoint_uri,
                        "registry_id": p.registry_id,
                        "rollout_id": p.rollout_id,
                        "as_of": p.as_of,
                    }
                    for p in plans
                ],
            )

    async def planned(self, promotion_id: str) -> list[TrafficRestore]:
        """What a request restores when applied (or did), with the split from its rollout."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(rt, ro.c.previous_traffic)
                    .join(ro, ro.c.id == rt.c.rollout_id)
                    .where(rt.c.promotion_id == promotion_id)
                    .order_by(rt.c.endpoint_uri)
                )
            ).all()
        return [
            TrafficRestore(
                r.registry_id,
                r.endpoint_uri,
                r.rollout_id,
                tuple(traffic_of(r.previous_traffic)),
                r.as_of,
                r.restored_at,
            )
            for r in rows
        ]

    async def before_write(self, request: PromotionRequest) -> None:
        """The ``Promotions.before_write`` hook: restore the request's endpoints,
        all checked first. A GatewayError fails the request with its message."""
        plans = [p for p in await self.planned(request.id) if p.restored_at is None]
        if not plans:
            return
        sends = []
        for p in plans:  # check every endpoint before shifting any
            controller = self._controller(p.registry_id)
            current = await controller.endpoint_traffic(p.endpoint_uri)
            sends.append((p, controller, current, restored_split(current, p.traffic)))
        for p, controller, current, split in sends:
            now = await controller.set_traffic(p.endpoint_uri, split)
            async with self.db.write() as conn:
                await conn.execute(
                    update(rt)
                    .where(rt.c.promotion_id == request.id, rt.c.endpoint_uri == p.endpoint_uri)
                    .values(restored_at=utcnow())
                )
                await audit.append(
                    conn,
                    "rollback.traffic_restored",
                    request.requested_by,
                    request.version_uri,
                    {
                        "requestId": request.id,
                        "endpoint": p.endpoint_uri,
                        "rolloutId": p.rollout_id,
                        "asOf": p.as_of.isoformat(),
                        "previousTraffic": traffic_json(current.traffic),
                        "restoredTraffic": traffic_json(now.traffic),
                    },
                )
        if self.serving is not None:  # the serving state shows it before the stage write re-indexes
            for registry_id in {p.registry_id for p in plans}:
                await self.serving.refresh_registry(registry_id)
