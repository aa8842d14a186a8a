"""GraphQL for governance: promotions, compliance reports and the audit log.
Thin resolvers over ``gateway.governance``; permissions are checked here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.api.context import Context
from gateway.api.endpoint_types import EndpointType
from gateway.api.filters import SearchFilter
from gateway.api.types import (
    AFTER,
    Approval,
    Deployment,
    ModelVersionType,
    PageInfo,
    PolicyViolation,
    Review,
    RiskTier,
    StageEnum,
    check_page_size,
    describe_values,
    page_info,
    review_view,
    risk_tier_view,
)
from gateway.catalogue.index import SearchFilter as IndexFilter
from gateway.domain import Approval as DomainApproval
from gateway.domain import Endpoint, ModelVersion, Stage, parse_uri
from gateway.errors import BadInput
from gateway.governance import audit, inventory, reports
from gateway.governance.promotions import PromotionRequest
from gateway.governance.reviews import ReviewOutcome

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


@strawberry.type(
    name="PromotionRequest",
    description="A request to move a version to another stage: approved by the roles its policies "
    "require, then written through to the version's registry.",
)
class PromotionRequestType:
    id: strawberry.ID = strawberry.field(
        description="The request's id (pass it to approvePromotion and the others)."
    )
    target_stage: StageEnum = strawberry.field(  # type: ignore[valid-type]
        description="The stage asked for."
    )
    from_stage: StageEnum = strawberry.field(  # type: ignore[valid-type]
        description="The version's stage when the request was made."
    )
    reason: str | None = strawberry.field(description="Why, as the requester wrote; null when not given.")
    status: str = strawberry.field(description="PENDING | BLOCKED | REJECTED | APPLIED | FAILED")
    requested_by: str = strawberry.field(description="Who asked: the principal's name.")
    required_approvals: list[str] = strawberry.field(description="Roles still missing an approval.")
    required_roles: list[str] = strawberry.field(description="Every role this promotion needs.")
    approvals: list[Approval] = strawberry.field(description="The approvals given so far, oldest first.")
    violations: list[PolicyViolation] = strawberry.field(
        description="Policies the version violates for the target stage (error ones make it BLOCKED)."
    )
    rejection: Approval | None = strawberry.field(
        description="Who rejected it, and why; null unless REJECTED."
    )
    error: str | None = strawberry.field(description="The registry's error when the write-through FAILED.")
    attempts: int = strawberry.field(
        description="How many times the write-through to the registry was tried."
    )
    applying: bool = strawberry.field(description="A write-through is under way.")
    version_uri: str = strawberry.field(description="The version's URI, mg://<registry>/<model>/<version>.")
    created_at: datetime = strawberry.field(description="When it was requested (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
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

    @strawberry.field(
        description="The endpoints whose traffic this request puts back when it is applied (a rollback's: "
        "the split each had at its asOf, before the gateway's rollouts shifted it), each with that split; "
        "empty for other requests. Restored only once the request is approved and applied."
    )
    async def restores_traffic(self, info: Info[Context, None]) -> list[EndpointType]:
        restorer = info.context.gateway.rollouts.restorer
        return [
            EndpointType.from_domain(
                Endpoint(p.endpoint_uri, p.endpoint_uri.rsplit("/", 1)[-1], p.registry_id, traffic=p.traffic)
            )
            for p in await restorer.planned(self.id)
        ]

    @strawberry.field(
        description="The version to promote (as the request knew it if it has left the catalogue since)."
    )
    async def version(self, info: Info[Context, None]) -> ModelVersionType:
        v = await info.context.versions.load(self.version_uri)
        if v is None:  # the version left the catalogue since: show what the request knew
            parsed = parse_uri(self.version_uri)
            v = ModelVersion(
                parsed.registry_id, parsed.model_name, parsed.version or "", stage=Stage(self.from_stage)
            )
        return ModelVersionType.from_domain(v)


# --- compliance reports ------------------------------------------------------------------------


@strawberry.type(description="Compliance counts of one team, registry or policy.")
class ComplianceGroup:
    key: str = strawberry.field(description="The team, registry id or policy id.")
    versions: int = strawberry.field(description="Versions in the group (for a policy: in its scope).")
    compliant: int = strawberry.field(
        description="How many of them are compliant (for a policy: satisfy it)."
    )


@strawberry.type(description="One policy violation of one version, in a compliance report.")
class ComplianceViolation:
    version_uri: str = strawberry.field(description="The version's URI.")
    registry: str = strawberry.field(description="Its registry's id.")
    team: str | None = strawberry.field(description="Its owning team; null when none.")
    model: str = strawberry.field(description="Its model's name.")
    version: str = strawberry.field(description="Its version id.")
    stage: str = strawberry.field(description="Its unified stage (DRAFT, STAGING, PRODUCTION, ARCHIVED).")
    policy: str = strawberry.field(description="The violated policy's id.")
    severity: str = strawberry.field(description="error or warning.")
    message: str = strawberry.field(description="What is wrong, in words.")


@strawberry.type(description="One violation of a page.")
class ViolationEdge:
    cursor: str = strawberry.field(description="Pass it as after for the violations that follow.")
    node: ComplianceViolation = strawberry.field(description="The violation.")


@strawberry.type(description="A page of a report's violations (Relay connection).")
class ViolationConnection:
    edges: list[ViolationEdge] = strawberry.field(description="The page's violations.")
    page_info: PageInfo = strawberry.field(description="Where the page lies: whether more follow.")
    total_count: int = strawberry.field(description="How many violations the report has in all.")


def _groups(groups: list[reports.ComplianceGroup]) -> list[ComplianceGroup]:
    return [ComplianceGroup(key=g.key, versions=g.versions, compliant=g.compliant) for g in groups]


@strawberry.type(
    description="Compliance of the catalogue (or a filtered part of it) with the governance policies."
)
class ComplianceReport:
    generated_at: datetime = strawberry.field(description="When the report was made (UTC).")
    as_of: datetime | None = strawberry.field(
        description="Set when the report was rebuilt from the audit log."
    )
    total_versions: int = strawberry.field(description="Versions the report covers.")
    compliant_versions: int = strawberry.field(description="How many of them are compliant.")
    by_team: list[ComplianceGroup] = strawberry.field(description="Per owning team.")
    by_registry: list[ComplianceGroup] = strawberry.field(description="Per registry.")
    by_policy: list[ComplianceGroup] = strawberry.field(
        description="Per policy: versions in its scope, and how many satisfy it."
    )
    _report: strawberry.Private[reports.ComplianceReport]

    @strawberry.field(description="Every violation, by version.")
    async def violations(
        self,
        first: Annotated[
            int | None, strawberry.argument(description=f"How many (0 to {MAX_VIOLATION_PAGE}; default 100).")
        ] = 100,
        after: Annotated[str | None, AFTER] = None,
    ) -> ViolationConnection:
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
describe_values(
    ReviewOutcome,
    {
        "APPROVED": "The version was revalidated: its periodic-review clock starts again.",
        "CHANGES_REQUESTED": "The reviewer asks for changes before approving.",
        "REJECTED": "The reviewer found the version unfit for its stage.",
    },
)
describe_values(
    inventory.ComplianceState,
    {
        "COMPLIANT": "No violation at all.",
        "WARNING": "Only warnings (a policy warning, a review overdue within its grace period).",
        "NON_COMPLIANT": "An error-severity violation, or a review overdue past its grace period.",
    },
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
    annex_iv_gaps: int | None = strawberry.field(
        name="annexIVGaps",
        description="How many facts the PRODUCTION version's EU AI Act Annex IV map lacks "
        "(ModelVersion.annexIV), from its record as it stands now; null without a PRODUCTION version.",
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


def _inventory_item(i: inventory.InventoryItem, gaps: Mapping[str, int]) -> InventoryItem:
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
        annex_iv_gaps=gaps.get(i.production_version) if i.production_version else None,
    )


# --- audit log ------------------------------------------------------------------------------


@strawberry.type(description="One entry of the append-only, hash-chained audit log.")
class AuditEvent:
    id: strawberry.ID = strawberry.field(description="The event's id (its sequence number).")
    sequence: int = strawberry.field(description="Its position in the chain, from 1.")
    at: datetime = strawberry.field(description="When it happened (UTC).")
    action: str = strawberry.field(description="What happened, e.g. promotion.applied, stage.synced.")
    principal: str = strawberry.field(description="Who did it.")
    subject: str | None = strawberry.field(
        description="What it was done to (usually a URI); null when nothing."
    )
    details: JSON = strawberry.field(description="The action's particulars, as a JSON object.")
    hash: str = strawberry.field(
        description="SHA-256 (HMAC-SHA-256 with the audit key) of this event and the previous hash, hex."
    )
    prev_hash: str | None = strawberry.field(description="The previous event's hash; null for the first.")


@strawberry.type(description="One audit event of a page.")
class AuditEventEdge:
    cursor: str = strawberry.field(description="Pass it as after for the (older) events that follow.")
    node: AuditEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of audit events, newest first (Relay connection).")
class AuditEventConnection:
    edges: list[AuditEventEdge] = strawberry.field(description="The page's events.")
    page_info: PageInfo = strawberry.field(description="Where the page lies: whether more follow.")
    total_count: int = strawberry.field(description="How many events match the filters in all.")


@strawberry.type(description="The result of checking the audit log's hash chain.")
class AuditVerification:
    ok: bool = strawberry.field(description="True when every event's hash and link checks out.")
    events: int = strawberry.field(description="How many events were checked.")
    head_hash: str | None = strawberry.field(description="The newest event's hash; null for an empty log.")
    bad_event: int | None = strawberry.field(description="Sequence number of the first bad event.")
    problem: str | None = strawberry.field(description="What is wrong, in words; null when ok.")
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
        filter: Annotated[
            SearchFilter | None, strawberry.argument(description="Which versions to report on.")
        ] = None,
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
        filter: Annotated[
            InventoryFilter | None, strawberry.argument(description="Which models to list; null: all.")
        ] = None,
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
        gaps = await info.context.gateway.governance.annex_iv_gaps(inv.items)
        return ComplianceInventory(
            generated_at=inv.generated_at,
            as_of=inv.as_of,
            total_models=len(inv.items),
            by_tier=[
                TierCount(tier=t.tier, models=t.models, overdue=t.overdue, non_compliant=t.non_compliant)
                for t in inv.by_tier()
            ],
            items=[_inventory_item(i, gaps) for i in inv.items],
        )

    @strawberry.field(description="The audit log, newest first (roles auditor, compliance, admin).")
    async def audit_events(
        self,
        info: Info[Context, None],
        first: Annotated[
            int | None, strawberry.argument(description=f"How many (0 to {MAX_AUDIT_PAGE}; default 50).")
        ] = 50,
        after: Annotated[str | None, AFTER] = None,
        subject: Annotated[
            str | None,
            strawberry.argument(
                description="A version URI, or a model URI for the model and all its versions."
            ),
        ] = None,
        principal: Annotated[
            str | None, strawberry.argument(description="Only events by this principal.")
        ] = None,
        action: Annotated[
            str | None,
            strawberry.argument(description='An action, or a prefix ending in "*" (e.g. "promotion.*").'),
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="Only events at or after this time.")
        ] = None,
        until: Annotated[
            datetime | None, strawberry.argument(description="Only events at or before this time.")
        ] = None,
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
        status: Annotated[
            str | None,
            strawberry.argument(
                description="Only requests in this status: PENDING | BLOCKED | REJECTED | APPLIED | FAILED."
            ),
        ] = None,
        uri: Annotated[str | None, strawberry.argument(description="Only requests for this version.")] = None,
        first: Annotated[
            int | None, strawberry.argument(description="How many at most (default 100).")
        ] = 100,
    ) -> list[PromotionRequestType]:
        if uri is not None:
            uri = await info.context.concrete(uri)
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

    return [
        r
        for r in found
        if r.version_uri not in hidden
        or access.takes_part(r.requested_by, r.required_roles, access.registry_team(r.registry_id))
    ]


REQUEST_ID = strawberry.argument(description="The promotion request's id.")


@strawberry.type
class GovernanceMutation:
    @strawberry.mutation(
        description="Ask for a version to move to another stage (needs the registry's team)."
    )
    async def request_promotion(
        self,
        info: Info[Context, None],
        uri: Annotated[
            str,
            strawberry.argument(
                description="The version's URI, mg://<registry>/<model>/<version>, or a reference "
                "(mg://<registry>/<model>@staging): resolved now, the request records the concrete version."
            ),
        ],
        target_stage: Annotated[
            StageEnum,  # type: ignore[valid-type]
            strawberry.argument(description="The stage to move it to."),
        ],
        reason: Annotated[
            str | None, strawberry.argument(description="Why, for the approvers and the audit log.")
        ] = None,
    ) -> PromotionRequestType:
        promotions = info.context.gateway.governance.promotions
        # A reference is resolved now: the request records the concrete version.
        uri = await info.context.concrete(uri)
        request = await promotions.request(info.context.principal, uri, Stage(target_stage), reason)
        return PromotionRequestType.from_domain(request)

    @strawberry.mutation(description="Approve for one still-missing role you hold (never your own request).")
    async def approve_promotion(
        self,
        info: Info[Context, None],
        request_id: Annotated[strawberry.ID, REQUEST_ID],
        comment: Annotated[
            str | None, strawberry.argument(description="A note recorded with the approval.")
        ] = None,
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
        request_id: Annotated[strawberry.ID, REQUEST_ID],
        comment: Annotated[str, strawberry.argument(description="Why it is rejected (required).")],
        role: Annotated[
            str | None, strawberry.argument(description="Which of your roles to reject as.")
        ] = None,
    ) -> PromotionRequestType:
        promotions = info.context.gateway.governance.promotions
        request = await promotions.reject(info.context.principal, str(request_id), comment, role)
        return PromotionRequestType.from_domain(request)

    @strawberry.mutation(
        description="Withdraw an open request (PENDING or FAILED) you made: it ends REJECTED, by you, with "
        "the reason. An admin may withdraw anyone's; a rollout's request ends by aborting the rollout."
    )
    async def withdraw_promotion(
        self,
        info: Info[Context, None],
        request_id: Annotated[strawberry.ID, REQUEST_ID],
        reason: Annotated[str | None, strawberry.argument(description="Why it is withdrawn.")] = None,
    ) -> PromotionRequestType:
        promotions = info.context.gateway.governance.promotions
        request = await promotions.withdraw_own(info.context.principal, str(request_id), reason)
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
            info.context.principal, await info.context.concrete(uri), comment, ReviewOutcome(outcome).value
        )
        return review_view(review)

    @strawberry.mutation(description="Write a FAILED promotion through again.")
    async def retry_promotion(
        self, info: Info[Context, None], request_id: Annotated[strawberry.ID, REQUEST_ID]
    ) -> PromotionRequestType:
        request = await info.context.gateway.governance.promotions.retry(
            info.context.principal, str(request_id)
        )
        return PromotionRequestType.from_domain(request)
