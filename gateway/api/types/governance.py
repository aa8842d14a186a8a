"""GraphQL views of governance: approvals, reviews, risk tiers, Annex IV and
policy compliance."""

from datetime import datetime
from typing import Any

import strawberry


@strawberry.type(description="One approval (or a rejection) of a version or a promotion request.")
class Approval:
    principal: str = strawberry.field(description="Who approved: the principal's name.")
    role: str = strawberry.field(description="The role they approved as.")
    comment: str | None = strawberry.field(description="Their comment; null when none was given.")
    at: datetime = strawberry.field(description="When (UTC).")


@strawberry.type(description="A review comment a registry recorded on a version.")
class Review:
    principal: str = strawberry.field(description="Who wrote it.")
    comment: str = strawberry.field(description="The review's text.")
    at: datetime = strawberry.field(description="When (UTC).")
    outcome: str | None = strawberry.field(
        default=None,
        description="APPROVED, CHANGES_REQUESTED or REJECTED for reviews recorded by addReview; "
        "null for a review the registry itself holds.",
    )


@strawberry.type(description="A model's risk tier and where it comes from.")
class RiskTier:
    tier: str | None = strawberry.field(description="The tier's name (null: no tier rule matched).")
    source: str = strawberry.field(
        description="rule (the policy file's tier rules) or override (setRiskTier)."
    )
    reason: str | None = strawberry.field(default=None, description="Why the tier was overridden.")
    set_by: str | None = strawberry.field(default=None, description="Who overrode the tier.")
    set_at: datetime | None = strawberry.field(default=None, description="When the tier was overridden.")


def risk_tier_view(assigned: Any) -> RiskTier:
    o = assigned.override
    return RiskTier(
        tier=assigned.tier,
        source=assigned.source,
        reason=o.reason if o else None,
        set_by=o.set_by if o else None,
        set_at=o.set_at if o else None,
    )


def review_view(r: Any) -> Review:
    return Review(principal=r.principal, comment=r.comment, at=r.at, outcome=r.outcome)


@strawberry.type(name="AnnexIVFact", description="A recorded fact that fills part of an Annex IV section.")
class AnnexIvFact:
    label: str = strawberry.field(description="What it documents (e.g. Intended purpose).")
    value: str = strawberry.field(description="The recorded value.")


@strawberry.type(name="AnnexIVGap", description="A fact an Annex IV section lacks, and where to record it.")
class AnnexIvGap:
    label: str = strawberry.field(description="What is missing (e.g. Training code).")
    field: str = strawberry.field(
        description="The field or tag that would hold it (e.g. trainingCode, tag annex_iv.standards)."
    )


@strawberry.type(
    name="AnnexIVSection",
    description="One of the nine sections of the EU AI Act's Annex IV (technical documentation): the "
    "recorded facts that fill it and the ones missing. Documentation support, not legal advice.",
)
class AnnexIvSection:
    number: int = strawberry.field(description="The section's number in Annex IV, 1 to 9.")
    title: str = strawberry.field(description="What the section asks for, in short.")
    filled: list[AnnexIvFact] = strawberry.field(description="The recorded facts that fill it.")
    missing: list[AnnexIvGap] = strawberry.field(description="The facts it lacks; empty when none.")


@strawberry.type(description="A governance policy a version does not satisfy.")
class PolicyViolation:
    policy: str = strawberry.field(description="The policy's id, from the policies file.")
    severity: str = strawberry.field(
        description="error (blocks promotion, makes the version non-compliant) or warning (reported only)."
    )
    message: str = strawberry.field(description="What is wrong, in words.")


@strawberry.type(description="A version's policy evaluation.")
class Compliance:
    compliant: bool = strawberry.field(description="True when no error-severity policy is violated.")
    violations: list[PolicyViolation] = strawberry.field(
        description="Every violated policy, warnings included; empty when all are satisfied."
    )
