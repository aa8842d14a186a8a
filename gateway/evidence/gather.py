"""What an evidence pack holds, gathered from the gateway: the version record,
its tier, approvals, reviews, policy results, deployment history, lineage and
the audit events about it with the chain's head.

The version's own record is compliance evidence, which audit roles read for
restricted models too (docs/operations/security.md, "Auditors and restricted models"). Its lineage is
not: it comes through the one lineage gate (``LineageService.visible_graph``)
for whoever asks, so a pack shows the graph that principal's GraphQL
``lineage`` would, and none for a version hidden from them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from gateway.auth.access import AccessPolicy
from gateway.domain import Approval, Model, ModelVersion, Review, utcnow
from gateway.errors import BadInput, NotFound
from gateway.governance import audit
from gateway.governance.annex_iv import AnnexIvMap, annex_iv_map
from gateway.governance.evaluation import Violation
from gateway.governance.promotions import PromotionRequest
from gateway.governance.reviews import ReviewState
from gateway.lineage.graph import Graph
from gateway.lineage.walk import Direction

if TYPE_CHECKING:
    from gateway.runtime import Gateway

STAGE_ACTIONS = frozenset({*audit.STAGE_ACTIONS, "version.registered"})
MAX_EVENTS = 5000  # a pack lists at most this many audit events (the newest are kept)


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    severity: str
    description: str | None
    passed: bool
    message: str | None = None


@dataclass
class Evidence:
    version: ModelVersion
    model: Model | None
    tier: str | None
    tier_source: str | None
    team: str | None
    approvals: list[Approval]
    reviews: list[Review]
    promotions: list[PromotionRequest]
    policies: list[PolicyResult]
    compliant: bool
    review: ReviewState
    events: list[audit.AuditEvent]
    chain_events: int
    chain_head: str | None
    chain_ok: bool
    chain_problem: str | None
    graph: Graph | None  # None: the version is hidden from the reader in the catalogue
    annex_iv: AnnexIvMap
    generated_at: datetime = field(default_factory=utcnow)

    @property
    def stage_history(self) -> list[audit.AuditEvent]:
        return [e for e in self.events if e.action in STAGE_ACTIONS]


async def gather(gateway: Gateway, uri: str, access: AccessPolicy) -> Evidence:
    """Everything the pack shows ``access``'s principal about version ``uri``
    (raises NotFound/BadInput)."""
    if not uri.startswith("mg://") or uri.count("/") != 4:
        raise BadInput(f"{uri!r} is not a version URI (mg://<registry>/<model>/<version>)", field="uri")
    governance = gateway.governance
    version = await gateway.index.get_version(uri)
    if version is None:
        raise NotFound(f"no version {uri} in the catalogue", field="uri")
    model = await gateway.index.get_model(version.model_uri)
    team = await governance.promotions.team_of(version)
    assigned = (await governance.tiers_of([version.model_uri])).get(version.model_uri)
    tier = assigned.tier if assigned else None
    promotions = await governance.promotions.find(version_uri=uri, limit=500)
    applied = (await governance.promotions.applied_approvals([uri]))[uri]
    approvals = [*version.approvals, *applied]
    reviews = [*version.reviews, *(await governance.reviews_of([uri]))[uri]]
    stored = (await governance.stored_compliance([uri])).get(uri)
    violations: tuple[Violation, ...]
    if stored is not None:
        compliant, violations = stored.compliant, stored.violations
    else:
        evaluation = await governance.evaluate(version)
        compliant, violations = evaluation.compliant, evaluation.violations
    failed = {v.policy: v for v in violations}
    results = [
        PolicyResult(
            p.id,
            p.severity,
            p.description,
            p.id not in failed,
            failed[p.id].message if p.id in failed else None,
        )
        for p in governance.evaluator.applicable(version.stage.value, team, version.registry_id, tier)
    ]
    known = {r.policy for r in results}
    results += [
        PolicyResult(v.policy, v.severity, None, False, v.message)
        for v in violations
        if v.policy not in known
    ]
    review = (await governance.review_states([version]))[uri]
    events = [e async for e in audit.iter_events(gateway.database, audit.AuditFilter(subject=uri))][
        -MAX_EVENTS:
    ]
    verification = await governance.verify_audit()
    graph = None
    if not await access.hidden_uris(gateway.index, [uri]):
        graph = await gateway.lineage.visible_graph(
            uri, access, Direction.BOTH, 2, version=version, registry_lineage=False
        )
    return Evidence(
        version=version,
        model=model,
        tier=tier,
        tier_source=assigned.source if assigned else None,
        team=team,
        approvals=approvals,
        reviews=reviews,
        promotions=promotions,
        policies=results,
        compliant=compliant,
        review=review,
        events=events,
        chain_events=verification.events,
        chain_head=verification.head_hash,
        chain_ok=verification.ok,
        chain_problem=verification.problem,
        graph=graph,
        annex_iv=annex_iv_map(version if version.team else dataclasses.replace(version, team=team), tier),
    )
