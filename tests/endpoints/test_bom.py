"""``gateway.endpoints.bom``: BOM downloads, their format parameter and errors."""

from __future__ import annotations

from starlette.routing import Route

from gateway.endpoints.bom import inventory_bom_download, model_bom_download, version_bom_download
from gateway.runtime import Gateway
from tests.endpoints.conftest import serve

ROUTES = [
    Route("/bom/{registry}/{model}/{version}", version_bom_download),
    Route("/bom/{registry}/{model}", model_bom_download),
    Route("/bom", inventory_bom_download),
]


async def test_a_version_bom_is_an_attachment_in_the_format_asked(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, ROUTES) as client:
        cyclonedx = await client.get("/bom/platform/fraud-detector/1")
        assert cyclonedx.status_code == 200, cyclonedx.text
        assert cyclonedx.json()["bomFormat"] == "CycloneDX"
        assert 'filename="fraud-detector-1.' in cyclonedx.headers["content-disposition"]
        spdx = await client.get("/bom/platform/fraud-detector/1", params={"format": "spdx"})
        assert spdx.status_code == 200 and spdx.json()["@context"].startswith("https://spdx.org/")
        assert spdx.headers["content-disposition"].endswith('.spdx.json"')
        assert spdx.headers["content-type"] != cyclonedx.headers["content-type"]


async def test_an_unknown_format_names_the_parameter(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, ROUTES) as client:
        answer = await client.get("/bom/platform/fraud-detector/1", params={"format": "xml"})
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "format"


async def test_an_absent_version_or_model_is_not_found(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, ROUTES) as client:
        for path in ("/bom/platform/fraud-detector/999", "/bom/platform/no-such-model", "/bom/nowhere/m/1"):
            answer = await client.get(path)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_model_and_inventory_boms_hold_their_versions(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, ROUTES) as client:
        model = await client.get("/bom/platform/fraud-detector")
        inventory = await client.get("/bom")
    assert model.status_code == inventory.status_code == 200
    assert 'filename="inventory.' in inventory.headers["content-disposition"]
    assert len(inventory.json()["components"]) >= len(model.json()["components"]) >= 1
