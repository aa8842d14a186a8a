"""Serving endpoints as GraphQL types: an ``Endpoint`` and its traffic slices.
Below ``serving``, ``governance`` and ``rollouts``, which all answer with them."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from gateway.api.context import Context
from gateway.api.types import ModelVersionType, Registry, registry_view
from gateway.domain import Endpoint
from gateway.errors import NotFound


@strawberry.type(description="One slice of an endpoint's traffic.")
class TrafficShare:
    variant: str | None = strawberry.field(
        description="The serving system's name for the slice (SageMaker variant, Vertex deployed-model ID)."
    )
    percent: float = strawberry.field(description="The slice's share of the endpoint's traffic, 0 to 100.")
    version_uri: strawberry.Private[str | None]

    @strawberry.field(
        description="The catalogue version the slice serves; null when it is no catalogue version "
        "(a model built from a bare image) or one the caller may not see."
    )
    async def version(self, info: Info[Context, None]) -> ModelVersionType | None:
        v = await info.context.versions.load(self.version_uri) if self.version_uri else None
        return ModelVersionType.from_domain(v) if v else None


@strawberry.type(
    name="Endpoint",
    description="A serving endpoint, as its registry reads it or a serving system reported it.",
)
class EndpointType:
    uri: str = strawberry.field(
        description="The serving system's own name (a SageMaker endpoint ARN, a Vertex endpoint resource "
        "name, the name a serving system reported)."
    )
    name: str = strawberry.field(description="The endpoint's short name (the last part of its URI).")
    status: str | None = strawberry.field(description="The serving system's own status word, if it has one.")
    traffic: list[TrafficShare] = strawberry.field(
        description="How the endpoint's traffic splits, in the registry's order."
    )
    updated_at: datetime | None = strawberry.field(
        description="When the serving system last changed the endpoint; null when it does not say."
    )
    registry_id: strawberry.Private[str]

    @strawberry.field(description="The registry the endpoint belongs to.")
    async def registry(self, info: Info[Context, None]) -> Registry:
        settings = info.context.gateway.settings.registry(self.registry_id)
        if settings is None:  # configured away since it was stored
            raise NotFound(f"registry {self.registry_id!r} is no longer configured", field="registry")
        return await registry_view(info, settings)

    @staticmethod
    def from_domain(e: Endpoint) -> EndpointType:
        return EndpointType(
            uri=e.uri,
            name=e.name,
            status=e.status,
            traffic=[
                TrafficShare(variant=t.variant, percent=t.percent, version_uri=t.version_uri)
                for t in e.traffic
            ],
            updated_at=e.updated_at,
            registry_id=e.registry_id,
        )
