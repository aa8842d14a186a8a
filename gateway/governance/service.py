"""Governance, wired: one object the runtime, the API, the HTTP downloads and the
CLI share. It owns the compiled policy set and hands out the parts."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.protocol import RegistryAdapter, ServingReader
from gateway.auth.principal import Principal
from gateway.catalogue.index import CatalogueIndex, SearchFilter
from gateway.catalogue.sync import SyncEngine
from gateway.codec import version_to_dict
from gateway.config import RegistrySettings
from gateway.domain import ModelVersion, Review, Stage, utcnow, version_sort_key
from gateway.errors import BadInput, Forbidden
from gateway.governance import audit, inventory, reports, retention, reviews, tier_store
from gateway.governance.annex_iv import annex_iv_map
from gateway.governance.compliance import BUILTIN_REVISION, ComplianceRecorder, ReevaluationResult
from gateway.governance.evaluation import Evaluation, Subject, Violation
from gateway.governance.evaluator import Evaluator
from gateway.governance.policies import PolicySet
from gateway.governance.promotions import PromotionParts, Promotions
from gateway.store.database import Database, ReadConnection
from gateway.store.sql import any_of, insert_ignore
from gateway.store.tables import catalogue_versions as cv
from gateway.store.tables import governance_state as gs
from gateway.store.tables import governance_violations as gv
from gateway.upkeep import UpkeepProgress

log = logging.getLogger(__name__)

POLICY_DIGEST = "policy_digest"  # the digest recorded by the last policy.changed event
EVALUATED_DIGEST = "evaluated_digest"  # the digest the stored evaluation was made with
TIER_ROLE = "compliance"  # who may override a model's risk tier (besides admin)


@dataclass(frozen=True)
class StoredCompliance:
    compliant: bool
    violations: tuple[Violation, ...]


class Governance:
    def __init__(
        self,
        database: Database,
        index: CatalogueIndex,
        adapters: Mapping[str, RegistryAdapter],
        sync: SyncEngine,
        registries: Mapping[str, RegistrySettings],
        policies: PolicySet,
    ):
        self.db = database
        self.index = index
        self.policies = policies
        self.evaluator = Evaluator(policies)
        serving = frozenset(rid for rid, a in adapters.items() if isinstance(a, ServingReader))
        self.compliance = ComplianceRecorder(self.evaluator, serving)
        self.registries = registries
        parts = PromotionParts(database, index, adapters, sync, self.evaluate)
        self.promotions = Promotions(parts, registries, policies, self.tier_of)

    def attach(self) -> None:
        """Keep compliance current as the index changes (inside its transactions)."""
        if self.compliance not in self.index.listeners:
            self.index.listeners.append(self.compliance)

    # --- policy changes ------------------------------------------------------------

    async def start(self) -> ReevaluationResult | None:
        """At start: record a policy change (with the file digest) in the audit log,
        and re-evaluate the whole index if the stored evaluation used other policies.

        The event and the digest commit together; the re-evaluation is recorded as
        done only after it finished, so a crash in the middle redoes it next start.
        A server does the two apart: ``record_policies`` before it serves, then
        ``reevaluate_if_needed`` in the background (``gateway.upkeep``).
        """
        await self.record_policies()
        return await self.reevaluate_if_needed()

    async def record_policies(self) -> None:
        """Record a policy change (the file digest differs from the recorded one)."""
        digest = self.policies.digest
        async with self.db.write() as conn:
            # Replicas starting together must record one change, not one each.
            await audit.lock_chain(conn)
            recorded = await _state(conn, POLICY_DIGEST)
            if recorded != digest:
                await _set_state(conn, POLICY_DIGEST, digest)
                await audit.append(
                    conn,
                    "policy.changed",
                    audit.SYSTEM,
                    self.policies.source,
                    {"previous": recorded, **self.policies.summary()},
                )

    def _evaluated_with(self) -> str:
        # The stored evaluation used these policies and these built-in checks.
        return f"{self.policies.digest}+{BUILTIN_REVISION}"

    async def reevaluation_needed(self) -> bool:
        async with self.db.read() as conn:
            return await _state(conn, EVALUATED_DIGEST) != self._evaluated_with()

    async def reevaluate_if_needed(self, progress: UpkeepProgress | None = None) -> ReevaluationResult | None:
        """Re-evaluate every indexed version if the stored evaluation used other
        policies; ``progress`` follows it (models judged)."""
        if not await self.reevaluation_needed():
            return None
        result = await self.compliance.reevaluate_all(self.db, progress=progress)
        async with self.db.write() as conn:
            await _set_state(conn, EVALUATED_DIGEST, self._evaluated_with())
        log.info(
            "policies %s: re-evaluated %d versions in %.2fs (%d changed)",
            self.policies.digest[:12] or "(none)",
            result.versions,
            result.seconds,
            result.changed,
        )
        return result

    # --- evaluation ----------------------------------------------------------------

    async def evaluate(self, version: ModelVersion, stage: Stage | None = None) -> Evaluation:
        """Judge one version now (as if it had ``stage``), knowing its model's other versions."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(cv.c.version, cv.c.record).where(cv.c.model_uri == version.model_uri)
                )
            ).all()
        key = version_sort_key(version.version)
        earlier = [r for r in rows if version_sort_key(r.version) < key]
        previous = max(earlier, key=lambda r: version_sort_key(r.version)).record if earlier else None
        team = version.team
        if team is None:
            model = await self.index.get_model(version.model_uri)
            team = model.team if model else None
        tier = await self.tier_of(version.model_uri)
        return self.evaluator.evaluate(Subject(version_to_dict(version), team, previous, stage, tier))

    # --- risk tiers and reviews -------------------------------------------------------

    async def tiers_of(self, model_uris: Sequence[str]) -> dict[str, tier_store.AssignedTier]:
        """Each indexed model's tier and where it comes from (absent: not indexed)."""
        tiers = self.policies.tiers
        models = await self.index.get_models(list(model_uris))
        async with self.db.read() as conn:
            found = await tier_store.overrides(conn, list(model_uris))
        return {uri: tier_store.assigned(tiers, m, found.get(uri)) for uri, m in models.items()}

    async def tier_of(self, model_uri: str) -> str | None:
        if not self.policies.tiers.tiers:
            return None
        assigned = (await self.tiers_of([model_uri])).get(model_uri)
        return assigned.tier if assigned else None

    async def set_risk_tier(
        self, principal: Principal, model_uri: str, tier: str | None, reason: str
    ) -> tier_store.AssignedTier:
        """Override a model's tier (``tier`` None: back to the rules); audited. The
        model's versions are judged again, since policies may be scoped by tier."""
        if not principal.is_admin and not principal.has_role(TIER_ROLE):
            raise Forbidden(f"{principal.name} needs the role {TIER_ROLE} or admin to set a risk tier")
        if not reason or not reason.strip():
            raise BadInput("a risk tier override needs a reason", field="reason")
        if tier is not None and tier not in self.policies.tiers.names:
            raise BadInput(
                f"unknown tier {tier!r} (tiers: {', '.join(self.policies.tiers.names) or 'none defined'})",
                field="tier",
            )
        # A model hidden from them is absent, compliance role or not (no oracle, no write).
        model = await self.promotions.access(principal).visible_model(self.index, model_uri)
        async with self.db.write() as conn:
            previous = tier_store.assigned(
                self.policies.tiers, model, (await tier_store.overrides(conn, [model_uri])).get(model_uri)
            )
            await tier_store.set_override(conn, model_uri, tier, reason, principal.name, previous.tier)
        await self.compliance.reevaluate_models(self.db, [model_uri], principal.name)
        return (await self.tiers_of([model_uri]))[model_uri]

    async def add_review(self, principal: Principal, uri: str, comment: str, outcome: str) -> Review:
        """Record a review of a version (audited); APPROVED resets its review clock.
        It answers as ``requestPromotion`` does: the visibility gate first (a version
        hidden from the principal is NOT_FOUND, whatever roles they hold), then who
        may review: an audit role (auditor, compliance, admin) or a role that can
        approve this model's promotions."""
        access = self.promotions.access(principal)
        version: ModelVersion = await access.visible_version(self.index, uri)
        checked = reviews.check_review(comment, outcome)
        team = await self.promotions.team_of(version)
        approver_roles = {r for rule in self.policies.promotions for r in rule.approvals}
        if not access.can_read_audit and not access.approvable(sorted(approver_roles), team):
            raise Forbidden(
                f"{principal.name} may not review {uri}: reviewers hold auditor, compliance or admin, "
                f"or an approval role for team {team or '(none)'}"
            )
        async with self.db.write() as conn:
            return await reviews.add(conn, version, principal.name, comment.strip(), checked)

    async def reviews_of(self, version_uris: Sequence[str]) -> dict[str, list[Review]]:
        async with self.db.read() as conn:
            return await reviews.reviews_of(conn, version_uris)

    async def review_states(
        self, versions: Sequence[ModelVersion], now: datetime | None = None
    ) -> dict[str, reviews.ReviewState]:
        """Where each version stands on its tier's review clock."""
        now = now or utcnow()
        uris = [v.uri for v in versions]
        tiers = await self.tiers_of(list({v.model_uri for v in versions}))
        async with self.db.read() as conn:
            recorded = await reviews.reviews_of(conn, uris)
            since = await reviews.production_since(conn, uris)
        found = {}
        for v in versions:
            assigned = tiers.get(v.model_uri)
            tier = self.policies.tiers.get(assigned.tier if assigned else None)
            found[v.uri] = reviews.review_state(
                tier, v.stage, since.get(v.uri) or v.created_at, recorded.get(v.uri, []), now
            )
        return found

    async def annex_iv_gaps(self, items: Sequence[inventory.InventoryItem]) -> dict[str, int]:
        """The Annex IV gap count of each item's PRODUCTION version (by its URI), from
        the version record as the index holds it now and the item's tier."""
        tiers = {i.production_version: i.tier for i in items if i.production_version}
        versions = await self.index.get_versions(list(tiers))
        return {uri: len(annex_iv_map(v, tiers[uri]).gaps) for uri, v in versions.items()}

    async def inventory(
        self, f: inventory.InventoryFilter, as_of: datetime | None = None, now: datetime | None = None
    ) -> inventory.Inventory:
        return await inventory.build(self.db, self.policies.tiers, f, as_of, now)

    async def stored_compliance(self, uris: Sequence[str]) -> dict[str, StoredCompliance]:
        """The stored evaluation of indexed versions, in one query (absent: not indexed)."""
        found: dict[str, StoredCompliance] = {}
        if not uris:
            return found
        query = (
            select(cv.c.uri, cv.c.compliant, gv.c.policy_id, gv.c.severity, gv.c.message)
            .select_from(cv.outerjoin(gv, gv.c.version_uri == cv.c.uri))
            .where(any_of(self.db.dialect, cv.c.uri, list(uris)))
            .order_by(cv.c.uri, gv.c.policy_id)
        )
        violations: dict[str, list[Violation]] = {}
        compliant: dict[str, bool] = {}
        async with self.db.read() as conn:
            for row in await conn.execute(query):
                compliant[row.uri] = row.compliant is not False
                bucket = violations.setdefault(row.uri, [])
                if row.policy_id is not None:
                    bucket.append(Violation(row.policy_id, row.severity, row.message))
        for uri, ok in compliant.items():
            found[uri] = StoredCompliance(ok, tuple(violations.get(uri, ())))
        return found

    # --- audit ----------------------------------------------------------------------

    async def audit_registration(self, conn: AsyncConnection, version: ModelVersion) -> None:
        """The native registry's ``within=`` hook: a registration and its event commit together."""
        await audit.append(
            conn,
            "version.registered",
            version.created_by or audit.SYSTEM,
            version.uri,
            {
                "stage": version.stage.value,
                "semver": version.semver,
                "artifactUri": version.artifact_uri,
                "artifactDigest": version.artifact_digest,
                "trainingData": [
                    {"uri": d.uri, "role": d.role, "digest": d.digest} for d in version.training_data
                ],
                "metrics": dict(version.metrics),
                "parent": version.parent,
            },
        )

    async def verify_audit(self, expect_head: str | None = None) -> audit.Verification:
        return await audit.verify(self.db, expect_head=expect_head)

    # --- reports and retention ------------------------------------------------------------

    async def report(self, f: SearchFilter, as_of: datetime | None = None) -> reports.ComplianceReport:
        if as_of is not None:
            return await reports.report_as_of(self.db, f, as_of)
        return await reports.current_report(self.db, self.policies, f)

    async def retention_plan(self, now: datetime | None = None) -> list[retention.RetentionCandidate]:
        return await retention.plan(self.db, self.policies, now or utcnow())

    async def retention_apply(self, now: datetime | None = None) -> list[retention.RetentionOutcome]:
        return await retention.apply(self.promotions, await self.retention_plan(now))


async def _state(conn: ReadConnection, key: str) -> str | None:
    return (await conn.execute(select(gs.c.value).where(gs.c.key == key))).scalar()


async def _set_state(conn: AsyncConnection, key: str, value: str) -> None:
    now = utcnow()
    await insert_ignore(conn, gs, {"key": key, "value": value, "updated_at": now})
    await conn.execute(update(gs).where(gs.c.key == key).values(value=value, updated_at=now))
