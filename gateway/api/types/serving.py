"""GraphQL views of serving: where a version serves now."""

from datetime import datetime

import strawberry


@strawberry.type(
    description="Where a version serves now: one endpoint (and variant) and its share of traffic."
)
class Deployment:
    endpoint: str = strawberry.field(description="The endpoint's URI (Endpoint.uri).")
    traffic_percent: float | None = strawberry.field(
        description="The share of the endpoint's traffic this version takes, 0 to 100 (null: not reported)."
    )
    updated_at: datetime | None = strawberry.field(
        description="When the serving system last changed this deployment; null when not reported."
    )
    registry: str | None = strawberry.field(
        default=None,
        description="The registry whose endpoint it is, or that the deployment was reported for.",
    )
    variant: str | None = strawberry.field(
        default=None,
        description="The serving system's name for this slice: a SageMaker production variant, a Vertex "
        "deployed-model ID, a reported variant.",
    )
    status: str | None = strawberry.field(
        default=None, description="The serving system's own status word (InService, Updating, ...)."
    )
