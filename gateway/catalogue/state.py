"""What state each registry is in, decided once for GraphQL, ``/readyz`` and the CLI.

Two sources of truth are combined:

- the sync record in the gateway's database (``registry_state``: the last sync
  pass's outcome, when a full sync last completed, its error), shared by every
  replica;
- this process's circuit breaker for the registry (``gateway.resilience``),
  which sees every call made here, live reads included, the moment it fails.

The states (API.md "Registry state"):

``SYNCING``
    its first full sync has not completed (the index holds none or only some of
    its models), and nothing says it is down;
``UNAVAILABLE``
    its last call failed or ran past its deadline, its circuit is open, or the
    last sync pass failed and no call since has been answered;
``DEGRADED``
    it has completed a sync and answers calls, but the index may be stale or
    incomplete: its last sync pass failed (and a later call was answered, so it
    is recovering), or the last pass completed while some models could not be
    read (``last_error`` names them), or it held removals past the registry's
    ``max_removal_share`` (``last_error`` says how many, and how to confirm);
``HEALTHY``
    otherwise.

A registry that is ``SYNCING`` or ``UNAVAILABLE`` makes every catalogue answer
carry a ``REGISTRY_UNAVAILABLE`` error naming it (``StateReport.error``).

A half-open circuit is not a state of its own: it opens only after failures,
so the last call failed and the registry stays ``UNAVAILABLE`` until the trial
call is answered.

What a registry said when it failed (a reason, a sync's ``last_error``) may
quote request paths and the models a sync skipped, restricted ones included.
Who reads it is ``AccessPolicy.reads_registry_errors``'s rule; everyone else
gets the same state with a reason in the gateway's own words
(``StateReport.without_detail``, ``error_summary``), and so does ``/readyz``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from adapters.base import endpoint_of
from gateway.catalogue.index import RegistryHealth
from gateway.errors import RegistryUnavailable
from gateway.resilience import BreakerState


class RegistryState(enum.Enum):
    SYNCING = "SYNCING"
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNAVAILABLE = "UNAVAILABLE"


# States whose registry's part of an answer may be missing: reported as errors.
REPORTED = frozenset({RegistryState.SYNCING, RegistryState.UNAVAILABLE})


@dataclass(frozen=True)
class StateReport:
    registry_id: str
    state: RegistryState
    reason: str | None  # why it is not HEALTHY, in words an operator can act on
    url: str | None  # where the gateway calls it, if its adapter says
    synced_at: datetime | None
    # The reason in the gateway's own words, quoting nothing the registry said.
    summary: str | None = None

    def without_detail(self) -> StateReport:
        """This report for a reader who may not read what the registry said."""
        return replace(self, reason=self.summary)

    @property
    def reported(self) -> bool:
        """Whether answers covering this registry must carry an error about it."""
        return self.state in REPORTED

    def error(self, subject: str | None = None) -> RegistryUnavailable:
        """The ``REGISTRY_UNAVAILABLE`` error for answers covering this registry;
        ``subject`` (a URI the index could not answer) leads the message."""
        synced = self.synced_at.isoformat() if self.synced_at else None
        if self.state is RegistryState.SYNCING:
            detail = "its first sync has not finished, so the catalogue may lack some of its models"
        else:
            served = (
                f"its results come from the index (synced {synced})"
                if synced
                else "it has never completed a sync, so the catalogue lacks its models"
            )
            detail = f"{self.reason or 'unavailable'}; {served}"
        if subject:
            detail = f"{subject} is not in the catalogue index and cannot be read now: {detail}"
        extensions: dict[str, Any] = {"state": self.state.value}
        if self.url:
            extensions["url"] = self.url
        return RegistryUnavailable(self.registry_id, detail, **extensions)


def _without_prefix(registry_id: str, message: str | None) -> str | None:
    return message.removeprefix(f"registry {registry_id}: ") if message else message


SYNC_FAILED = "its last sync failed"
SYNC_PARTIAL = "its last sync could not read everything (some models or version details)"
CALL_FAILED = "its last call failed"
CIRCUIT_OPEN = "circuit open after repeated failures"
FIRST_SYNC = "first sync not finished"
SYNC_HELD = "its last sync would have removed most of its models, so its removals are held"
# The sync engine's held-removal message starts so (counts only, no names).
_HELD_PREFIX = "sync held:"


def _partial_summary(sync_error: str) -> str:
    return SYNC_HELD if sync_error.startswith(_HELD_PREFIX) else SYNC_PARTIAL


def error_summary(health: RegistryHealth | None) -> str | None:
    """A sync's ``last_error`` in the gateway's own words (None: no error)."""
    if health is None or not health.last_error:
        return None
    return _partial_summary(health.last_error) if health.healthy else SYNC_FAILED


def registry_state(registry_id: str, health: RegistryHealth | None, adapter: object | None) -> StateReport:
    """The state of one registry from its sync record (None: no sync has recorded
    anything yet) and its adapter (its breaker, when guarded)."""
    breaker = getattr(adapter, "breaker", None)
    circuit = breaker.state if breaker is not None else None
    last_failure: str | None = breaker.last_failure if breaker is not None else None
    # A half-open circuit has a failure on record, so it counts as failing too.
    failing_now = circuit is BreakerState.OPEN or last_failure is not None
    answered_since = breaker is not None and breaker.answered and not failing_now
    synced_at = health.synced_at if health else None
    sync_failed = health is not None and not health.healthy
    sync_error = _without_prefix(registry_id, health.last_error if health else None)

    def report(state: RegistryState, reason: str | None, summary: str | None) -> StateReport:
        return StateReport(registry_id, state, reason, endpoint_of(adapter), synced_at, summary)

    if failing_now:
        if circuit is BreakerState.OPEN and last_failure is None:
            return report(RegistryState.UNAVAILABLE, CIRCUIT_OPEN, CIRCUIT_OPEN)
        reason = _without_prefix(registry_id, last_failure) or sync_error
        return report(RegistryState.UNAVAILABLE, reason, CALL_FAILED)
    if synced_at is None:
        if sync_failed and not answered_since:
            return report(RegistryState.UNAVAILABLE, sync_error, SYNC_FAILED)
        return report(RegistryState.SYNCING, FIRST_SYNC, FIRST_SYNC)
    if sync_failed:
        if answered_since:
            recovering = "answers again, but its last sync failed"
            return report(RegistryState.DEGRADED, f"{recovering}: {sync_error}", recovering)
        return report(RegistryState.UNAVAILABLE, sync_error, SYNC_FAILED)
    if sync_error:  # the last pass completed, but skipped what it could not read or held removals
        return report(RegistryState.DEGRADED, sync_error, _partial_summary(sync_error))
    return report(RegistryState.HEALTHY, None, None)


def registry_states(
    registry_ids: list[str], health: Mapping[str, RegistryHealth], adapters: Mapping[str, object]
) -> dict[str, StateReport]:
    return {rid: registry_state(rid, health.get(rid), adapters.get(rid)) for rid in registry_ids}
