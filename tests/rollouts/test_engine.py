"""``gateway.rollouts.engine`` state by state, without a server: an in-memory
registry that shifts traffic and reports error rates, the real store and
promotions, and a clock the test moves (watch times pass when it says so)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.auth.principal import Principal
from gateway.catalogue.index import CatalogueIndex
from gateway.catalogue.sync import SyncEngine
from gateway.config import RegistrySettings
from gateway.domain import Endpoint, Stage, TrafficShare
from gateway.errors import BadInput, Conflict
from gateway.governance.policies import parse_policies
from gateway.governance.service import Governance
from gateway.rollouts.engine import RolloutEngine
from gateway.rollouts.records import RolloutStatus
from gateway.store.database import Database
from tests.fakes.memory_registry import MemoryRegistry

ENDPOINT = "ep-ranker"
CURRENT, CANDIDATE = "mg://mem/ranker/1", "mg://mem/ranker/2"
ALICE = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))
BOB = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CanaryRegistry(MemoryRegistry):
    """Serves ``ranker`` v1 on variant ``current`` and v2 on ``candidate`` (0 %);
    shifts traffic as told and reports the error rate the test sets."""

    def __init__(self, registry_id: str) -> None:
        super().__init__(registry_id)
        self.traffic: tuple[TrafficShare, ...] = (
            TrafficShare(100.0, CURRENT, "current"),
            TrafficShare(0.0, CANDIDATE, "candidate"),
        )
        self.shifts: list[dict[str, float]] = []
        self.rate: float | None = 0.0
        self.rate_windows: list[tuple[str | None, datetime, datetime]] = []

    async def endpoint_traffic(self, endpoint: str) -> Endpoint:
        return Endpoint(endpoint, endpoint, self.registry_id, "InService", self.traffic)

    async def set_traffic(self, endpoint: str, shares: Sequence[TrafficShare]) -> Endpoint:
        by_variant = {s.variant: s.percent for s in shares}
        self.shifts.append({str(k): v for k, v in by_variant.items()})
        self.traffic = tuple(
            TrafficShare(by_variant.get(s.variant, 0.0), s.version_uri, s.variant) for s in self.traffic
        )
        return await self.endpoint_traffic(endpoint)

    async def error_rate(
        self, endpoint: str, variant: str | None, start: datetime, end: datetime
    ) -> float | None:
        self.rate_windows.append((variant, start, end))
        return self.rate

    def percents(self) -> dict[str | None, float]:
        return {s.variant: s.percent for s in self.traffic}


@dataclass
class Setup:
    engine: RolloutEngine
    registry: CanaryRegistry
    clock: Clock
    database: Database

    async def start(self, **kw: Any) -> str:
        kw.setdefault("steps", [10, 50, 100])
        kw.setdefault("step_seconds", 60)
        kw.setdefault("max_error_rate", 0.05)
        return (await self.engine.start(ALICE, CANDIDATE, ENDPOINT, **kw)).id

    async def status(self, rollout_id: str) -> RolloutStatus:
        return (await self.engine.get(rollout_id)).status

    def other_replica(self) -> RolloutEngine:
        e = self.engine
        return RolloutEngine(
            e.db, e.adapters, e.promotions, owner="replica-b", clock=self.clock, lease_seconds=60
        )


async def build(database: Database, policies: str = "policies: []\n") -> Setup:
    registry = CanaryRegistry("mem")
    registry.put("ranker", versions=2)
    index = CatalogueIndex(database)
    adapters = {"mem": registry}
    settings = {"mem": RegistrySettings(id="mem", kind="memory", team="ml")}
    sync = SyncEngine(index, adapters, settings)  # type: ignore[arg-type]
    assert not (await sync.sync_registry("mem", full=True)).error
    governance = Governance(database, index, adapters, sync, settings, parse_policies(policies))  # type: ignore[arg-type]
    clock = Clock()
    engine = RolloutEngine(
        database,
        adapters,
        governance.promotions,
        owner="replica-a",
        clock=clock,
        lease_seconds=60,  # type: ignore[arg-type]
    )
    return Setup(engine, registry, clock, database)


@pytest.fixture
async def database(tmp_path: Any) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/rollouts.db")
    await db.migrate()
    yield db
    await db.aclose()


@pytest.fixture
async def setup(database: Database) -> Setup:
    return await build(database)


async def test_steps_advance_only_when_the_clock_passes_each_watch_time(setup: Setup) -> None:
    rid = await setup.start()
    assert await setup.status(rid) is RolloutStatus.PENDING_APPROVAL
    assert setup.registry.shifts == []  # nothing is shifted before a replica drives it

    assert await setup.engine.drive(rid)
    assert await setup.status(rid) is RolloutStatus.RUNNING
    assert setup.registry.percents() == {"current": 90.0, "candidate": 10.0}

    # Within the watch time: no error rate is read, nothing moves.
    setup.clock.advance(59)
    await setup.engine.drive(rid)
    assert setup.registry.rate_windows == []
    assert setup.registry.percents()["candidate"] == 10.0

    setup.clock.advance(1)
    await setup.engine.drive(rid)
    assert setup.registry.percents() == {"current": 50.0, "candidate": 50.0}
    # The judged window is the step's, from its confirmed shift to now.
    (variant, start, end) = setup.registry.rate_windows[0]
    assert (variant, end - start) == ("candidate", timedelta(seconds=60))

    setup.clock.advance(60)
    await setup.engine.drive(rid)
    assert setup.registry.percents() == {"current": 0.0, "candidate": 100.0}
    assert await setup.status(rid) is RolloutStatus.RUNNING  # the last step is watched too

    setup.clock.advance(60)
    await setup.engine.drive(rid)
    rollout = await setup.engine.get(rid)
    assert rollout.status is RolloutStatus.SUCCEEDED
    # PRODUCTION is written through to the registry.
    assert setup.registry.versions["ranker"]["2"].stage is Stage.PRODUCTION
    assert [s["candidate"] for s in setup.registry.shifts] == [10.0, 50.0, 100.0]
    assert len(setup.registry.rate_windows) == 3


async def test_an_error_rate_above_the_limit_restores_the_traffic(setup: Setup) -> None:
    rid = await setup.start()
    await setup.engine.drive(rid)
    setup.clock.advance(60)
    await setup.engine.drive(rid)  # step 1 passes: 50 %
    setup.registry.rate = 0.2
    setup.clock.advance(60)
    await setup.engine.drive(rid)
    rollout = await setup.engine.get(rid)
    assert rollout.status is RolloutStatus.ROLLED_BACK
    assert "0.2000 above 0.0500 at step 2" in (rollout.outcome or "")
    assert setup.registry.percents() == {"current": 100.0, "candidate": 0.0}  # as it was before
    assert setup.registry.versions["ranker"]["2"].stage is not Stage.PRODUCTION
    # Finished: further passes change nothing.
    shifts = len(setup.registry.shifts)
    setup.clock.advance(600)
    assert not await setup.engine.drive(rid)
    assert len(setup.registry.shifts) == shifts


async def test_an_error_rate_at_the_limit_passes_and_no_traffic_passes(setup: Setup) -> None:
    rid = await setup.start(steps=[50, 100])
    await setup.engine.drive(rid)
    setup.registry.rate = 0.05  # equal to the limit: not above it
    setup.clock.advance(60)
    await setup.engine.drive(rid)
    setup.registry.rate = None  # no request reached the candidate: nothing to judge against
    setup.clock.advance(60)
    await setup.engine.drive(rid)
    assert await setup.status(rid) is RolloutStatus.SUCCEEDED


async def test_abort_restores_the_traffic_at_once(setup: Setup) -> None:
    rid = await setup.start()
    await setup.engine.drive(rid)
    assert setup.registry.percents()["candidate"] == 10.0
    with pytest.raises(BadInput):
        await setup.engine.abort(ALICE, rid, "  ")  # an abort needs a reason
    aborted = await setup.engine.abort(ALICE, rid, "wrong build")
    # This replica could take the lease, so the restore is done, not only requested.
    assert aborted.status is RolloutStatus.ABORTED
    assert aborted.outcome == "aborted by alice: wrong build"
    assert setup.registry.percents() == {"current": 100.0, "candidate": 0.0}
    with pytest.raises(Conflict):
        await setup.engine.abort(ALICE, rid, "again")


async def test_an_abort_while_another_replica_drives_is_carried_out_by_it(setup: Setup) -> None:
    rid = await setup.start()
    other = setup.other_replica()
    assert await other.drive(rid)  # b holds the lease
    requested = await setup.engine.abort(ALICE, rid, "stop")
    assert requested.status is RolloutStatus.RUNNING  # a cannot restore while b holds it
    assert setup.registry.percents()["candidate"] == 10.0
    await other.drive(rid)
    assert await setup.status(rid) is RolloutStatus.ABORTED
    assert setup.registry.percents() == {"current": 100.0, "candidate": 0.0}


async def test_a_held_lease_keeps_other_replicas_out_until_it_expires(setup: Setup) -> None:
    rid = await setup.start()
    assert await setup.engine.drive(rid)  # replica a takes the lease
    other = setup.other_replica()
    setup.clock.advance(60)  # the step is due, but the lease is a's for 60 s from its last pass
    assert not await other.drive(rid)
    assert setup.registry.percents()["candidate"] == 10.0
    setup.clock.advance(1)  # a's lease has expired: b takes over from the stored state
    assert await other.drive(rid)
    assert setup.registry.percents()["candidate"] == 50.0


async def test_one_rollout_per_endpoint(setup: Setup) -> None:
    await setup.start()
    with pytest.raises(Conflict):
        await setup.start()


async def test_a_plan_and_a_reader_are_checked_before_anything_is_stored(setup: Setup) -> None:
    with pytest.raises(BadInput):
        await setup.start(steps=[50, 10])  # steps must rise to 100
    with pytest.raises(BadInput):
        await setup.engine.start(ALICE, "mg://mem/ranker", ENDPOINT)  # a model, not a version
    assert await setup.engine.find() == []


class TrafficOnly(MemoryRegistry):
    """Shifts traffic but reads no error rate."""

    endpoint_traffic = CanaryRegistry.endpoint_traffic
    set_traffic = CanaryRegistry.set_traffic


@pytest.mark.parametrize(
    ("adapter", "words"),
    [(MemoryRegistry("mem"), "cannot shift endpoint traffic"), (TrafficOnly("mem"), "reads no error rate")],
)
async def test_a_registry_that_cannot_gate_a_rollout_is_refused(
    setup: Setup, adapter: MemoryRegistry, words: str
) -> None:
    engine = RolloutEngine(setup.database, {"mem": adapter}, setup.engine.promotions, clock=setup.clock)  # type: ignore[dict-item]
    with pytest.raises(BadInput) as caught:
        await engine.start(ALICE, CANDIDATE, ENDPOINT)
    assert words in caught.value.message and caught.value.extensions["field"] == "endpoint"
    assert await engine.find() == []


async def test_an_approval_rule_holds_the_rollout_until_approved(database: Database) -> None:
    s = await build(database, "policies: []\npromotions:\n  - to: PRODUCTION\n    approvals: [TEAM_LEAD]\n")
    rid = await s.start()
    await s.engine.drive(rid)
    assert await s.status(rid) is RolloutStatus.PENDING_APPROVAL
    assert s.registry.shifts == []
    rollout = await s.engine.get(rid)
    assert rollout.promotion_id is not None
    await s.engine.promotions.approve(BOB, rollout.promotion_id, None)
    await s.engine.drive(rid)
    assert await s.status(rid) is RolloutStatus.RUNNING
    assert s.registry.percents()["candidate"] == 10.0
