"""GraphQL for serving and stage history: endpoints, ``stageHistory`` and
``rollback``. Thin resolvers over ``gateway.serving`` and
``gateway.rollouts.rollback``; what a caller may see is checked here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from gateway.api.context import Context
from gateway.api.endpoint_types import EndpointType
from gateway.api.governance import PromotionRequestType
from gateway.api.types import ModelVersionType, StageEnum
from gateway.domain import ModelVersion, parse_uri
from gateway.errors import BadInput
from gateway.rollouts.rollback import rollback
from gateway.serving.history import StageChange


@strawberry.type(name="StageChange", description="One stage change of a version.")
class StageChangeType:
    from_: StageEnum | None = strawberry.field(  # type: ignore[valid-type]
        name="from", description="The stage before; null for the first stage modelgate saw."
    )
    to: StageEnum = strawberry.field(description="The stage after the change.")  # type: ignore[valid-type]
    at: datetime = strawberry.field(description="When modelgate made or saw the change.")
    principal: str | None = strawberry.field(
        description="Who made it (a promotion's requester); null when a sync saw it in the registry."
    )
    source: str | None = strawberry.field(description="sync | promotion | rollout")
    version_uri: strawberry.Private[str]

    @strawberry.field(description="The version that changed (as indexed now, or its URI alone once removed).")
    async def version(self, info: Info[Context, None]) -> ModelVersionType:
        v = await info.context.versions.load(self.version_uri)
        if v is None:
            parsed = parse_uri(self.version_uri)
            v = ModelVersion(parsed.registry_id, parsed.model_name, parsed.version or "", self.to)
        return ModelVersionType.from_domain(v)

    @staticmethod
    def from_domain(c: StageChange) -> StageChangeType:
        return StageChangeType(
            from_=c.from_stage,
            to=c.to_stage,
            at=c.at,
            principal=c.principal,
            source=c.source,
            version_uri=c.version_uri,
        )


@strawberry.type
class ServingQuery:
    @strawberry.field(
        description="Serving endpoints and their traffic: read from registries that have them (SageMaker, "
        "Vertex AI) at every sync, reported by serving systems for the others (recordDeployment)."
    )
    async def endpoints(
        self,
        info: Info[Context, None],
        registry: Annotated[
            str | None,
            strawberry.argument(description="Only this registry; null: all."),
        ] = None,
    ) -> list[EndpointType]:
        gateway = info.context.gateway
        if registry is not None:
            gateway.adapter(registry)  # NOT_FOUND naming the configured ones
        access = info.context.access
        visible = [r.id for r in gateway.settings.registries if access.can_see_registry(r.id)]
        wanted = [r for r in visible if registry is None or r == registry]
        return [EndpointType.from_domain(e) for e in await gateway.serving.endpoints(wanted)]

    @strawberry.field(
        description="Every stage change of a version, or of all versions of a model, oldest first: from "
        "syncs, applied promotions (rollbacks included) and rollouts."
    )
    async def stage_history(
        self,
        info: Info[Context, None],
        uri: Annotated[str, strawberry.argument(description="A model's or a version's URI (mg://...).")],
    ) -> list[StageChangeType]:
        uri = await info.context.concrete(uri)
        try:
            parsed = parse_uri(uri)
        except ValueError as exc:
            raise BadInput(str(exc), field="uri") from None
        gateway = info.context.gateway
        access = info.context.access
        if not access.can_see_registry(parsed.registry_id) or await access.hidden_uris(
            gateway.index, [parsed.model_uri, uri]
        ):
            return []  # as for a model with no history: no oracle for hidden ones
        return [StageChangeType.from_domain(c) for c in await gateway.history.changes(uri)]


@strawberry.type
class ServingMutation:
    @strawberry.mutation(
        description="Restore the stages a model's versions had at asOf, through the promotion path: one "
        "promotion request per version that differs (a version created later and PRODUCTION or STAGING "
        "now is requested ARCHIVED), needing the policy file's rollback approvals. Returns the request "
        "restoring a version to PRODUCTION if there is one, else the first; every request's reason "
        "starts 'rollback to <asOf>'. Endpoints the gateway's rollouts of the model shifted after asOf "
        "are put back on the split they had then when that request is applied (restoresTraffic); "
        "CONFLICT if one no longer has a variant that split needs."
    )
    async def rollback(
        self,
        info: Info[Context, None],
        model_uri: Annotated[
            str, strawberry.argument(description="The model to roll back (mg://<registry>/<model>).")
        ],
        as_of: Annotated[datetime, strawberry.argument(description="The moment whose stages are restored.")],
        reason: Annotated[
            str, strawberry.argument(description="Why, shown to approvers and in the audit log.")
        ],
    ) -> PromotionRequestType:
        gateway = info.context.gateway
        request = await rollback(
            gateway.governance.promotions,
            gateway.history,
            info.context.principal,
            model_uri,
            as_of,
            reason,
            info.context.access,
            gateway.rollouts.restorer,
        )
        return PromotionRequestType.from_domain(request)
