"""The write-through of a promotion: a claimed request's stage written to its
registry with a ``PromotionContext`` (who, why, approvals, and for registries in
the gateway's database the hooks that commit the outcome in the stage write's
transaction), and the outcome recorded: APPLIED, FAILED or BLOCKED, with the
stage history and audit events. The workflow that decides when to write is
gateway.governance.promotions."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.protocol import PromotionContext
from gateway.domain import ModelVersion, Stage, utcnow
from gateway.errors import GatewayError
from gateway.governance import audit
from gateway.governance.evaluation import Evaluation
from gateway.governance.promotion_requests import (
    BeforeWrite,
    PromotionParts,
    PromotionRequest,
    PromotionStatus,
)
from gateway.serving import history
from gateway.store.tables import promotion_requests as pr

log = logging.getLogger("gateway.governance.promotions")  # where operators look for promotions


class WriteThrough:
    def __init__(self, parts: PromotionParts, before_write: list[BeforeWrite]):
        self.db = parts.database
        self.index = parts.index
        self.adapters = parts.adapters
        self.sync = parts.sync
        self.judge = parts.judge
        # A rollback's traffic restore (gateway.rollouts.restore) waits for the write-through.
        self.before_write = before_write

    async def apply(self, request: PromotionRequest) -> None:
        """Write a claimed request's stage to its registry and record the outcome."""
        version = await self.index.get_version(request.version_uri)
        if version is None:
            await self._record_failed(request, "the version is no longer in the catalogue")
            return
        evaluation = await self.judge(version, request.target_stage)
        if evaluation.errors:  # the version changed since the request: check again before writing
            await self._record_blocked(request, evaluation)
            return
        adapter = self.adapters.get(request.registry_id)
        if adapter is None:
            await self._record_failed(request, f"registry {request.registry_id!r} is no longer configured")
            return
        try:
            for hook in self.before_write:
                await hook(request)
            demotions: list[ModelVersion] = []
            recorded = False

            async def demoted(conn: AsyncConnection, other: ModelVersion) -> None:
                demotions.append(other)

            async def within(conn: AsyncConnection, updated: ModelVersion) -> None:
                nonlocal recorded
                await self._record_applied(conn, request, updated, demotions)
                recorded = True

            context = PromotionContext(
                request.requested_by,
                reason=request.reason,
                approvals=request.approvals,
                request_id=request.id,
                within=within,
                demoted=demoted,
            )
            updated = await adapter.set_stage(version, request.target_stage, context)
            if not recorded:  # a registry outside the gateway's database: record after the write
                async with self.db.write() as conn:
                    await self._record_applied(conn, request, updated)
        except GatewayError as exc:
            await self._record_failed(request, exc.message)
            return
        except Exception as exc:  # an adapter bug must not leave the request claimed forever
            log.exception("write-through of promotion %s failed", request.id)
            await self._record_failed(request, f"internal error: {type(exc).__name__}")
            return
        try:
            await self.sync.refresh_model(version.registry_id, version.model_name)
        except GatewayError as exc:  # applied all the same; the next sync catches up
            log.warning("refresh after promotion %s failed: %s", request.id, exc.message)

    async def _record_applied(
        self,
        conn: AsyncConnection,
        request: PromotionRequest,
        updated: ModelVersion,
        demotions: Sequence[ModelVersion] = (),
    ) -> None:
        """The request's outcome, with a stage-history row and a ``stage.demoted``
        event for each version the write moved out of PRODUCTION (``demotions``:
        reported by registries in the gateway's database; a remote registry's
        show up as ``stage.synced`` at the refresh that follows)."""
        now = utcnow()
        source = history.ROLLOUT if request.held else history.PROMOTION
        changes = [(request.version_uri, request.from_stage, request.target_stage)]
        changes += [(d.uri, Stage.PRODUCTION, d.stage) for d in demotions]
        for uri, before, after in changes:
            if before is not after:  # a re-promotion that resolves a conflict changes only the others
                await history.record_change(
                    conn, uri, before, after, principal=request.requested_by, source=source, at=now
                )
        await conn.execute(
            update(pr)
            .where(pr.c.id == request.id)
            .values(
                status=PromotionStatus.APPLIED.value,
                pending_key=None,
                error=None,
                attempts=request.attempts + 1,
                claimed_by=None,
                claimed_at=None,
                updated_at=now,
            )
        )
        applied = audit.NewEvent(
            "promotion.applied",
            request.requested_by,
            request.version_uri,
            {
                "requestId": request.id,
                "from": request.from_stage.value,
                "to": request.target_stage.value,
                "registry": request.registry_id,
                "nativeStage": updated.native_stage,
                "approvals": [{"principal": a.principal, "role": a.role} for a in request.approvals],
                "attempt": request.attempts + 1,
            },
        )
        demoted = [
            audit.NewEvent(
                "stage.demoted",
                request.requested_by,
                d.uri,
                {
                    "requestId": request.id,
                    "from": Stage.PRODUCTION.value,
                    "to": d.stage.value,
                    "registry": request.registry_id,
                    "nativeStage": d.native_stage,
                    "supersededBy": request.version_uri,
                },
            )
            for d in demotions
        ]
        await audit.append_many(conn, [applied, *demoted])

    async def _record_failed(self, request: PromotionRequest, error: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(pr)
                .where(pr.c.id == request.id)
                .values(
                    status=PromotionStatus.FAILED.value,
                    error=error,
                    attempts=request.attempts + 1,
                    claimed_by=None,
                    claimed_at=None,
                    updated_at=utcnow(),
                )
            )
            await audit.append(
                conn,
                "promotion.failed",
                request.requested_by,
                request.version_uri,
                {
                    "requestId": request.id,
                    "to": request.target_stage.value,
                    "error": error,
                    "attempt": request.attempts + 1,
                },
            )

    async def _record_blocked(self, request: PromotionRequest, evaluation: Evaluation) -> None:
        violations = [v.as_dict() for v in evaluation.violations]
        async with self.db.write() as conn:
            await conn.execute(
                update(pr)
                .where(pr.c.id == request.id)
                .values(
                    status=PromotionStatus.BLOCKED.value,
                    violations=violations,
                    pending_key=None,
                    claimed_by=None,
                    claimed_at=None,
                    updated_at=utcnow(),
                )
            )
            await audit.append(
                conn,
                "promotion.blocked",
                audit.SYSTEM,
                request.version_uri,
                {"requestId": request.id, "to": request.target_stage.value, "violations": violations},
            )
