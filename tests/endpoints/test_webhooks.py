"""``gateway.endpoints.webhooks``: which registries take webhooks; the rest are 404."""

from __future__ import annotations

from starlette.routing import Route

from gateway.endpoints.webhooks import webhook
from gateway.runtime import Gateway
from tests.endpoints.conftest import serve

ROUTES = [Route("/hooks/{kind}/{registry}", webhook, methods=["POST"])]


async def test_an_absent_registry_a_wrong_kind_and_a_registry_without_webhooks_are_not_found(
    demo_gateway: Gateway,
) -> None:
    async with serve(demo_gateway, ROUTES) as client:
        absent = await client.post("/hooks/native/nowhere", content=b"{}")
        wrong_kind = await client.post("/hooks/mlflow/platform", content=b"{}")
        no_hooks = await client.post("/hooks/native/platform", content=b"{}")
    for answer in (absent, wrong_kind, no_hooks):
        assert answer.status_code == 404
        assert answer.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "takes no webhooks" in no_hooks.json()["errors"][0]["message"]
    assert "no mlflow registry 'platform'" in wrong_kind.json()["errors"][0]["message"]
