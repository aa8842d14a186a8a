"""A promotion request as the workflow and its write-through see it: its
status and its record (see gateway.governance.promotions for the workflow)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from adapters.protocol import RegistryAdapter
from gateway.catalogue.index import CatalogueIndex
from gateway.catalogue.sync import SyncEngine
from gateway.domain import Approval, ModelVersion, Stage
from gateway.governance.evaluation import Evaluation, Violation
from gateway.store.database import Database

__all__ = ["BeforeWrite", "Judge", "PromotionParts", "PromotionRequest", "PromotionStatus"]

# Judges a version against the policies, optionally as if it had another stage.
Judge = Callable[[ModelVersion, Stage | None], Awaitable[Evaluation]]
# Runs before a request's stage is written; a GatewayError fails the request with its message.
BeforeWrite = Callable[["PromotionRequest"], Awaitable[None]]


@dataclass(frozen=True)
class PromotionParts:
    """What the promotion workflow and its write-through both work with: the store,
    the catalogue, the registries' adapters and sync, and the policy judge."""

    database: Database
    index: CatalogueIndex
    adapters: Mapping[str, RegistryAdapter]
    sync: SyncEngine
    judge: Judge


class PromotionStatus(enum.StrEnum):
    PENDING = "PENDING"
    BLOCKED = "BLOCKED"
    REJECTED = "REJECTED"
    APPLIED = "APPLIED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class PromotionRequest:
    id: str
    version_uri: str
    registry_id: str
    from_stage: Stage
    target_stage: Stage
    reason: str | None
    status: PromotionStatus
    requested_by: str
    required_roles: tuple[str, ...]
    approvals: tuple[Approval, ...]
    violations: tuple[Violation, ...]
    error: str | None
    attempts: int
    applying: bool  # a write-through is claimed and under way
    rejection: Approval | None
    created_at: datetime
    updated_at: datetime
    held: bool = False  # written through by its rollout, not by the last approval

    @property
    def missing_roles(self) -> tuple[str, ...]:
        """Roles still without an approval (none once applied)."""
        if self.status is PromotionStatus.APPLIED:
            return ()
        done = {a.role for a in self.approvals}
        return tuple(r for r in self.required_roles if r not in done)
