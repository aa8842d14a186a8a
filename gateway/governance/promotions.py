"""Promotion requests: policy check, approvals by role, write-through. This
module is the workflow (its transitions); the write-through itself is
gateway.governance.write_through, who may decide gateway.governance.promotion_rules,
the stored requests gateway.governance.promotion_records, and the request's
record gateway.governance.promotion_requests.

    requestPromotion ─▶ evaluate as if promoted ─▶ BLOCKED   (an error-severity violation)
                                                └▶ PENDING ─▶ approvals, one per required role
                                                     │          (never the requester)
                                                     ├▶ REJECTED (any approver says no)
                                                     └▶ last role satisfied: write-through
                                                          ├▶ APPLIED
                                                          └▶ FAILED (the registry's error) ─▶ retry

Concurrency: every decision locks the request row first (``FOR UPDATE`` on
PostgreSQL; SQLite serialises writers), so two approvals of one request queue
and the second sees the first. The write-through is claimed with a conditional
``UPDATE ... WHERE claimed_at IS NULL``; only the approver whose update wins
applies it, so concurrent or repeated approvals never apply twice. Unique keys
on (request, role) and (request, principal) back this up in the database.

One PRODUCTION version per model: a PRODUCTION write-through moves PRODUCTION
off the model's other versions (the registries' write-throughs do; the native
one under a lock on the model's row, so concurrent promotions queue). A version
already in the target stage may be requested again only when it shares
PRODUCTION with others: that re-promotion is what resolves the conflict
(``modelgate.multiple-production`` says so).

Crash safety: for native registries the stage write, the demotions it made, the
request's new status and the ``promotion.applied`` and ``stage.demoted`` events
commit in one transaction (the registry's ``within=`` and ``demoted=`` hooks).
A remote registry cannot share a transaction, so its outcome and event are
recorded right after the call; a crash in between leaves the request PENDING
with a stale claim, which ``retry`` takes over after ``STALE_CLAIM`` (writing a
stage again is harmless), and the next sync records the change it sees (and
the demotions the registry made) as ``stage.synced`` meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.auth.access import AccessPolicy
from gateway.auth.principal import Principal
from gateway.config import RegistrySettings
from gateway.domain import Approval, ModelVersion, Stage, utcnow
from gateway.errors import BadInput, Conflict, Forbidden
from gateway.governance import audit
from gateway.governance.policies import PolicySet
from gateway.governance.promotion_records import (
    STALE_CLAIM,
    PromotionRecords,
    absent_request,
    pending_key,
)
from gateway.governance.promotion_requests import (
    BeforeWrite,
    PromotionParts,
    PromotionRequest,
    PromotionStatus,
)
from gateway.governance.promotion_rules import PromotionRules
from gateway.governance.write_through import WriteThrough
from gateway.store.tables import promotion_approvals as pa
from gateway.store.tables import promotion_requests as pr

__all__ = ["PromotionParts", "PromotionRequest", "PromotionStatus", "Promotions", "absent_request"]

# The risk tier of a model (by URI): promotion rules may be scoped by tier.
TierOf = Callable[[str], Awaitable[str | None]]
# Runs in a new request's insert transaction (with its id and the status it opens
# with): what rides on the request. An exception rolls the request back too.
OnOpen = Callable[[AsyncConnection, str, "PromotionStatus"], Awaitable[None]]


async def _no_tier(model_uri: str) -> str | None:
    return None


class Promotions:
    """The workflow: open, approve, reject, retry, and a rollout's held requests."""

    def __init__(
        self,
        parts: PromotionParts,
        registries: Mapping[str, RegistrySettings],
        policies: PolicySet,
        tier_of: TierOf = _no_tier,
    ):
        self.db = parts.database
        self.index = parts.index
        self.registries = registries
        self.policies = policies
        self.judge = parts.judge
        self.tier_of = tier_of
        self.records = PromotionRecords(parts.database)
        self.rules = PromotionRules(parts.index, registries, policies, self.records)
        # A rollback's traffic restore (gateway.rollouts.restore) waits for the write-through.
        self.before_write: list[BeforeWrite] = []
        self.write_through = WriteThrough(parts, self.before_write)

    # --- reads (gateway.governance.promotion_records, promotion_rules) ---------------

    async def get(self, request_id: str) -> PromotionRequest:
        return await self.records.get(request_id)

    async def find(
        self, status: str | None = None, version_uri: str | None = None, limit: int = 100
    ) -> list[PromotionRequest]:
        """Newest first."""
        return await self.records.find(status, version_uri, limit)

    async def applied_approvals(self, version_uris: Sequence[str]) -> dict[str, list[Approval]]:
        return await self.records.applied_approvals(version_uris)

    def access(self, principal: Principal) -> AccessPolicy:
        return self.rules.access(principal)

    async def team_of(self, version: ModelVersion) -> str | None:
        """The team owning a version: its registry's, else its own, else its model's."""
        return await self.rules.team_of(version)

    async def writable_version(self, principal: Principal, uri: str) -> tuple[ModelVersion, str | None]:
        return await self.rules.writable_version(principal, uri)

    # --- decisions ----------------------------------------------------------------

    async def request(
        self,
        principal: Principal,
        uri: str,
        target: Stage,
        reason: str | None = None,
        *,
        rollback: bool = False,
        hold: bool = False,
        on_open: OnOpen | None = None,
    ) -> PromotionRequest:
        """Open a request to move a version to ``target`` (see the module docstring).
        A ``rollback``'s request needs the policy file's ``rollback:`` approvals.

        ``hold``: approval does not write through; ``apply_held`` does, later (a
        canary rollout writes PRODUCTION only once all traffic is shifted).
        ``on_open`` runs in the request's insert transaction, before any write-through."""
        version, team = await self.rules.writable_version(principal, uri)
        if version.stage is target and not await self.rules.shares_production(version):
            raise BadInput(f"{uri} is already in {target.value}", field="targetStage")
        evaluation = await self.judge(version, target)
        tier = await self.tier_of(version.model_uri)
        roles = self.policies.required_approvals(
            target, team, version.registry_id, version.stage, tier, rollback=rollback
        )
        status = PromotionStatus.BLOCKED if evaluation.errors else PromotionStatus.PENDING
        now = utcnow()
        request_id = uuid.uuid4().hex
        claim = status is PromotionStatus.PENDING and not roles and not hold
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    pr.insert().values(
                        id=request_id,
                        version_uri=uri,
                        registry_id=version.registry_id,
                        from_stage=version.stage.value,
                        target_stage=target.value,
                        reason=reason,
                        status=status.value,
                        requested_by=principal.name,
                        required_roles=list(roles),
                        violations=[v.as_dict() for v in evaluation.violations],
                        attempts=0,
                        pending_key=pending_key(uri, target) if status is PromotionStatus.PENDING else None,
                        claimed_by=principal.name if claim else None,
                        claimed_at=now if claim else None,
                        held=hold,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await audit.append(
                    conn,
                    "promotion.requested",
                    principal.name,
                    uri,
                    {
                        "requestId": request_id,
                        "from": version.stage.value,
                        "to": target.value,
                        "reason": reason,
                        "status": status.value,
                        "requiredApprovals": list(roles),
                        "violations": [v.as_dict() for v in evaluation.violations],
                        **({"rollback": True} if rollback else {}),
                        **({"held": True} if hold else {}),
                    },
                )
                if on_open is not None:
                    await on_open(conn, request_id, status)
        except IntegrityError:
            existing = await self.find(PromotionStatus.PENDING.value, uri)
            existing += await self.find(PromotionStatus.FAILED.value, uri)
            ids = ", ".join(r.id for r in existing if r.target_stage is target) or "?"
            raise Conflict(
                f"{uri} already has an open request to {target.value} ({ids}): approve, reject or retry it",
                field="uri",
            ) from None
        if claim:  # no approval needed for this stage: write through at once
            await self._apply(request_id)
        return await self.get(request_id)

    async def approve(
        self, principal: Principal, request_id: str, comment: str | None = None, role: str | None = None
    ) -> PromotionRequest:
        """Record ``principal``'s approval for one still-missing role they hold
        (``role`` picks which); the approval that satisfies the last role applies it."""
        claimed = False
        team = await self.rules.decider_team(principal, request_id)
        try:
            async with self.db.write() as conn:
                row = await self.records.load(conn, request_id, lock=True)
                self.rules.check_open(row, principal, "approve", allow_failed=False)
                approvals = (await self.records.approvals(conn, [row.id]))[row.id]
                mine = next((a for a in approvals if a.principal == principal.name), None)
                if mine is not None:
                    raise Conflict(f"{principal.name} already approved this request as {mine.role}")
                done = {a.role for a in approvals}
                missing = [r for r in row.required_roles if r not in done]
                chosen = self.rules.choose_role(principal, team, row.required_roles, missing, role, "approve")
                now = utcnow()
                await conn.execute(
                    pa.insert().values(
                        request_id=row.id, role=chosen, principal=principal.name, comment=comment, at=now
                    )
                )
                await conn.execute(update(pr).where(pr.c.id == row.id).values(updated_at=now))
                events = [
                    audit.NewEvent(
                        "promotion.approved",
                        principal.name,
                        row.version_uri,
                        {"requestId": row.id, "role": chosen, "comment": comment, "to": row.target_stage},
                    )
                ]
                if set(missing) == {chosen} and not row.held:
                    claimed = await self.records.claim(conn, row.id, principal.name, PromotionStatus.PENDING)
                await audit.append_many(conn, events)
        except IntegrityError:
            # Only reachable if two approvals slipped past the row lock; the unique keys hold.
            raise Conflict(
                f"role already approved on request {request_id}, or {principal.name} approved it"
            ) from None
        if claimed:
            await self._apply(request_id)
        return await self.get(request_id)

    async def reject(
        self, principal: Principal, request_id: str, comment: str, role: str | None = None
    ) -> PromotionRequest:
        """Any principal holding one of the request's roles can end it."""
        if not comment or not comment.strip():
            raise BadInput("a rejection needs a comment saying why", field="comment")
        team = await self.rules.decider_team(principal, request_id)
        async with self.db.write() as conn:
            row = await self.records.load(conn, request_id, lock=True)
            self.rules.check_open(row, principal, "reject", allow_failed=True)
            chosen = self.rules.choose_role(
                principal, team, row.required_roles, list(row.required_roles), role, "reject"
            )
            await self.records.end_rejected(conn, row, principal.name, chosen, comment)
        return await self.get(request_id)

    async def retry(self, principal: Principal, request_id: str) -> PromotionRequest:
        """Write a FAILED request through again (or take over a claim left by a crash)."""
        await self.rules.retrier_team(principal, await self.get(request_id))
        async with self.db.write() as conn:
            row = await self.records.load(conn, request_id, lock=True)
            stale = row.claimed_at is not None and row.claimed_at < utcnow() - STALE_CLAIM
            if row.status == PromotionStatus.FAILED.value and row.claimed_at is None:
                claimed = await self.records.claim(conn, row.id, principal.name, PromotionStatus.FAILED)
            elif row.status == PromotionStatus.PENDING.value and stale:
                claimed = await self.records.claim(
                    conn, row.id, principal.name, PromotionStatus.PENDING, stale=True
                )
            else:
                raise Conflict(f"request {request_id} is {row.status}: only a FAILED request can be retried")
        if claimed:
            await self._apply(request_id)
        return await self.get(request_id)

    # --- held requests (a canary rollout writes PRODUCTION once all traffic moved) ----

    async def apply_held(self, request_id: str) -> PromotionRequest:
        """Write a held, fully approved request through now (a rollout that succeeded)."""
        async with self.db.write() as conn:
            row = await self.records.load(conn, request_id, lock=True)
            if not row.held or row.status != PromotionStatus.PENDING.value:
                raise Conflict(f"request {request_id} is {row.status}, not a held PENDING request")
            approvals = (await self.records.approvals(conn, [row.id]))[row.id]
            missing = set(row.required_roles) - {a.role for a in approvals}
            if missing:
                raise Conflict(f"request {request_id} still needs {', '.join(sorted(missing))}")
            claimed = await self.records.claim(conn, row.id, audit.SYSTEM, PromotionStatus.PENDING)
        if claimed:
            await self._apply(request_id)
        return await self.get(request_id)

    async def withdraw_own(
        self, principal: Principal, request_id: str, reason: str | None
    ) -> PromotionRequest:
        """The requester takes back an open request of theirs (an admin may too):
        it ends REJECTED, by them, with ``reason``. A request a rollout holds is
        ended by aborting the rollout instead."""
        await self.rules.decider_team(principal, request_id)  # hidden requests answer NOT_FOUND
        why = reason.strip() if reason and reason.strip() else "withdrawn by the requester"
        async with self.db.write() as conn:
            row = await self.records.load(conn, request_id, lock=True)
            if principal.name != row.requested_by and not principal.is_admin:
                raise Forbidden(f"only {row.requested_by}, who requested it, (or an admin) may withdraw it")
            if row.status not in (PromotionStatus.PENDING.value, PromotionStatus.FAILED.value):
                raise Conflict(f"request {row.id} is {row.status}: only an open request can be withdrawn")
            if row.claimed_at is not None:
                raise Conflict(f"request {row.id} is being applied")
            if row.held:
                raise Conflict(f"request {row.id} belongs to a rollout: abort the rollout instead")
            now = utcnow()
            await conn.execute(
                update(pr)
                .where(pr.c.id == row.id)
                .values(
                    status=PromotionStatus.REJECTED.value,
                    pending_key=None,
                    rejected_by=principal.name,
                    rejected_role="",
                    rejection_comment=why,
                    rejected_at=now,
                    updated_at=now,
                )
            )
            await audit.append(
                conn,
                "promotion.withdrawn",
                principal.name,
                row.version_uri,
                {"requestId": row.id, "comment": why, "to": row.target_stage},
            )
        return await self.get(request_id)

    async def withdraw(self, request_id: str, why: str) -> PromotionRequest:
        """End a held request without writing it (its rollout was rolled back or
        aborted): REJECTED by the system, with the reason."""
        async with self.db.write() as conn:
            row = await self.records.load(conn, request_id, lock=True)
            if row.status == PromotionStatus.PENDING.value and row.claimed_at is None:
                await self.records.end_rejected(conn, row, audit.SYSTEM, None, why)
        return await self.get(request_id)

    # --- write-through --------------------------------------------------------------

    async def _apply(self, request_id: str) -> None:
        """Write a claimed request's stage to its registry and record the outcome."""
        await self.write_through.apply(await self.get(request_id))
