"""The rollout engine: every rollout's state lives in the store, so any replica
can drive it and a restarted gateway resumes it.

    startRollout ─▶ PENDING_APPROVAL (a held PRODUCTION promotion request: policy
        │            check and approvals as for any promotion; nothing written yet)
        ├▶ FAILED    the request was BLOCKED or REJECTED
        └▶ RUNNING   approved: for each step, shift the candidate to its percentage,
             │        watch it ``stepSeconds``, read its error rate (the serving
             │        system's metrics) and judge it against ``maxErrorRate``
             ├▶ ROLLED_BACK  a step failed: the traffic the endpoint had before is
             │               restored, the request withdrawn, an alert sent
             ├▶ ABORTED      abortRollout: the same restore, at once
             └▶ SUCCEEDED    the last step (100 %) passed: PRODUCTION written through
                             the promotion's apply path (FAILED if the registry refuses)

One driver per rollout: a lease in its row (owner, expiry). A pass takes or
renews it with one conditional UPDATE (free, already ours, or expired), and
every state change is written with ``WHERE lease_owner = <us>``: a replica that
lost its lease while a remote call was slow changes nothing. A replica that dies
(``kill -9``) leaves its lease to expire; the next one takes it over and picks
up from the stored state.

Crash safety: a traffic shift is recorded as intended (``step_started_at`` NULL)
before it is sent and as done after, and setting a split twice is harmless, so
a resumed rollout repeats an unconfirmed shift. A decision to restore traffic is
stored (``stop_requested``) before the restore is sent, so a crash in between
restores on resume. A step's watch time counts from its confirmed shift.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.protocol import CandidateDeployer, ErrorRateReader, RegistryAdapter, TrafficController
from gateway.auth.principal import Principal
from gateway.domain import Endpoint, Stage, TrafficShare, parse_uri, utcnow
from gateway.errors import BadInput, Conflict, Forbidden, GatewayError, NotFound
from gateway.governance import audit
from gateway.governance.promotions import PromotionRequest, Promotions, PromotionStatus
from gateway.rollouts.alerts import AlertSender
from gateway.rollouts.prometheus import PrometheusGate
from gateway.rollouts.records import (
    ACTIVE,
    Rollout,
    RolloutStatus,
    check_plan,
    rollout_of,
    split,
    traffic_json,
    traffic_of,
)
from gateway.rollouts.restore import TrafficRestorer
from gateway.store.database import Database, ReadConnection
from gateway.store.tables import rollout_steps as rs
from gateway.store.tables import rollouts as ro

log = logging.getLogger(__name__)
MAX_LIST = 500
Clock = Callable[[], datetime]
# An endpoint as a rollout names it: (registry id, endpoint URI).
EndpointKey = tuple[str, str]


def absent_rollout(rollout_id: str) -> NotFound:
    """The answer for an unknown rollout id, and for a rollout hidden from the caller."""
    return NotFound(f"no rollout {rollout_id!r}", field="id")


class LeaseLost(Exception):
    """Another replica took the rollout over; this one stops touching it."""


class RolloutEngine:
    def __init__(
        self,
        database: Database,
        adapters: Mapping[str, RegistryAdapter],
        promotions: Promotions,
        *,
        alerts: AlertSender | None = None,
        lease_seconds: float = 60.0,
        poll_seconds: float = 5.0,
        owner: str | None = None,
        clock: Clock = utcnow,
        prometheus: PrometheusGate | None = None,
        prometheus_registries: Sequence[str] = (),
        restorer: TrafficRestorer | None = None,
    ):
        self.db = database
        self.adapters = adapters
        self.promotions = promotions
        self.alerts = alerts or AlertSender(None, None)
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.owner = owner or f"replica-{uuid.uuid4().hex[:12]}"
        self.clock = clock
        self.prometheus = prometheus
        self.prometheus_registries = frozenset(prometheus_registries)
        # What a rollback puts back of the traffic these rollouts shifted.
        self.restorer = restorer or TrafficRestorer(database, adapters)

    # --- reads --------------------------------------------------------------------

    async def _steps(self, conn: ReadConnection, ids: Sequence[str]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {i: [] for i in ids}
        if ids:
            for row in await conn.execute(select(rs).where(rs.c.rollout_id.in_(list(ids)))):
                found[row.rollout_id].append(row)
        return found

    async def get(self, rollout_id: str) -> Rollout:
        async with self.db.read() as conn:
            row = (await conn.execute(select(ro).where(ro.c.id == rollout_id))).first()
            if row is None:
                raise absent_rollout(rollout_id)
            steps = await self._steps(conn, [row.id])
        return rollout_of(row, steps[row.id])

    async def find(self, status: str | None = None, limit: int = 100) -> list[Rollout]:
        """Newest first."""
        query = select(ro)
        if status is not None:
            if status not in RolloutStatus.__members__:
                raise BadInput(
                    f"unknown status {status!r} (one of {', '.join(RolloutStatus.__members__)})",
                    field="status",
                )
            query = query.where(ro.c.status == status)
        query = query.order_by(ro.c.created_at.desc(), ro.c.id).limit(max(1, min(limit, MAX_LIST)))
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            steps = await self._steps(conn, [r.id for r in rows])
        return [rollout_of(r, steps[r.id]) for r in rows]

    async def _busy(self, registry_id: str, endpoint_uri: str) -> str | None:
        """The id of the endpoint's rollout in progress, if it has one."""
        async with self.db.read() as conn:
            found = (
                await conn.execute(
                    select(ro.c.id).where(
                        ro.c.registry_id == registry_id,
                        ro.c.endpoint_uri == endpoint_uri,
                        ro.c.status.in_(ACTIVE),
                    )
                )
            ).first()
        return None if found is None else str(found.id)

    async def endpoint_now(self, rollout: Rollout) -> Endpoint:
        """The rollout's endpoint as its serving system reports it now."""
        return await self._controller(rollout.registry_id).endpoint_traffic(rollout.endpoint_uri)

    async def endpoints_now(self, keys: Sequence[EndpointKey]) -> list[Endpoint | GatewayError]:
        """Each (registry, endpoint URI) as its serving system reports it now, read
        once per distinct key and concurrently; a failed read is its error, in place."""

        async def one(key: EndpointKey) -> Endpoint | GatewayError:
            try:
                return await self._controller(key[0]).endpoint_traffic(key[1])
            except GatewayError as exc:
                return exc

        distinct = list(dict.fromkeys(keys))
        read = dict(zip(distinct, await asyncio.gather(*(one(k) for k in distinct)), strict=True))
        return [read[k] for k in keys]

    def _controller(self, registry_id: str) -> TrafficController:
        adapter = self.adapters.get(registry_id)
        if adapter is None:
            raise NotFound(f"no registry {registry_id!r}", field="uri")
        if not isinstance(adapter, TrafficController):
            raise BadInput(
                f"registry {registry_id!r} ({adapter.kind}) cannot shift endpoint traffic: canary "
                "rollouts need a SageMaker or Vertex AI registry",
                field="endpoint",
            )
        if self._gated_by_prometheus(registry_id) is None and not isinstance(adapter, ErrorRateReader):
            raise BadInput(
                f"registry {registry_id!r} ({adapter.kind}) reads no error rate: configure "
                "[rollouts] prometheus_url and prometheus_error_rate_query",
                field="endpoint",
            )
        return adapter

    def _gated_by_prometheus(self, registry_id: str) -> PrometheusGate | None:
        if self.prometheus is None:
            return None
        if self.prometheus_registries:
            return self.prometheus if registry_id in self.prometheus_registries else None
        return None if isinstance(self.adapters.get(registry_id), ErrorRateReader) else self.prometheus

    async def _error_rate(self, row: Any, start: datetime, end: datetime) -> float | None:
        """The candidate's error rate over a step, from Prometheus or the serving system."""
        gate = self._gated_by_prometheus(row.registry_id)
        if gate is not None:
            return await gate.error_rate(row.endpoint_uri, row.candidate_variant, row.version_uri, start, end)
        adapter = self._controller(row.registry_id)
        assert isinstance(adapter, ErrorRateReader)
        return await adapter.error_rate(row.endpoint_uri, row.candidate_variant, start, end)

    # --- commands -----------------------------------------------------------------

    async def start(
        self,
        principal: Principal,
        uri: str,
        endpoint: str,
        *,
        steps: Sequence[float] | None = None,
        step_seconds: int | None = None,
        max_error_rate: float | None = None,
        reason: str | None = None,
    ) -> Rollout:
        """Check the plan and the endpoint, open the held PRODUCTION promotion
        request, and store the rollout (driven by the next pass of a replica)."""
        plan, seconds, rate = check_plan(steps, step_seconds, max_error_rate)
        try:
            parsed = parse_uri(uri)
        except ValueError as exc:
            raise BadInput(str(exc), field="uri") from None
        if parsed.version is None:
            raise BadInput(f"{uri} names a model: roll out one of its versions", field="uri")
        if not endpoint.strip():
            raise BadInput("endpoint must name an endpoint (Endpoint.uri)", field="endpoint")
        # Who may roll it out is settled before the serving system is asked anything.
        await self.promotions.writable_version(principal, uri)
        controller = self._controller(parsed.registry_id)
        current = await controller.endpoint_traffic(endpoint)
        if not isinstance(controller, CandidateDeployer) or _serves(current, uri):
            self._candidate(current, uri)  # fails now, not later, if the endpoint cannot serve it
        if (busy := await self._busy(parsed.registry_id, current.uri)) is not None:
            raise _endpoint_busy(current, busy)
        rollout_id = uuid.uuid4().hex
        now = self.clock()
        row = {
            "id": rollout_id,
            "version_uri": uri,
            "registry_id": parsed.registry_id,
            "endpoint_uri": current.uri,
            "steps": list(plan),
            "step_seconds": seconds,
            "max_error_rate": rate,
            "step_index": -1,
            "current_percent": _share_of(current, uri),
            "reason": reason,
            "requested_by": principal.name,
            "created_at": now,
            "updated_at": now,
        }

        async def store(
            conn: AsyncConnection, request_id: str, status: RolloutStatus, outcome: str | None
        ) -> None:
            await conn.execute(
                ro.insert().values(
                    **row,
                    promotion_id=request_id,
                    status=status.value,
                    outcome=outcome,
                    finished_at=now if status is RolloutStatus.FAILED else None,
                )
            )
            await audit.append(
                conn,
                "rollout.requested",
                principal.name,
                uri,
                {
                    "rolloutId": rollout_id,
                    "endpoint": current.uri,
                    "steps": list(plan),
                    "stepSeconds": seconds,
                    "maxErrorRate": rate,
                    "promotionId": request_id,
                    "status": status.value,
                    "reason": reason,
                },
            )

        async def claim_endpoint(conn: AsyncConnection, request_id: str, opened: PromotionStatus) -> None:
            """In the request's transaction: an open request and its rollout are stored
            together, or neither is (the endpoint's unique index refused the rollout)."""
            if opened is not PromotionStatus.PENDING:
                return  # BLOCKED: the rollout is stored FAILED below, with the request's outcome
            try:
                await store(conn, request_id, RolloutStatus.PENDING_APPROVAL, None)
            except IntegrityError:
                raise _EndpointTaken from None

        try:
            request = await self.promotions.request(
                principal, uri, Stage.PRODUCTION, reason, hold=True, on_open=claim_endpoint
            )
        except _EndpointTaken:
            # Another start won the race (here or on another replica) after the check above.
            raise _endpoint_busy(current, await self._busy(parsed.registry_id, current.uri)) from None
        if request.status is PromotionStatus.BLOCKED:
            async with self.db.write() as conn:
                await store(conn, request.id, RolloutStatus.FAILED, _promotion_outcome(request))
        return await self.get(rollout_id)

    async def abort(self, principal: Principal, rollout_id: str, reason: str) -> Rollout:
        """Stop a rollout and return the endpoint's traffic to what it was. Done
        now when this replica can take the rollout's lease, else by its driver on
        its next pass."""
        if not reason or not reason.strip():
            raise BadInput("an abort needs a reason", field="reason")
        rollout = await self.get(rollout_id)
        version = await self.promotions.index.get_version(rollout.version_uri)
        team = await self.promotions.team_of(version) if version else None
        access = self.promotions.access(principal)
        await access.require_visible_subject(
            self.promotions.index,
            rollout.version_uri,
            absent_rollout(rollout_id),
            requested_by=rollout.requested_by,
        )
        if principal.name != rollout.requested_by and not access.can_write(team):
            raise Forbidden(f"{principal.name} may not abort a rollout of team {team or '(none)'}")
        async with self.db.write() as conn:
            result = await conn.execute(
                update(ro)
                .where(ro.c.id == rollout_id, ro.c.status.in_(ACTIVE), ro.c.stop_requested.is_(None))
                .values(
                    stop_requested=RolloutStatus.ABORTED.value,
                    outcome=f"aborted by {principal.name}: {reason}",
                    updated_at=self.clock(),
                )
            )
            if result.rowcount != 1:
                raise Conflict(f"rollout {rollout_id} is {rollout.status.value}: it can no longer be aborted")
            await audit.append(
                conn,
                "rollout.abort_requested",
                principal.name,
                rollout.version_uri,
                {"rolloutId": rollout_id, "reason": reason},
            )
        await self.drive(rollout_id)
        return await self.get(rollout_id)

    # --- driving ------------------------------------------------------------------

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # one bad pass must not end the loop
                log.exception("rollout pass failed")
            await asyncio.sleep(self.poll_seconds)

    async def tick(self) -> list[str]:
        """One pass: drive every active rollout whose lease this replica can hold.
        Returns the ids it drove."""
        now = self.clock()
        async with self.db.read() as conn:
            ids = [
                r.id
                for r in await conn.execute(
                    select(ro.c.id)
                    .where(ro.c.status.in_(ACTIVE), self._lease_free(now))
                    .order_by(ro.c.created_at)
                )
            ]
        driven = []
        for rollout_id in ids:
            if await self.drive(rollout_id):
                driven.append(rollout_id)
        return driven

    def _lease_free(self, now: datetime) -> Any:
        return or_(ro.c.lease_owner.is_(None), ro.c.lease_owner == self.owner, ro.c.lease_expires_at < now)

    async def _take_lease(self, rollout_id: str) -> bool:
        now = self.clock()
        async with self.db.write() as conn:
            result = await conn.execute(
                update(ro)
                .where(ro.c.id == rollout_id, ro.c.status.in_(ACTIVE), self._lease_free(now))
                .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
            )
        return result.rowcount == 1

    async def drive(self, rollout_id: str) -> bool:
        """Advance one rollout as far as it can go now; False if another replica holds it."""
        if not await self._take_lease(rollout_id):
            return False
        try:
            await self._advance(rollout_id)
        except LeaseLost:
            log.warning("rollout %s: lease lost to another replica", rollout_id)
        except GatewayError as exc:  # the serving system failed: try again next pass
            log.warning("rollout %s: %s (will retry)", rollout_id, exc.message)
        return True

    async def _row(self, rollout_id: str) -> Any:
        async with self.db.read() as conn:
            return (await conn.execute(select(ro).where(ro.c.id == rollout_id))).one()

    async def _write(
        self,
        rollout_id: str,
        values: Mapping[str, Any],
        events: Sequence[audit.NewEvent] = (),
        *,
        step: Mapping[str, Any] | None = None,
        new_step: Mapping[str, Any] | None = None,
    ) -> None:
        """One state change, only while this replica holds the lease, with its events."""
        now = self.clock()
        async with self.db.write() as conn:
            result = await conn.execute(
                update(ro)
                .where(ro.c.id == rollout_id, ro.c.lease_owner == self.owner)
                .values(**{"updated_at": now, "lease_expires_at": now + self.lease, **values})
            )
            if result.rowcount != 1:
                raise LeaseLost(rollout_id)
            if step is not None:
                position = step["position"]
                await conn.execute(
                    update(rs)
                    .where(rs.c.rollout_id == rollout_id, rs.c.position == position)
                    .values(**{k: v for k, v in step.items() if k != "position"})
                )
            if new_step is not None:
                await _upsert_step(conn, rollout_id, new_step)
            # Which replica did it: after a takeover the log shows the hand-over.
            await audit.append_many(
                conn,
                [
                    audit.NewEvent(e.action, e.principal, e.subject, {**e.details, "driver": self.owner})
                    for e in events
                ],
            )

    async def _advance(self, rollout_id: str) -> None:
        for _ in range(len(await self._plan(rollout_id)) * 3 + 3):  # bounded: each turn moves one state
            row = await self._row(rollout_id)
            if row.status not in ACTIVE:
                return
            if row.stop_requested:
                await self._restore(row)
                return
            if row.status == RolloutStatus.PENDING_APPROVAL.value:
                if not await self._begin(row):
                    return
                continue
            if row.step_started_at is None:
                await self._shift(row)
                continue
            if not await self._judge(row):
                return

    async def _plan(self, rollout_id: str) -> list[float]:
        return list((await self._row(rollout_id)).steps)

    async def _begin(self, row: Any) -> bool:
        """PENDING_APPROVAL: start once the promotion is approved (True), end if it was refused."""
        request = await self.promotions.get(row.promotion_id)
        if request.status in (PromotionStatus.BLOCKED, PromotionStatus.REJECTED):
            outcome = _promotion_outcome(request)
            await self._write(
                row.id,
                {
                    "status": RolloutStatus.FAILED.value,
                    "outcome": outcome,
                    "finished_at": self.clock(),
                    "lease_owner": None,
                },
                [_event("rollout.failed", row, {"outcome": outcome})],
            )
            return False
        if request.status is not PromotionStatus.PENDING or request.missing_roles:
            return False
        controller = self._controller(row.registry_id)
        current = await controller.endpoint_traffic(row.endpoint_uri)
        if not _serves(current, row.version_uri) and isinstance(controller, CandidateDeployer):
            # Not on the endpoint yet: add it with no traffic. Re-read on resume, so never added twice.
            version = await self.promotions.index.get_version(row.version_uri)
            if version is None:
                raise NotFound(f"{row.version_uri} is no longer in the catalogue")
            current = await controller.deploy_candidate(row.endpoint_uri, version)
        candidate = self._candidate(current, row.version_uri)
        previous = traffic_json(current.traffic)
        await self._write(
            row.id,
            {
                "status": RolloutStatus.RUNNING.value,
                "candidate_variant": candidate,
                "previous_traffic": previous,
                "step_index": 0,
                "step_started_at": None,
                "started_at": self.clock(),
            },
            [
                _event(
                    "rollout.started",
                    row,
                    {
                        "candidateVariant": candidate,
                        "previousTraffic": previous,
                        "approvals": [a.principal for a in request.approvals],
                    },
                )
            ],
        )
        return True

    async def _shift(self, row: Any) -> None:
        """Send the current step's split (again, if a crash left it unconfirmed)."""
        percent = float(row.steps[row.step_index])
        shares = split(traffic_of(row.previous_traffic), row.candidate_variant, percent)
        await self._controller(row.registry_id).set_traffic(row.endpoint_uri, shares)
        now = self.clock()
        await self._write(
            row.id,
            {"step_started_at": now, "current_percent": percent},
            [
                _event(
                    "rollout.step",
                    row,
                    {
                        "step": row.step_index + 1,
                        "percent": percent,
                        "phase": "shifted",
                        "traffic": traffic_json(shares),
                    },
                )
            ],
            new_step={"position": row.step_index, "percent": percent, "started_at": now},
        )

    async def _judge(self, row: Any) -> bool:
        """Once the step's watch time is over, read and judge its error rate.
        True if the rollout moved on (more to do now), False to wait."""
        now = self.clock()
        percent = float(row.steps[row.step_index])
        last = row.step_index == len(row.steps) - 1
        async with self.db.read() as conn:
            step = (
                await conn.execute(
                    select(rs).where(rs.c.rollout_id == row.id, rs.c.position == row.step_index)
                )
            ).first()
        if step is not None and step.passed and last:
            await self._complete(row)  # judged before a crash: only the write-through is left
            return False
        if now < row.step_started_at + timedelta(seconds=row.step_seconds):
            return False
        rate = await self._error_rate(row, row.step_started_at, now)
        passed = rate is None or rate <= row.max_error_rate
        result = {"position": row.step_index, "finished_at": now, "error_rate": rate, "passed": passed}
        details = {
            "step": row.step_index + 1,
            "percent": percent,
            "phase": "judged",
            "errorRate": rate,
            "maxErrorRate": row.max_error_rate,
            "passed": passed,
            **({} if rate is not None else {"note": "no traffic reached the candidate"}),
        }
        if not passed:
            outcome = (
                f"error rate {rate:.4f} above {row.max_error_rate:.4f} at step {row.step_index + 1} "
                f"({percent:g} %)"
            )
            await self._write(
                row.id,
                {"stop_requested": RolloutStatus.ROLLED_BACK.value, "outcome": outcome},
                [_event("rollout.step", row, details)],
                step=result,
            )
            return True  # the next turn restores the traffic
        if last:
            await self._write(row.id, {}, [_event("rollout.step", row, details)], step=result)
            await self._complete(await self._row(row.id))
            return False
        await self._write(
            row.id,
            {"step_index": row.step_index + 1, "step_started_at": None},
            [_event("rollout.step", row, details)],
            step=result,
        )
        return True

    async def _complete(self, row: Any) -> None:
        """All traffic on the candidate and healthy: write PRODUCTION through."""
        request = await self.promotions.get(row.promotion_id)
        if request.status is PromotionStatus.PENDING and request.held and not request.applying:
            request = await self.promotions.apply_held(row.promotion_id)
        if request.status is PromotionStatus.APPLIED:
            status, outcome = (
                RolloutStatus.SUCCEEDED,
                "all traffic on the candidate; PRODUCTION written through",
            )
        elif request.status is PromotionStatus.PENDING:
            return  # the write-through is under way elsewhere: look again next pass
        else:
            status = RolloutStatus.FAILED
            outcome = (
                "all traffic is on the candidate but the PRODUCTION write-through is "
                f"{request.status.value}: "
                f"{request.error or _promotion_outcome(request)} (retry promotion {request.id})"
            )
        await self._write(
            row.id,
            {
                "status": status.value,
                "outcome": outcome,
                "finished_at": self.clock(),
                "lease_owner": None,
                "lease_expires_at": None,
            },
            [_event(f"rollout.{status.value.lower()}", row, {"outcome": outcome, "promotionId": request.id})],
        )

    async def _restore(self, row: Any) -> None:
        """Return the endpoint to its traffic before the rollout, then record why."""
        status = RolloutStatus(row.stop_requested)
        restored = traffic_of(row.previous_traffic)
        if restored and row.status == RolloutStatus.RUNNING.value:
            await self._controller(row.registry_id).set_traffic(row.endpoint_uri, restored)
        if row.promotion_id:
            await self.promotions.withdraw(row.promotion_id, f"rollout {status.value}: {row.outcome}")
        await self._write(
            row.id,
            {
                "status": status.value,
                "finished_at": self.clock(),
                "lease_owner": None,
                "lease_expires_at": None,
                "current_percent": _percent_of(restored, row.candidate_variant),
            },
            [
                _event(
                    f"rollout.{status.value.lower()}",
                    row,
                    {"outcome": row.outcome, "restoredTraffic": traffic_json(restored)},
                )
            ],
        )
        if status is RolloutStatus.ROLLED_BACK:
            await self._alert(row, restored)

    async def _alert(self, row: Any, restored: Sequence[TrafficShare]) -> None:
        payload = {
            "rolloutId": row.id,
            "version": row.version_uri,
            "endpoint": row.endpoint_uri,
            "status": RolloutStatus.ROLLED_BACK.value,
            "reason": row.outcome,
            "restoredTraffic": traffic_json(restored),
        }
        delivery = await self.alerts.send("rollout.rolled_back", payload)
        if delivery is None:
            return
        async with self.db.write() as conn:
            await audit.append(
                conn,
                "rollout.alerted",
                audit.SYSTEM,
                row.version_uri,
                {"rolloutId": row.id, "delivered": delivery.delivered, "detail": delivery.detail},
            )

    @staticmethod
    def _candidate(endpoint: Endpoint, uri: str) -> str:
        """The variant that serves ``uri`` on ``endpoint``."""
        found = [s.variant for s in endpoint.traffic if s.version_uri == uri and s.variant]
        if not found:
            raise BadInput(
                f"endpoint {endpoint.name} has no variant serving {uri}: add the candidate as a variant "
                "(weight 0) first; modelgate shifts traffic between existing variants",
                field="endpoint",
            )
        if len(found) > 1:
            raise BadInput(f"endpoint {endpoint.name} serves {uri} from several variants", field="endpoint")
        if len(endpoint.traffic) < 2:
            raise BadInput(f"endpoint {endpoint.name} has no other variant to shift from", field="endpoint")
        return found[0]


async def _upsert_step(conn: AsyncConnection, rollout_id: str, values: Mapping[str, Any]) -> None:
    result = await conn.execute(
        update(rs)
        .where(rs.c.rollout_id == rollout_id, rs.c.position == values["position"])
        .values(
            percent=values["percent"],
            started_at=values["started_at"],
            finished_at=None,
            error_rate=None,
            passed=None,
        )
    )
    if result.rowcount == 0:
        await conn.execute(rs.insert().values(rollout_id=rollout_id, **values))


class _EndpointTaken(Exception):
    """The store refused a second rollout in progress on one endpoint."""


def _endpoint_busy(endpoint: Endpoint, rollout_id: str | None) -> Conflict:
    held = f" ({rollout_id})" if rollout_id else ""
    return Conflict(
        f"endpoint {endpoint.name} already has a rollout in progress{held}: abort it or wait for it to end",
        field="endpoint",
    )


def _event(action: str, row: Any, details: Mapping[str, Any]) -> audit.NewEvent:
    return audit.NewEvent(
        action, audit.SYSTEM, row.version_uri, {"rolloutId": row.id, "endpoint": row.endpoint_uri, **details}
    )


def _serves(endpoint: Endpoint, uri: str) -> bool:
    return any(s.version_uri == uri for s in endpoint.traffic)


def _share_of(endpoint: Endpoint, uri: str) -> float:
    return sum(s.percent for s in endpoint.traffic if s.version_uri == uri)


def _percent_of(shares: Sequence[TrafficShare], variant: str | None) -> float:
    return sum(s.percent for s in shares if s.variant == variant)


def _promotion_outcome(request: PromotionRequest) -> str:
    if request.status is PromotionStatus.BLOCKED:
        return "promotion to PRODUCTION blocked: " + "; ".join(
            v.message for v in request.violations if v.severity == "error"
        )
    if request.status is PromotionStatus.REJECTED and request.rejection is not None:
        return (
            f"promotion to PRODUCTION rejected by {request.rejection.principal}: {request.rejection.comment}"
        )
    return f"promotion to PRODUCTION is {request.status.value}"
