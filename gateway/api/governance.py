"""GraphQL for governance: promotions, compliance reports and the audit log.
Thin resolvers over ``gateway.governance``; permissions are checked here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.api.context import Context
from gateway.api.types import (
    Approval,
    Deployment,
    ModelVersionType,
    PageInfo,
    PolicyViolation,
    Review,
    RiskTier,
    StageEnum,
    check_page_size,
    page_info,
    review_view,
    risk_tier_view,
)
from gateway.catalogue.index import SearchFilter as IndexFilter
from gateway.domain import Approval as DomainApproval
from gateway.domain import ModelVersion, Stage, parse_uri
from gateway.errors import BadInput
from gateway.governance import audit, inventory, reports
from gateway.governance.promotions import PromotionRequest
from gateway.governance.reviews import ReviewOutcome

if TYPE_CHECKING:
    from gateway.api.schema import SearchFilter

# The catalogue's filter input, resolved lazily: gateway.api.schema imports this module.
LazySearchFilter = Annotated["SearchFilter", strawberry.lazy("gateway.api.schema")]

MAX_AUDIT_PAGE = 500
MAX_VIOLATION_PAGE = 1000


def _approval(a: DomainApproval) -> Approval:
    return Approval(principal=a.principal, role=a.role, comment=a.comment, at=a.at)


def _page_size(first: int | None, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise BadInput(f"first must be between 0 and {maximum}, got {first}", field="first")
    return first


# --- promotions --------------------------------------------------------------------------


@strawberry.type(name="PromotionRequest")
class PromotionRequestType:
    id: strawberry.ID
    target_stage: StageEnum  # type: ignore[valid-type]
    from_stage: StageEnum  # type: ignore[valid-type]
    reason: str | None
    status: str = strawberry.field(description="PENDING | BLOCKED | REJECTED | APPLIED | FAILED")
    requested_by: str
    required_approvals: list[str] = strawberry.field(description="Roles still missing an approval.")
    required_roles: list[str] = strawberry.field(description="Every role this promotion needs.")
    approvals: list[Approval]
    violations: list[PolicyViolation]
    rejection: Approval | None
    error: str | None = strawberry.field(description="The registry's error when the write-through FAILED.")
    attempts: int
    applying: bool = strawberry.field(description="A write-through is under way.")
    version_uri: str
    created_at: datetime
    updated_at: datetime
    _request: strawberry.Private[PromotionRequest]

    @staticmethod
    def from_domain(r: PromotionRequest) -> PromotionRequestType:
        return PromotionRequestType(
            id=strawberry.ID(r.id),
            target_stage=r.target_stage,
            from_stage=r.from_stage,
            reason=r.reason,
            status=r.status.value,
            requested_by=r.requested_by,
            required_approvals=list(r.missing_roles),
            required_roles=list(r.required_roles),
            approvals=[_approval(a) for a in r.approvals],
            violations=[
                PolicyViolation(policy=v.policy, severity=v.severity, message=v.message) for v in r.violations
            ],
            rejection=_approval(r.rejection) if r.rejection else None,
            error=r.error,
            attempts=r.attempts,
            applying=r.applying,
            version_uri=r.version_uri,
            created_at=r.created_at,
            updated_at=r.updated_at,
            _request=r,
        )

    @strawberry.field(
        description="Review comments recorded on the request's version (addReview), oldest first."
    )
    async def reviews(self, info: Info[Context, None]) -> list[Review]:
        return [review_view(r) for r in await info.context.reviews.load(self.version_uri) or []]

    @strawberry.field
    async def version(self, info: Info[Context, None]) -> ModelVersionType:
        v = await info.context.versions.load(self.version_uri)
        if v is None:  # the version left the catalogue since: show what the request knew
            parsed = parse_uri(self.version_uri)
            v = ModelVersion(
                parsed.registry_id, parsed.model_name, parsed.version or "", stage=Stage(self.from_stage)
            )
        return ModelVersionType.from_domain(v)


# --- compliance reports ------------------------------------------------------------------------


@strawberry.type
class ComplianceGroup:
    key: str
    versions: int
    compliant: int


@strawberry.type
class ComplianceViolation:
    version_uri: str
    registry: str
    team: str | None
    model: str
    version: str
    stage: str
    policy: str
    severity: str
    message: str


@strawberry.type
class ViolationEdge:
    cursor: str
    node: ComplianceViolation


@strawberry.type
class ViolationConnection:
    edges: list[ViolationEdge]
    page_info: PageInfo
    total_count: int


def _groups(groups: list[reports.ComplianceGroup]) -> list[ComplianceGroup]:
    return [ComplianceGroup(key=g.key, versions=g.versions, compliant=g.compliant) for g in groups]


@strawberry.type
class ComplianceReport:
    generated_at: datetime
    as_of: datetime | None = strawberry.field(
        description="Set when the report was rebuilt from the audit log."
    )
    total_versions: int
    compliant_versions: int
    by_team: list[ComplianceGroup]
    by_registry: list[ComplianceGroup]
    by_policy: list[ComplianceGroup] = strawberry.field(
        description="Per policy: versions in its scope, and how many satisfy it."
    )
    _report: strawberry.Private[reports.ComplianceReport]

    @strawberry.field
    async def violations(self, first: int | None = 100, after: str | None = None) -> ViolationConnection:
        page = await self._report.violations(_page_size(first, 100, MAX_VIOLATION_PAGE), after)
        return ViolationConnection(
            edges=[
                ViolationEdge(
                    cursor=c,
                    node=ComplianceViolation(
                        version_uri=v.version_uri,
                        registry=v.registry,
                        team=v.team,
                        model=v.model,
                        version=v.version,
                        stage=v.stage,
                        policy=v.policy,
                        severity=v.severity,
                        message=v.message,
                    ),
                )
                for v, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=page_info(page.cursors, page.has_next, after),
            total_count=page.total,
        )


# --- compliance inventory ----------------------------------------------------------------------

ReviewOutcomeEnum = strawberry.enum(
    ReviewOutcome,
    name="ReviewOutcome",
    description="A review's verdict: APPROVED (revalidated; resets the review clock), "
    "CHANGES_REQUESTED or REJECTED.",
)
ComplianceStateEnum = strawberry.enum(
    inventory.ComplianceState,
    name="ComplianceState",
    description="COMPLIANT: no violation; WARNING: warnings only (a review overdue within its grace "
    "period counts as one); NON_COMPLIANT: an error-severity violation or a review overdue past its grace.",
)


@strawberry.input(description="Which models the compliance inventory lists; every field optional.")
class InventoryFilter:
    registries: list[str] | None = strawberry.field(default=None, description="Only these registries.")
    teams: list[str] | None = strawberry.field(default=None, description="Only models owned by these teams.")
    tiers: list[str] | None = strawberry.field(default=None, description="Only models of these risk tiers.")
    states: list[ComplianceStateEnum] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Only models in these compliance states."
    )
    review_overdue: bool | None = strawberry.field(
        default=None, description="True: only models whose PRODUCTION version is overdue for review."
    )

    def to_domain(self) -> inventory.InventoryFilter:
        return inventory.InventoryFilter(
            registries=tuple(self.registries or ()),
            teams=tuple(self.teams or ()),
            tiers=tuple(self.tiers or ()),
            states=tuple(inventory.ComplianceState(s) for s in self.states or ()),
            review_overdue=self.review_overdue,
        )


@strawberry.type(description="One model of the compliance inventory.")
class InventoryItem:
    model_uri: str = strawberry.field(description="The model's URI.")
    name: str = strawberry.field(description="The model's name.")
    registry: str = strawberry.field(description="The registry holding it.")
    owner_team: str | None = strawberry.field(description="The team that owns it.")
    risk_tier: RiskTier = strawberry.field(description="Its risk tier and where that comes from.")
    production_version: str | None = strawberry.field(
        description="URI of its PRODUCTION version (the newest, if several)."
    )
    serves_at: list[Deployment] = strawberry.field(description="Where the PRODUCTION version serves.")
    last_approval: Approval | None = strawberry.field(description="The model's last promotion approval.")
    compliance_state: ComplianceStateEnum = strawberry.field(  # type: ignore[valid-type]
        description="The PRODUCTION version's state (with review findings); without one, the model's."
    )
    violations: list[PolicyViolation] = strawberry.field(
        description="The PRODUCTION version's violations, with modelgate.review-overdue when overdue."
    )
    next_review_due: datetime | None = strawberry.field(description="When its next periodic review is due.")
    review_overdue: bool = strawberry.field(description="Past the review due date.")
    evidence_url: str | None = strawberry.field(
        description="Path of the PRODUCTION version's evidence pack (GET /reports/evidence)."
    )


@strawberry.type(description="Models per risk tier.")
class TierCount:
    tier: str | None = strawberry.field(description="The tier (null: models no tier rule matched).")
    models: int = strawberry.field(description="Models of this tier.")
    overdue: int = strawberry.field(description="Of which overdue for review.")
    non_compliant: int = strawberry.field(description="Of which NON_COMPLIANT.")


@strawberry.type(
    description="Every model with owner, tier, production version, approval, state and review due."
)
class ComplianceInventory:
    generated_at: datetime = strawberry.field(description="When the inventory was built.")
    as_of: datetime | None = strawberry.field(description="Set when rebuilt from the audit log.")
    total_models: int = strawberry.field(description="Models listed.")
    by_tier: list[TierCount] = strawberry.field(description="Counts per risk tier.")
    items: list[InventoryItem] = strawberry.field(description="The models, by URI.")


def _inventory_item(i: inventory.InventoryItem) -> InventoryItem:
    from urllib.parse import quote

    return InventoryItem(
        model_uri=i.model_uri,
        name=i.model_name,
        registry=i.registry,
        owner_team=i.team,
        risk_tier=RiskTier(tier=i.tier, source=i.tier_source),
        production_version=i.production_version,
        serves_at=[
            Deployment(endpoint=d.endpoint, traffic_percent=d.traffic_percent, updated_at=d.updated_at)
            for d in i.deployments
        ],
        last_approval=_approval(i.last_approval) if i.last_approval else None,
        compliance_state=i.state,
        violations=[
            PolicyViolation(policy=v.policy, severity=v.severity, message=v.message) for v in i.violations
        ],
        next_review_due=i.review.due,
        review_overdue=i.review.overdue,
        evidence_url=f"/reports/evidence?uri={quote(i.production_version, safe='')}"
        if i.production_version
        else None,
    )


# --- audit log ------------------------------------------------------------------------------


@strawberry.type
class AuditEvent:
    id: strawberry.ID
    sequence: int
    at: datetime
    action: str
    principal: str
    subject: str | None
    details: JSON
    hash: str
    prev_hash: str | None


@strawberry.type
class AuditEventEdge:
    cursor: str
    node: AuditEvent


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class AuditVerification:
    ok: bool
    events: int
    head_hash: str | None
    bad_event: int | None = strawberry.field(description="Sequence number of the first bad event.")
    problem: str | None
    signed_events: int | None = strawberry.field(
        default=None, description="Events signed with the audit HMAC key (null when none is configured)."
    )


def _event(e: audit.AuditEvent) -> AuditEvent:
    return AuditEvent(
        id=strawberry.ID(str(e.seq)),
        sequence=e.seq,
        at=e.at,
        action=e.action,
        principal=e.principal,
        subject=e.subject,
        details=dict(e.details),  # type: ignore[arg-type]  # strawberry's JSON scalar is a dict
        hash=e.hash,
        prev_hash=e.prev_hash,
    )


# --- fields -------------------------------------------------------------------------------


def _filter(f: Any) -> IndexFilter:
    return f.to_index() if f is not None else IndexFilter()


@strawberry.type
class GovernanceQuery:
    @strawberry.field(
        description="Compliance by team, registry and policy (roles auditor, compliance, admin)."
    )
    async def compliance_report(
        self,
        info: Info[Context, None],
        filter: LazySearchFilter | None = None,
        as_of: Annotated[
            datetime | None,
            strawberry.argument(
                description="Rebuild the report as it stood at this time, from the audit log."
            ),
        ] = None,
    ) -> ComplianceReport:
        info.context.access.require_audit_role()
        r = await info.context.gateway.governance.report(_filter(filter), as_of)
        return ComplianceReport(
            generated_at=r.generated_at,
            as_of=r.as_of,
            total_versions=r.total_versions,
            compliant_versions=r.compliant_versions,
            by_team=_groups(r.by_team),
            by_registry=_groups(r.by_registry),
            by_policy=_groups(r.by_policy),
            _report=r,
        )

    @strawberry.field(
        description="Every model with its owner team, registry, risk tier, PRODUCTION version and where "
        "it serves, last approval, compliance state and next review due (roles auditor, compliance, admin)."
    )
    async def compliance_inventory(
        self,
        info: Info[Context, None],
        filter: InventoryFilter | None = None,
        as_of: Annotated[
            datetime | None,
            strawberry.argument(
                description="Rebuild the inventory as it stood at this time, from the audit log."
            ),
        ] = None,
    ) -> ComplianceInventory:
        info.context.access.require_audit_role()
        f = filter.to_domain() if filter is not None else inventory.InventoryFilter()
        inv = await info.context.gateway.governance.inventory(f, as_of)
        return ComplianceInventory(
            generated_at=inv.generated_at,
            as_of=inv.as_of,
            total_models=len(inv.items),
            by_tier=[
                TierCount(tier=t.tier, models=t.models, overdue=t.overdue, non_compliant=t.non_compliant)
                for t in inv.by_tier()
            ],
            items=[_inventory_item(i) for i in inv.items],
        )

    @strawberry.field(description="The audit log, newest first (roles auditor, compliance, admin).")
    async def audit_events(
        self,
        info: Info[Context, None],
        first: int | None = 50,
        after: str | None = None,
        subject: Annotated[
            str | None,
            strawberry.argument(
                description="A version URI, or a model URI for the model and all its versions."
            ),
        ] = None,
        principal: str | None = None,
        action: Annotated[
            str | None,
            strawberry.argument(description='An action, or a prefix ending in "*" (e.g. "promotion.*").'),
        ] = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> AuditEventConnection:
        info.context.access.require_audit_role()
        f = audit.AuditFilter(subject, principal, action, since, until)
        page = await audit.query_events(
            info.context.gateway.database, f, _page_size(first, 50, MAX_AUDIT_PAGE), after
        )
        return AuditEventConnection(
            edges=[
                AuditEventEdge(cursor=c, node=_event(e))
                for e, c in zip(page.events, page.cursors, strict=True)
            ],
            page_info=page_info(page.cursors, page.has_next, after),
            total_count=page.total,
        )

    @strawberry.field(description="Check the audit log's hash chain (roles auditor, compliance, admin).")
    async def audit_verification(
        self,
        info: Info[Context, None],
        expect_head: Annotated[
            str | None,
            strawberry.argument(
                description="A head hash published earlier: fail unless that event is still in the chain."
            ),
        ] = None,
    ) -> AuditVerification:
        info.context.access.require_audit_role()
        v = await info.context.gateway.governance.verify_audit(expect_head)
        return AuditVerification(
            ok=v.ok,
            events=v.events,
            head_hash=v.head_hash,
            bad_event=v.bad_seq,
            problem=v.problem,
            signed_events=v.keyed,
        )

    @strawberry.field(description="Promotion requests, newest first.")
    async def promotion_requests(
        self,
        info: Info[Context, None],
        status: str | None = None,
        uri: Annotated[str | None, strawberry.argument(description="Only requests for this version.")] = None,
        first: int | None = 100,
    ) -> list[PromotionRequestType]:
        found = await info.context.gateway.governance.promotions.find(
            status, uri, check_page_size(first) if first is not None else 100
        )
        return [PromotionRequestType.from_domain(r) for r in await _visible_requests(info, found)]


async def _visible_requests(
    info: Info[Context, None], found: list[PromotionRequest]
) -> list[PromotionRequest]:
    """Requests for versions the caller may see, plus those they take part in (as the
    requester, or able to approve one of its roles: approvers of a restricted
    model's promotion must find it). A version gone from the index is judged by
    its registry (``AccessPolicy.hidden_uris``)."""
    access = info.context.access
    gateway = info.context.gateway
    hidden = await access.hidden_uris(gateway.index, [r.version_uri for r in found])

    def shown(r: PromotionRequest) -> bool:
        if r.version_uri not in hidden or r.requested_by == access.principal.name:
            return True
        return bool(access.approvable(r.required_roles, access.registry_team(r.registry_id)))

    return [r for r in found if shown(r)]


@strawberry.type
class GovernanceMutation:
    @strawberry.mutation(
        description="Ask for a version to move to another stage (needs the registry's team)."
    )
    async def request_promotion(
        self,
        info: Info[Context, None],
        uri: str,
        target_stage: StageEnum,  # type: ignore[valid-type]
        reason: str | None = None,
    ) -> PromotionRequestType:
        promotions = info.context.gateway.governance.promotions
        request = await promotions.request(info.context.principal, uri, Stage(target_stage), reason)
        return PromotionRequestType.from_domain(request)

    @strawberry.mutation(description="Approve for one still-missing role you hold (never your own request).")
    async def approve_promotion(
        self,
        info: Info[Context, None],
        request_id: strawberry.ID,
        comment: str | None = None,
        role: Annotated[
            str | None, strawberry.argument(description="Which of your roles to approve as.")
        ] = None,
    ) -> PromotionRequestType:
        promotions = info.context.gateway.governance.promotions
        request = await promotions.approve(info.context.principal, str(request_id), comment, role)
        return PromotionRequestType.from_domain(request)

    @strawberry.mutation(description="Reject a request; any principal holding one of its roles may.")
    async def reject_promotion(
        self,
        info: Info[Context, None],
        request_id: strawberry.ID,
        comment: str,
        role: str | None = None,
    ) -> PromotionRequestType:
        promotions = info.context.gateway.governance.promotions
        request = await promotions.reject(info.context.principal, str(request_id), comment, role)
        return PromotionRequestType.from_domain(request)

    @strawberry.mutation(
        description="Override a model's risk tier (role compliance or admin); audited as risk_tier.set."
    )
    async def set_risk_tier(
        self,
        info: Info[Context, None],
        model_uri: Annotated[str, strawberry.argument(description="The model's URI (mg://registry/model).")],
        tier: Annotated[
            str | None,
            strawberry.argument(description="A tier the policy file defines; null: back to the tier rules."),
        ],
        reason: Annotated[str, strawberry.argument(description="Why: kept with the override and audited.")],
    ) -> RiskTier:
        assigned = await info.context.gateway.governance.set_risk_tier(
            info.context.principal, model_uri, tier, reason
        )
        return risk_tier_view(assigned)

    @strawberry.mutation(
        description="Record a review of a version (auditor, compliance, admin, or an approval role of its "
        "team); audited as review.added. APPROVED resets the version's periodic-review clock."
    )
    async def add_review(
        self,
        info: Info[Context, None],
        uri: Annotated[str, strawberry.argument(description="The version's URI.")],
        comment: Annotated[str, strawberry.argument(description="The review comment.")],
        outcome: Annotated[
            ReviewOutcomeEnum,  # type: ignore[valid-type]
            strawberry.argument(description="The review's verdict."),
        ],
    ) -> Review:
        review = await info.context.gateway.governance.add_review(
            info.context.principal, uri, comment, ReviewOutcome(outcome).value
        )
        return review_view(review)

    @strawberry.mutation(description="Write a FAILED promotion through again.")
    async def retry_promotion(
        self, info: Info[Context, None], request_id: strawberry.ID
    ) -> PromotionRequestType:
        request = await info.context.gateway.governance.promotions.retry(
            info.context.principal, str(request_id)
        )
        return PromotionRequestType.from_domain(request)
