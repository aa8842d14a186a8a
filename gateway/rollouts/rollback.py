"""Rollback to a point in time: restore the stages a model's versions had then,
through the promotion path.

For every version whose stage at ``asOf`` (``gateway.serving.history``)
differs from today's, a promotion request to that stage is opened; a version
created after ``asOf`` that is PRODUCTION or STAGING today is requested
ARCHIVED. The requests need the policy file's ``rollback:`` approvals (the
promotion rules when it has none), are judged by the policies like any
promotion, and are applied as each is approved. Their reason reads
``rollback to <asOf>: <reason>``, so the set can be found together.

The answer is one request: the one restoring a version to PRODUCTION if there
is one, else the first opened (versions in catalogue order).

Traffic: where gateway rollouts of the model shifted an endpoint after
``asOf``, the answer request also carries the split each such endpoint had
then (``restore``), restored through the serving system when
that request is approved and applied, never before. The plan is checked
first: a rollout of the model still in progress, or an endpoint that no longer
has a variant the old split gives traffic to, is a CONFLICT and no request is
opened.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.auth.access import AccessPolicy
from gateway.auth.principal import Principal
from gateway.catalogue.index import CatalogueIndex, SearchQuery, Visibility
from gateway.domain import ModelVersion, Stage, parse_uri, utcnow
from gateway.errors import BadInput, Forbidden
from gateway.governance.promotions import PromotionRequest, Promotions, PromotionStatus
from gateway.rollouts.restore import TrafficRestorer
from gateway.serving.history import StageHistory

PAGE = 500


async def _all_versions(
    index: CatalogueIndex, model_uri: str, visibility: Visibility | None
) -> list[ModelVersion]:
    found: list[ModelVersion] = []
    after: str | None = None
    while True:
        page = await index.search_versions(
            SearchQuery(
                first=PAGE,
                after=after,
                model_uri=model_uri,
                facets=(),
                want_total=False,
                visibility=visibility,
            )
        )
        found += page.items
        if not page.has_next or not page.cursors:
            return found
        after = page.cursors[-1]


def plan(versions: list[ModelVersion], then: dict[str, Stage]) -> list[tuple[ModelVersion, Stage]]:
    """(version, stage to restore) for every version that differs, PRODUCTION first."""
    moves = []
    for v in versions:
        target = then.get(v.uri)
        if target is None:  # created after asOf
            target = Stage.ARCHIVED if v.stage in (Stage.PRODUCTION, Stage.STAGING) else None
        if target is not None and target is not v.stage:
            moves.append((v, target))
    return sorted(moves, key=lambda m: m[1] is not Stage.PRODUCTION)


async def rollback(
    promotions: Promotions,
    history: StageHistory,
    principal: Principal,
    model_uri: str,
    as_of: datetime,
    reason: str,
    access: AccessPolicy,
    traffic: TrafficRestorer | None = None,
) -> PromotionRequest:
    """Open the requests that restore ``model_uri``'s stages at ``as_of`` (module docstring)."""
    try:
        parsed = parse_uri(model_uri)
    except ValueError as exc:
        raise BadInput(str(exc), field="modelUri") from None
    if parsed.version is not None:
        raise BadInput(
            f"{model_uri} names a version: roll back its model, {parsed.model_uri}", field="modelUri"
        )
    if as_of.tzinfo is None:
        raise BadInput("asOf needs a time zone (e.g. 2026-11-24T09:00:00Z)", field="asOf")
    if as_of > utcnow():
        raise BadInput(f"asOf {as_of.isoformat()} is in the future", field="asOf")
    if not reason.strip():
        raise BadInput("a rollback needs a reason", field="reason")
    model = await access.visible_model(promotions.index, model_uri)
    settings = promotions.registries.get(model.registry_id)
    team = (settings.team if settings else None) or model.team
    if not access.can_write(team):  # before anything about its history is told
        raise Forbidden(
            f"{principal.name} is not a member of team {team or '(none)'}, which owns {model_uri}"
        )
    versions = await _all_versions(promotions.index, model_uri, access.visibility)
    moves = plan(versions, await history.stages_at(versions, as_of))
    if not moves:
        raise BadInput(
            f"{model_uri} already has the stages it had at {as_of.isoformat()}: nothing to roll back",
            field="asOf",
        )
    restores = await traffic.plan(model_uri, as_of) if traffic is not None else []

    async def carry(conn: AsyncConnection, request_id: str, _opened: PromotionStatus) -> None:
        assert traffic is not None
        await traffic.attach(conn, request_id, restores)

    why = f"rollback to {as_of.isoformat()}: {reason.strip()}"
    opened = [
        await promotions.request(
            principal, v.uri, target, why, rollback=True, on_open=carry if i == 0 and restores else None
        )
        for i, (v, target) in enumerate(moves)
    ]
    return opened[0]
