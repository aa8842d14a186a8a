"""``gateway.rollouts.rollback.plan``: which versions a rollback moves, and where
(the whole flow through promotions and traffic is ``test_rollback_traffic.py``)."""

from __future__ import annotations

from gateway.domain import ModelVersion, Stage
from gateway.rollouts.rollback import plan


def v(number: str, stage: Stage) -> ModelVersion:
    return ModelVersion("r", "m", number, stage=stage)


def moves(versions: list[ModelVersion], then: dict[str, Stage]) -> list[tuple[str, Stage]]:
    return [(version.version, target) for version, target in plan(versions, then)]


def test_versions_return_to_their_stage_then_production_first() -> None:
    versions = [v("3", Stage.PRODUCTION), v("2", Stage.STAGING), v("1", Stage.ARCHIVED)]
    then = {"mg://r/m/1": Stage.PRODUCTION, "mg://r/m/2": Stage.STAGING, "mg://r/m/3": Stage.STAGING}
    # 2 is as it was; 1 goes back to PRODUCTION, and that request comes first
    # (ahead of the catalogue order).
    assert moves(versions, then) == [("1", Stage.PRODUCTION), ("3", Stage.STAGING)]


def test_versions_created_since_are_archived_only_if_they_serve() -> None:
    versions = [
        v("1", Stage.PRODUCTION),
        v("4", Stage.PRODUCTION),
        v("5", Stage.STAGING),
        v("6", Stage.DRAFT),
    ]
    then = {"mg://r/m/1": Stage.PRODUCTION}
    assert moves(versions, then) == [("4", Stage.ARCHIVED), ("5", Stage.ARCHIVED)]


def test_nothing_differs_nothing_moves() -> None:
    versions = [v("1", Stage.PRODUCTION), v("2", Stage.DRAFT)]
    assert moves(versions, {"mg://r/m/1": Stage.PRODUCTION, "mg://r/m/2": Stage.DRAFT}) == []
    assert moves([], {}) == []
