"""GraphQL for canary rollouts: ``rollouts``, ``startRollout``, ``abortRollout``.
Thin resolvers over ``gateway.rollouts.engine``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from gateway.api.context import Context
from gateway.api.endpoint_types import EndpointType
from gateway.api.governance import PromotionRequestType
from gateway.api.types import ModelVersionType
from gateway.domain import Endpoint, ModelVersion, parse_uri
from gateway.errors import GatewayError, RegistryError
from gateway.rollouts.records import (
    ACTIVE,
    DEFAULT_MAX_ERROR_RATE,
    DEFAULT_STEP_SECONDS,
    DEFAULT_STEPS,
    Rollout,
)


@strawberry.type(description="One traffic step of a rollout.")
class RolloutStep:
    percent: float = strawberry.field(description="The candidate's share of traffic in this step.")
    started_at: datetime | None = strawberry.field(description="When the traffic shift was confirmed.")
    finished_at: datetime | None = strawberry.field(
        description="When its watch time ended and its error rate was judged; null until then."
    )
    error_rate: float | None = strawberry.field(
        description="The candidate's server-error rate over the step (null: no traffic reached it)."
    )
    passed: bool | None = strawberry.field(description="Whether the step passed; null while watched.")


@strawberry.type(name="Rollout", description="A canary rollout of a version onto an endpoint.")
class RolloutType:
    id: strawberry.ID = strawberry.field(description="The rollout's id.")
    status: str = strawberry.field(
        description="PENDING_APPROVAL | RUNNING | SUCCEEDED | ROLLED_BACK | ABORTED | FAILED"
    )
    current_percent: float = strawberry.field(description="The candidate's share of traffic now.")
    steps: list[RolloutStep] = strawberry.field(
        description="The steps planned, with the outcome of those done."
    )
    started_at: datetime | None = strawberry.field(description="When traffic first moved (after approval).")
    finished_at: datetime | None = strawberry.field(description="When it reached its final status.")
    reason: str | None = strawberry.field(
        description="Why it ended as it did (a rollback's error rate, an abort's reason); "
        "until then the reason it was asked for."
    )
    step_seconds: int = strawberry.field(description="How long each step is watched, in seconds.")
    max_error_rate: float = strawberry.field(
        description="The candidate's highest tolerated server-error rate per step (a fraction)."
    )
    requested_by: str = strawberry.field(description="Who started it: the principal's name.")
    created_at: datetime = strawberry.field(description="When it was asked for.")
    _rollout: strawberry.Private[Rollout]

    @staticmethod
    def from_domain(r: Rollout) -> RolloutType:
        done = {s.position: s for s in r.steps}
        steps = []
        for position, percent in enumerate(r.plan):
            s = done.get(position)
            steps.append(
                RolloutStep(
                    percent=percent,
                    started_at=s.started_at if s else None,
                    finished_at=s.finished_at if s else None,
                    error_rate=s.error_rate if s else None,
                    passed=s.passed if s else None,
                )
            )
        return RolloutType(
            id=strawberry.ID(r.id),
            status=r.status.value,
            current_percent=r.current_percent,
            steps=steps,
            started_at=r.started_at,
            finished_at=r.finished_at,
            reason=r.outcome or r.reason,
            step_seconds=r.step_seconds,
            max_error_rate=r.max_error_rate,
            requested_by=r.requested_by,
            created_at=r.created_at,
            _rollout=r,
        )

    @strawberry.field(description="The version rolled out.")
    async def version(self, info: Info[Context, None]) -> ModelVersionType:
        uri = self._rollout.version_uri
        v = await info.context.versions.load(uri)
        if v is None:  # the version left the catalogue since: show what the rollout knew
            parsed = parse_uri(uri)
            v = ModelVersion(parsed.registry_id, parsed.model_name, parsed.version or "")
        return ModelVersionType.from_domain(v)

    @strawberry.field(description="The endpoint, as its serving system reports it now.")
    async def endpoint(self, info: Info[Context, None]) -> EndpointType:
        r = self._rollout
        current = await info.context.rollout_endpoints.load((r.registry_id, r.endpoint_uri))
        if isinstance(current, RegistryError):  # the serving system is down: what the rollout knows
            info.context.report(current)
            current = Endpoint(r.endpoint_uri, r.endpoint_uri.rsplit("/", 1)[-1], r.registry_id)
        elif isinstance(current, GatewayError):
            raise current
        return EndpointType.from_domain(current)

    @strawberry.field(
        description="Whether the caller may abort it now: it is PENDING_APPROVAL or RUNNING, and the "
        "caller started it or belongs to the team owning the version (or is admin)."
    )
    async def can_abort(self, info: Info[Context, None]) -> bool:
        r = self._rollout
        if r.status.value not in ACTIVE:
            return False
        if r.requested_by == info.context.principal.name:
            return True
        return await _may_write(info, r.version_uri)

    @strawberry.field(description="The PRODUCTION promotion request the rollout goes through.")
    async def promotion(self, info: Info[Context, None]) -> PromotionRequestType | None:
        if self._rollout.promotion_id is None:
            return None
        promotions = info.context.gateway.governance.promotions
        return PromotionRequestType.from_domain(await promotions.get(self._rollout.promotion_id))


async def _may_write(info: Info[Context, None], uri: str) -> bool:
    """The rule the engine applies to startRollout and abortRollout: the owning team, or admin."""
    version = await info.context.versions.load(uri)
    if version is None:
        return False
    promotions = info.context.gateway.governance.promotions
    return info.context.access.can_write(await promotions.team_of(version))


@strawberry.type(description="What startRollout would do with a version when its plan is left out.")
class RolloutOptions:
    can_start: bool = strawberry.field(
        description="Whether the caller may start a rollout of the version (its team, or admin)."
    )
    steps: list[float] = strawberry.field(description="The default traffic steps, in percent.")
    step_seconds: int = strawberry.field(description="The default watch time of a step, in seconds.")
    max_error_rate: float = strawberry.field(
        description="The default highest tolerated server-error rate per step (a fraction)."
    )


@strawberry.input(description="What to roll out where, and how.")
class RolloutInput:
    uri: str = strawberry.field(
        description="The version to roll out, mg://<registry>/<model>/<version> or a reference "
        "(mg://<registry>/<model>@staging), resolved when the rollout starts."
    )
    endpoint: str = strawberry.field(description="The endpoint (Endpoint.uri, or its name).")
    steps: list[float] | None = strawberry.field(
        default=None,
        description="Traffic percentages, increasing, ending at 100; default [1, 5, 10, 25, 50, 100].",
    )
    step_seconds: int | None = strawberry.field(
        default=None, description="Time each step is watched; default 3600."
    )
    max_error_rate: float | None = strawberry.field(
        default=None,
        description="The candidate's highest tolerated server-error rate per step; default 0.01.",
    )
    reason: str | None = strawberry.field(default=None, description="Why; kept with the promotion request.")


@strawberry.type
class RolloutQuery:
    @strawberry.field(description="Canary rollouts, newest first.")
    async def rollouts(
        self,
        info: Info[Context, None],
        status: Annotated[
            str | None, strawberry.argument(description="Only rollouts with this status.")
        ] = None,
    ) -> list[RolloutType]:
        access = info.context.access
        found = await info.context.gateway.rollouts.find(status)
        hidden = await access.hidden_uris(info.context.gateway.index, [r.version_uri for r in found])
        return [
            RolloutType.from_domain(r)
            for r in found
            if r.version_uri not in hidden or access.takes_part(r.requested_by)
        ]

    @strawberry.field(
        description="Whether the caller may roll a version out, and the plan startRollout uses "
        "when its steps, stepSeconds or maxErrorRate are left out."
    )
    async def rollout_options(
        self,
        info: Info[Context, None],
        uri: Annotated[
            str, strawberry.argument(description="The version, mg://<registry>/<model>/<version>.")
        ],
    ) -> RolloutOptions:
        return RolloutOptions(
            can_start=await _may_write(info, await info.context.concrete(uri)),
            steps=list(DEFAULT_STEPS),
            step_seconds=DEFAULT_STEP_SECONDS,
            max_error_rate=DEFAULT_MAX_ERROR_RATE,
        )


@strawberry.type
class RolloutMutation:
    @strawberry.mutation(
        description="Roll a version out onto an endpoint in traffic steps, through the PRODUCTION "
        "promotion path (PENDING_APPROVAL until approved)."
    )
    async def start_rollout(
        self,
        info: Info[Context, None],
        input: Annotated[RolloutInput, strawberry.argument(description="The version, endpoint and plan.")],
    ) -> RolloutType:
        rollout = await info.context.gateway.rollouts.start(
            info.context.principal,
            await info.context.concrete(input.uri, "input.uri"),  # resolved once, now
            input.endpoint,
            steps=input.steps,
            step_seconds=input.step_seconds,
            max_error_rate=input.max_error_rate,
            reason=input.reason,
        )
        return RolloutType.from_domain(rollout)

    @strawberry.mutation(description="Stop a rollout and return the endpoint's traffic to what it was.")
    async def abort_rollout(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The rollout's id.")],
        reason: Annotated[str, strawberry.argument(description="Why it is stopped (kept in the audit log).")],
    ) -> RolloutType:
        rollout = await info.context.gateway.rollouts.abort(info.context.principal, str(id), reason)
        return RolloutType.from_domain(rollout)
