"""Who may do what with a promotion request: the team that owns a version, the
visibility gate in front of every decision, separation of duties, and which of
the request's required roles an approver acts as. Pure rules over the catalogue
and the policy file; the workflow that applies them is gateway.governance.promotions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row

from gateway.auth.access import AccessPolicy
from gateway.auth.principal import Principal
from gateway.catalogue.index import CatalogueIndex
from gateway.config import RegistrySettings
from gateway.domain import ModelVersion, Stage
from gateway.errors import BadInput, Conflict, Forbidden
from gateway.governance.policies import PolicySet
from gateway.governance.promotion_records import PromotionRecords, absent_request
from gateway.governance.promotion_requests import PromotionRequest, PromotionStatus


class PromotionRules:
    def __init__(
        self,
        index: CatalogueIndex,
        registries: Mapping[str, RegistrySettings],
        policies: PolicySet,
        records: PromotionRecords,
    ):
        self.index = index
        self.registries = registries
        self.policies = policies
        self.records = records

    def access(self, principal: Principal) -> AccessPolicy:
        return AccessPolicy(principal, self.registries, self.policies.roles)

    async def team_of(self, version: ModelVersion) -> str | None:
        """The team owning a version: its registry's, else its own, else its model's."""
        settings = self.registries.get(version.registry_id)
        team = (settings.team if settings else None) or version.team
        if team is None:
            model = await self.index.get_model(version.model_uri)
            team = model.team if model else None
        return team

    async def request_team(self, version_uri: str, registry_id: str) -> str | None:
        """The team owning a request's version (its registry's, once the version is gone)."""
        version = await self.index.get_version(version_uri)
        if version is not None:
            return await self.team_of(version)
        settings = self.registries.get(registry_id)
        return settings.team if settings else None

    async def decider_team(self, principal: Principal, request_id: str) -> str | None:
        """The team owning request ``request_id``'s version, for approving or
        rejecting it; NOT_FOUND, as for an unknown id, when the request is hidden
        from ``principal`` (``AccessPolicy.require_visible_subject``)."""
        async with self.records.db.read() as conn:
            row = await self.records.load(conn, request_id)
        team = await self.request_team(row.version_uri, row.registry_id)
        await self.access(principal).require_visible_subject(
            self.index,
            row.version_uri,
            absent_request(request_id),
            requested_by=row.requested_by,
            roles=row.required_roles,
            team=team,
        )
        return team

    async def retrier_team(self, principal: Principal, request: PromotionRequest) -> str | None:
        """The team owning the request's version, for a retry: its requester or the
        team (or admin) may retry; NOT_FOUND when the request is hidden."""
        version = await self.index.get_version(request.version_uri)
        team = await self.team_of(version) if version else None
        await self.access(principal).require_visible_subject(
            self.index,
            request.version_uri,
            absent_request(request.id),
            requested_by=request.requested_by,
            roles=request.required_roles,
            team=team,
        )
        if principal.name != request.requested_by and not self.access(principal).can_write(team):
            raise Forbidden(f"{principal.name} may not retry a request of team {team or '(none)'}")
        return team

    async def writable_version(self, principal: Principal, uri: str) -> tuple[ModelVersion, str | None]:
        """The version ``principal`` may request a stage change of, and its team:
        the visibility gate first (``AccessPolicy.visible_version``: BAD_USER_INPUT,
        or NOT_FOUND for a hidden version as for an absent one), then FORBIDDEN
        outside their teams."""
        access = self.access(principal)
        version: ModelVersion = await access.visible_version(self.index, uri)
        team = await self.team_of(version)
        if not access.can_write(team):
            raise Forbidden(
                f"{principal.name} is not a member of team {team or '(none)'}, which owns registry "
                f"{version.registry_id!r}"
            )
        return version, team

    async def shares_production(self, version: ModelVersion) -> bool:
        """A PRODUCTION version with other PRODUCTION versions of its model: promoting
        it again is how to leave it the only one (``modelgate.multiple-production``)."""
        if version.stage is not Stage.PRODUCTION:
            return False
        production = await self.index.versions_in_stage([version.model_uri], Stage.PRODUCTION)
        return any(v.uri != version.uri for v in production.get(version.model_uri, ()))

    @staticmethod
    def check_open(row: Row[Any], principal: Principal, verb: str, *, allow_failed: bool) -> None:
        """The request can still be decided, and not by the one who asked for it."""
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

    def choose_role(
        self,
        principal: Principal,
        team: str | None,
        required: Sequence[str],
        candidates: Sequence[str],
        role: str | None,
        verb: str,
    ) -> str:
        """The role ``principal`` acts as: ``role`` if given and theirs to use, else
        the first of ``candidates`` they may act as for ``team``."""
        access = self.access(principal)
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
