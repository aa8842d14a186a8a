"""Promotion requests: policy check, approvals by role, write-through. This
module is the workflow (its transitions); the write-through itself is
gateway.governance.write_through, the request's record promotion_requests.

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
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.protocol import RegistryAdapter
from gateway.auth.access import AccessPolicy
from gateway.auth.principal import Principal
from gateway.catalogue.index import CatalogueIndex
from gateway.catalogue.sync import SyncEngine
from gateway.config import RegistrySettings
from gateway.domain import Approval, ModelVersion, Stage, utcnow
from gateway.errors import BadInput, Conflict, Forbidden, NotFound
from gateway.governance import audit
from gateway.governance.evaluation import Violation
from gateway.governance.policies import PolicySet
from gateway.governance.promotion_requests import BeforeWrite, Judge, PromotionRequest, PromotionStatus
from gateway.governance.write_through import WriteThrough
from gateway.store.database import Database, ReadConnection
from gateway.store.sql import any_of
from gateway.store.tables import promotion_approvals as pa
from gateway.store.tables import promotion_requests as pr

__all__ = ["PromotionRequest", "PromotionStatus", "Promotions", "absent_request"]


STALE_CLAIM = timedelta(minutes=10)
MAX_LIST = 500

# The risk tier of a model (by URI): promotion rules may be scoped by tier.
TierOf = Callable[[str], Awaitable[str | None]]
# Runs in a new request's insert transaction (with its id and the status it opens
# with): what rides on the request. An exception rolls the request back too.
OnOpen = Callable[[AsyncConnection, str, "PromotionStatus"], Awaitable[None]]


async def _no_tier(model_uri: str) -> str | None:
    return None


def _violations(raw: Any) -> tuple[Violation, ...]:
    return tuple(Violation(v["policy"], v["severity"], v["message"]) for v in raw or ())


def _request(row: Row[Any], approvals: Sequence[Approval]) -> PromotionRequest:
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


def _pending_key(uri: str, stage: Stage) -> str:
    return f"{uri} {stage.value}"


class Promotions:
    def __init__(
        self,
        database: Database,
        index: CatalogueIndex,
        adapters: Mapping[str, RegistryAdapter],
        sync: SyncEngine,
        registries: Mapping[str, RegistrySettings],
        policies: PolicySet,
        judge: Judge,
        tier_of: TierOf = _no_tier,
    ):
        self.db = database
        self.index = index
        self.adapters = adapters
        self.sync = sync
        self.registries = registries
        self.policies = policies
        self.judge = judge
        self.tier_of = tier_of
        # A rollback's traffic restore (gateway.rollouts.restore) waits for the write-through.
        self.before_write: list[BeforeWrite] = []
        self.write_through = WriteThrough(database, index, adapters, sync, judge, self.before_write)

    # --- reads --------------------------------------------------------------------

    async def _load(self, conn: ReadConnection, request_id: str, *, lock: bool = False) -> Row[Any]:
        query = select(pr).where(pr.c.id == request_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise absent_request(request_id)
        return row

    async def _approvals(self, conn: ReadConnection, request_ids: Sequence[str]) -> dict[str, list[Approval]]:
        found: dict[str, list[Approval]] = {rid: [] for rid in request_ids}
        if request_ids:
            rows = await conn.execute(select(pa).where(pa.c.request_id.in_(request_ids)).order_by(pa.c.id))
            for row in rows:
                found[row.request_id].append(_approval(row))
        return found

    async def get(self, request_id: str) -> PromotionRequest:
        async with self.db.read() as conn:
            row = await self._load(conn, request_id)
            approvals = await self._approvals(conn, [row.id])
        return _request(row, approvals[row.id])

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
            approvals = await self._approvals(conn, [r.id for r in rows])
        return [_request(r, approvals[r.id]) for r in rows]

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

    # --- decisions ----------------------------------------------------------------

    def _access(self, principal: Principal) -> AccessPolicy:
        return AccessPolicy(principal, self.registries, self.policies.roles)

    def access(self, principal: Principal) -> AccessPolicy:
        return self._access(principal)

    async def team_of(self, version: ModelVersion) -> str | None:
        """The team owning a version (see ``_team``)."""
        return await self._team(version)

    async def _request_team(self, row: Row[Any]) -> str | None:
        """The team owning a request's version, for team-scoped approval roles."""
        version = await self.index.get_version(row.version_uri)
        if version is not None:
            return await self._team(version)
        settings = self.registries.get(row.registry_id)
        return settings.team if settings else None

    async def _decider_team(self, principal: Principal, request_id: str) -> str | None:
        """The team owning request ``request_id``'s version, for approving or
        rejecting it; NOT_FOUND, as for an unknown id, when the request is hidden
        from ``principal`` (``AccessPolicy.require_visible_subject``)."""
        async with self.db.read() as conn:
            row = await self._load(conn, request_id)
        team = await self._request_team(row)
        await self._access(principal).require_visible_subject(
            self.index,
            row.version_uri,
            absent_request(request_id),
            requested_by=row.requested_by,
            roles=row.required_roles,
            team=team,
        )
        return team

    async def writable_version(self, principal: Principal, uri: str) -> tuple[ModelVersion, str | None]:
        """The version ``principal`` may request a stage change of, and its team:
        the visibility gate first (``AccessPolicy.visible_version``: BAD_USER_INPUT,
        or NOT_FOUND for a hidden version as for an absent one), then FORBIDDEN
        outside their teams."""
        access = self._access(principal)
        version: ModelVersion = await access.visible_version(self.index, uri)
        team = await self._team(version)
        if not access.can_write(team):
            raise Forbidden(
                f"{principal.name} is not a member of team {team or '(none)'}, which owns registry "
                f"{version.registry_id!r}"
            )
        return version, team

    async def _shares_production(self, version: ModelVersion) -> bool:
        """A PRODUCTION version with other PRODUCTION versions of its model: promoting
        it again is how to leave it the only one (``modelgate.multiple-production``)."""
        if version.stage is not Stage.PRODUCTION:
            return False
        production = await self.index.versions_in_stage([version.model_uri], Stage.PRODUCTION)
        return any(v.uri != version.uri for v in production.get(version.model_uri, ()))

    async def _team(self, version: ModelVersion) -> str | None:
        """The team owning a version: its registry's, else its own, else its model's."""
        settings = self.registries.get(version.registry_id)
        team = (settings.team if settings else None) or version.team
        if team is None:
            model = await self.index.get_model(version.model_uri)
            team = model.team if model else None
        return team

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
        version, team = await self.writable_version(principal, uri)
        if version.stage is target and not await self._shares_production(version):
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
                        pending_key=_pending_key(uri, target) if status is PromotionStatus.PENDING else None,
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
        team = await self._decider_team(principal, request_id)
        try:
            async with self.db.write() as conn:
                row = await self._load(conn, request_id, lock=True)
                self._check_open(row, principal, "approve", allow_failed=False)
                approvals = (await self._approvals(conn, [row.id]))[row.id]
                mine = next((a for a in approvals if a.principal == principal.name), None)
                if mine is not None:
                    raise Conflict(f"{principal.name} already approved this request as {mine.role}")
                done = {a.role for a in approvals}
                missing = [r for r in row.required_roles if r not in done]
                chosen = self._choose_role(principal, team, row.required_roles, missing, role, "approve")
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
                    claimed = await self._claim(conn, row.id, principal.name, PromotionStatus.PENDING)
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
        team = await self._decider_team(principal, request_id)
        async with self.db.write() as conn:
            row = await self._load(conn, request_id, lock=True)
            self._check_open(row, principal, "reject", allow_failed=True)
            chosen = self._choose_role(
                principal, team, row.required_roles, list(row.required_roles), role, "reject"
            )
            now = utcnow()
            await conn.execute(
                update(pr)
                .where(pr.c.id == row.id)
                .values(
                    status=PromotionStatus.REJECTED.value,
                    pending_key=None,
                    rejected_by=principal.name,
                    rejected_role=chosen,
                    rejection_comment=comment,
                    rejected_at=now,
                    updated_at=now,
                )
            )
            await audit.append(
                conn,
                "promotion.rejected",
                principal.name,
                row.version_uri,
                {"requestId": row.id, "role": chosen, "comment": comment, "to": row.target_stage},
            )
        return await self.get(request_id)

    async def retry(self, principal: Principal, request_id: str) -> PromotionRequest:
        """Write a FAILED request through again (or take over a claim left by a crash)."""
        request = await self.get(request_id)
        version = await self.index.get_version(request.version_uri)
        team = await self._team(version) if version else None
        await self._access(principal).require_visible_subject(
            self.index,
            request.version_uri,
            absent_request(request_id),
            requested_by=request.requested_by,
            roles=request.required_roles,
            team=team,
        )
        if principal.name != request.requested_by and not self._access(principal).can_write(team):
            raise Forbidden(f"{principal.name} may not retry a request of team {team or '(none)'}")
        async with self.db.write() as conn:
            row = await self._load(conn, request_id, lock=True)
            stale = row.claimed_at is not None and row.claimed_at < utcnow() - STALE_CLAIM
            if row.status == PromotionStatus.FAILED.value and row.claimed_at is None:
                claimed = await self._claim(conn, row.id, principal.name, PromotionStatus.FAILED)
            elif row.status == PromotionStatus.PENDING.value and stale:
                claimed = await self._claim(conn, row.id, principal.name, PromotionStatus.PENDING, stale=True)
            else:
                raise Conflict(f"request {request_id} is {row.status}: only a FAILED request can be retried")
        if claimed:
            await self._apply(request_id)
        return await self.get(request_id)

    async def apply_held(self, request_id: str) -> PromotionRequest:
        """Write a held, fully approved request through now (a rollout that succeeded)."""
        async with self.db.write() as conn:
            row = await self._load(conn, request_id, lock=True)
            if not row.held or row.status != PromotionStatus.PENDING.value:
                raise Conflict(f"request {request_id} is {row.status}, not a held PENDING request")
            approvals = (await self._approvals(conn, [row.id]))[row.id]
            missing = set(row.required_roles) - {a.role for a in approvals}
            if missing:
                raise Conflict(f"request {request_id} still needs {', '.join(sorted(missing))}")
            claimed = await self._claim(conn, row.id, audit.SYSTEM, PromotionStatus.PENDING)
        if claimed:
            await self._apply(request_id)
        return await self.get(request_id)

    async def withdraw_own(
        self, principal: Principal, request_id: str, reason: str | None
    ) -> PromotionRequest:
        """The requester takes back an open request of theirs (an admin may too):
        it ends REJECTED, by them, with ``reason``. A request a rollout holds is
        ended by aborting the rollout instead."""
        await self._decider_team(principal, request_id)  # hidden requests answer NOT_FOUND
        why = reason.strip() if reason and reason.strip() else "withdrawn by the requester"
        async with self.db.write() as conn:
            row = await self._load(conn, request_id, lock=True)
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
            row = await self._load(conn, request_id, lock=True)
            if row.status == PromotionStatus.PENDING.value and row.claimed_at is None:
                now = utcnow()
                await conn.execute(
                    update(pr)
                    .where(pr.c.id == row.id)
                    .values(
                        status=PromotionStatus.REJECTED.value,
                        pending_key=None,
                        rejected_by=audit.SYSTEM,
                        rejected_role="",
                        rejection_comment=why,
                        rejected_at=now,
                        updated_at=now,
                    )
                )
                await audit.append(
                    conn,
                    "promotion.rejected",
                    audit.SYSTEM,
                    row.version_uri,
                    {"requestId": row.id, "comment": why, "to": row.target_stage},
                )
        return await self.get(request_id)

    def _check_open(self, row: Row[Any], principal: Principal, verb: str, *, allow_failed: bool) -> None:
        open_states = {PromotionStatus.PENDING.value} | (
            {PromotionStatus.FAILED.value} if allow_failed else set()
        )
        if row.status not in open_states:
            raise Conflict(f"request {row.id} is {row.status}: it can no longer be decided")
        if row.claimed_at is not None:
            raise Conflict(f"request {row.id} is being applied")
        if principal.name == row.requested_by:
            raise Forbidden(
                f"{principal.name} requested this promotion and may not {verb} it (separation of duties)"
            )

    def _choose_role(
        self,
        principal: Principal,
        team: str | None,
        required: Sequence[str],
        candidates: Sequence[str],
        role: str | None,
        verb: str,
    ) -> str:
        access = self._access(principal)
        if role is not None:
            if role not in required:
                raise BadInput(
                    f"role {role!r} is not required by this request ({', '.join(required)})", field="role"
                )
            if role not in candidates:
                raise Conflict(f"role {role} is already approved on this request")
            if not principal.has_role(role):
                raise Forbidden(f"{principal.name} does not hold role {role}")
            if not access.can_approve(role, team):
                raise Forbidden(
                    f"{principal.name} holds {role} but not for team {team or '(none)'}: {role} is "
                    "team-scoped (the policy file's roles.team_scoped), so only a lead of the "
                    "model's own team can act as it"
                )
            return role
        held = access.approvable(candidates, team)
        if not held:
            scoped = [r for r in candidates if principal.has_role(r) and not access.can_approve(r, team)]
            why = f" ({', '.join(scoped)} only for team {team or '(none)'})" if scoped else ""
            raise Forbidden(
                f"{principal.name} holds none of the roles that can {verb} this request "
                f"({', '.join(candidates) or 'none left'}){why}"
            )
        return held[0]

    async def _claim(
        self, conn: AsyncConnection, request_id: str, by: str, status: PromotionStatus, *, stale: bool = False
    ) -> bool:
        """Take the write-through; true for exactly one caller."""
        now = utcnow()
        condition = pr.c.claimed_at < now - STALE_CLAIM if stale else pr.c.claimed_at.is_(None)
        result = await conn.execute(
            update(pr)
            .where(pr.c.id == request_id, pr.c.status == status.value, condition)
            .values(claimed_by=by, claimed_at=now, updated_at=now)
        )
        return result.rowcount == 1

    # --- write-through --------------------------------------------------------------

    async def _apply(self, request_id: str) -> None:
        """Write a claimed request's stage to its registry and record the outcome."""
        await self.write_through.apply(await self.get(request_id))
