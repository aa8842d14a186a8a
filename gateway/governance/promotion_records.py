"""Promotion requests as stored: the rows of ``promotion_requests`` and
``promotion_approvals`` read as ``PromotionRequest`` values, and the two writes
every transition shares (claiming the write-through, ending a request as
REJECTED). The workflow that decides is gateway.governance.promotions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import Approval, Stage, utcnow
from gateway.errors import BadInput, NotFound
from gateway.governance import audit
from gateway.governance.evaluation import Violation
from gateway.governance.promotion_requests import PromotionRequest, PromotionStatus
from gateway.store.database import Database, ReadConnection
from gateway.store.sql import any_of
from gateway.store.tables import promotion_approvals as pa
from gateway.store.tables import promotion_requests as pr

STALE_CLAIM = timedelta(minutes=10)
MAX_LIST = 500


def _violations(raw: Any) -> tuple[Violation, ...]:
    return tuple(Violation(v["policy"], v["severity"], v["message"]) for v in raw or ())


def request_of(row: Row[Any], approvals: Sequence[Approval]) -> PromotionRequest:
    rejection = (
        Approval(row.rejected_by, row.rejected_role or "", row.rejected_at, row.rejection_comment)
        if row.rejected_by
        else None
    )
    return PromotionRequest(
        id=row.id,
        version_uri=row.version_uri,
        registry_id=row.registry_id,
        from_stage=Stage(row.from_stage),
        target_stage=Stage(row.target_stage),
        reason=row.reason,
        status=PromotionStatus(row.status),
        requested_by=row.requested_by,
        required_roles=tuple(row.required_roles or ()),
        approvals=tuple(approvals),
        violations=_violations(row.violations),
        error=row.error,
        attempts=row.attempts,
        applying=row.claimed_at is not None,
        rejection=rejection,
        created_at=row.created_at,
        updated_at=row.updated_at,
        held=bool(row.held),
    )


def _approval(row: Any) -> Approval:
    return Approval(principal=row.principal, role=row.role, at=row.at, comment=row.comment)


def absent_request(request_id: str) -> NotFound:
    """The answer for an unknown request id, and for a request hidden from the caller."""
    return NotFound(f"no promotion request {request_id!r}", field="requestId")


def pending_key(uri: str, stage: Stage) -> str:
    """At most one open request per version and target stage (a unique key)."""
    return f"{uri} {stage.value}"


class PromotionRecords:
    """Reads of requests and their approvals, and the shared writes."""

    def __init__(self, database: Database):
        self.db = database

    async def load(self, conn: ReadConnection, request_id: str, *, lock: bool = False) -> Row[Any]:
        """The request's row (locked for the transaction on PostgreSQL; SQLite
        serialises writers); NOT_FOUND when there is none."""
        query = select(pr).where(pr.c.id == request_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise absent_request(request_id)
        return row

    async def approvals(self, conn: ReadConnection, request_ids: Sequence[str]) -> dict[str, list[Approval]]:
        found: dict[str, list[Approval]] = {rid: [] for rid in request_ids}
        if request_ids:
            rows = await conn.execute(select(pa).where(pa.c.request_id.in_(request_ids)).order_by(pa.c.id))
            for row in rows:
                found[row.request_id].append(_approval(row))
        return found

    async def get(self, request_id: str) -> PromotionRequest:
        async with self.db.read() as conn:
            row = await self.load(conn, request_id)
            approvals = await self.approvals(conn, [row.id])
        return request_of(row, approvals[row.id])

    async def find(
        self, status: str | None = None, version_uri: str | None = None, limit: int = 100
    ) -> list[PromotionRequest]:
        """Newest first."""
        query = select(pr)
        if status is not None:
            if status not in PromotionStatus.__members__:
                raise BadInput(
                    f"unknown status {status!r} (one of {', '.join(PromotionStatus.__members__)})",
                    field="status",
                )
            query = query.where(pr.c.status == status)
        if version_uri is not None:
            query = query.where(pr.c.version_uri == version_uri)
        query = query.order_by(pr.c.created_at.desc(), pr.c.id).limit(max(1, min(limit, MAX_LIST)))
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            approvals = await self.approvals(conn, [r.id for r in rows])
        return [request_of(r, approvals[r.id]) for r in rows]

    async def applied_approvals(self, version_uris: Sequence[str]) -> dict[str, list[Approval]]:
        """Approvals of each version's applied promotions (part of its approval record)."""
        found: dict[str, list[Approval]] = {uri: [] for uri in version_uris}
        if not version_uris:
            return found
        query = (
            select(pr.c.version_uri, pa.c.principal, pa.c.role, pa.c.at, pa.c.comment)
            .select_from(pa.join(pr, pr.c.id == pa.c.request_id))
            .where(
                any_of(self.db.dialect, pr.c.version_uri, list(version_uris)),
                pr.c.status == PromotionStatus.APPLIED.value,
            )
            .order_by(pa.c.at, pa.c.id)
        )
        async with self.db.read() as conn:
            for row in await conn.execute(query):
                found[row.version_uri].append(_approval(row))
        return found

    @staticmethod
    async def claim(
        conn: AsyncConnection, request_id: str, by: str, status: PromotionStatus, *, stale: bool = False
    ) -> bool:
        """Take the write-through; true for exactly one caller (``stale``: take over
        a claim older than ``STALE_CLAIM``, left by a crash)."""
        now = utcnow()
        condition = pr.c.claimed_at < now - STALE_CLAIM if stale else pr.c.claimed_at.is_(None)
        result = await conn.execute(
            update(pr)
            .where(pr.c.id == request_id, pr.c.status == status.value, condition)
            .values(claimed_by=by, claimed_at=now, updated_at=now)
        )
        return result.rowcount == 1

    @staticmethod
    async def end_rejected(
        conn: AsyncConnection, row: Row[Any], by: str, role: str | None, comment: str
    ) -> None:
        """End a request as REJECTED, with a ``promotion.rejected`` event (``role``
        None: the system withdrew it, naming no role)."""
        now = utcnow()
        await conn.execute(
            update(pr)
            .where(pr.c.id == row.id)
            .values(
                status=PromotionStatus.REJECTED.value,
                pending_key=None,
                rejected_by=by,
                rejected_role=role or "",
                rejection_comment=comment,
                rejected_at=now,
                updated_at=now,
            )
        )
        detail: dict[str, Any] = {"requestId": row.id, "comment": comment, "to": row.target_stage}
        if role is not None:
            detail = {"requestId": row.id, "role": role, "comment": comment, "to": row.target_stage}
        await audit.append(conn, "promotion.rejected", by, row.version_uri, detail)
