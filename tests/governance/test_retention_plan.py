"""``gateway.governance.retention.plan`` on its own: the rules' scope, age and
``keep_last`` against an index filled directly (no gateway). The apply path
through promotions is ``test_retention.py``'s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gateway.catalogue.index import CatalogueIndex
from gateway.domain import Model, ModelVersion, Stage
from gateway.governance.policies import parse_policies
from gateway.governance.retention import RetentionCandidate, plan
from gateway.store.database import Database

BORN = datetime(2026, 1, 1, tzinfo=UTC)
RULES = """
retention:
  - id: stale
    older_than_days: 30
    keep_last: 2
"""


@pytest.fixture
async def index(database_url: str) -> AsyncIterator[CatalogueIndex]:
    db = Database(database_url)
    await db.migrate()
    yield CatalogueIndex(db)
    await db.aclose()


async def put(
    index: CatalogueIndex,
    name: str,
    count: int,
    *,
    registry: str = "r",
    team: str = "ml",
    stages: dict[int, Stage] | None = None,
    born: datetime | None = BORN,
) -> None:
    versions = [
        ModelVersion(
            registry, name, str(i), stage=(stages or {}).get(i, Stage.DRAFT), team=team, created_at=born
        )
        for i in range(1, count + 1)
    ]
    await index.replace_models([(Model(registry, name, team=team), versions)])


def uris(candidates: list[RetentionCandidate]) -> list[str]:
    return [c.uri for c in candidates]


async def test_old_versions_beyond_the_newest_are_candidates(index: CatalogueIndex) -> None:
    await put(index, "m", 11)
    policies = parse_policies(RULES)
    # Exactly 30 days old is not older than 30 days.
    assert await plan(index.db, policies, BORN + timedelta(days=30)) == []
    found = await plan(index.db, policies, BORN + timedelta(days=31))
    # By version number, not text: 11 and 10 are the newest two and are kept.
    assert sorted(int(u.rsplit("/", 1)[1]) for u in uris(found)) == list(range(1, 10))
    nine = next(c for c in found if c.uri == "mg://r/m/9")
    assert (nine.rule, nine.rank, nine.age_days, nine.stage, nine.team) == ("stale", 3, 31, "DRAFT", "ml")
    assert nine.as_dict()["createdAt"] == BORN.isoformat()


async def test_scope_stages_default_to_draft_and_staging(index: CatalogueIndex) -> None:
    stages = {1: Stage.PRODUCTION, 2: Stage.STAGING, 3: Stage.ARCHIVED}
    await put(index, "m", 6, stages=stages)
    found = await plan(index.db, parse_policies(RULES), BORN + timedelta(days=90))
    # 6 and 5 are kept; 1 is in production, 3 is archived already.
    assert uris(found) == ["mg://r/m/2", "mg://r/m/4"]


async def test_teams_registries_and_the_first_matching_rule(index: CatalogueIndex) -> None:
    await put(index, "ours", 2, team="ml")
    await put(index, "theirs", 2, team="ads")
    await put(index, "elsewhere", 2, team="ml", registry="other")
    policies = parse_policies(
        """
retention:
  - id: ml-only
    older_than_days: 10
    keep_last: 1
    scope: {teams: [ml], registries: [r]}
  - id: everyone
    older_than_days: 10
    keep_last: 1
"""
    )
    found = await plan(index.db, policies, BORN + timedelta(days=11))
    assert [(c.uri, c.rule) for c in found] == [
        ("mg://other/elsewhere/1", "everyone"),
        ("mg://r/ours/1", "ml-only"),  # both rules match: the first wins
        ("mg://r/theirs/1", "everyone"),
    ]


async def test_a_version_of_unknown_age_is_never_a_candidate(index: CatalogueIndex) -> None:
    await put(index, "m", 5, born=None)
    assert await plan(index.db, parse_policies(RULES), BORN + timedelta(days=999)) == []


async def test_no_rules_no_candidates(index: CatalogueIndex) -> None:
    await put(index, "m", 5)
    assert await plan(index.db, parse_policies("policies: []\n"), BORN + timedelta(days=999)) == []
