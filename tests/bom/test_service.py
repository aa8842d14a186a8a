"""``gateway.bom.service``: which versions a BOM holds, under the visibility rule."""

from __future__ import annotations

import pytest

from gateway.auth.principal import LOCAL_OPERATOR
from gateway.bom import service
from gateway.bom.formats import BomFormat
from gateway.catalogue.index import SearchFilter, SearchQuery
from gateway.domain import Stage
from gateway.errors import BadInput, NotFound
from gateway.runtime import Gateway


async def test_a_version_uri_is_required_and_an_absent_one_not_found(demo_gateway: Gateway) -> None:
    for uri in ("not a uri", "mg://platform/fraud-detector"):
        with pytest.raises(BadInput):
            await service.visible_version(demo_gateway, None, uri)
    with pytest.raises(NotFound):
        await service.visible_version(demo_gateway, None, "mg://platform/fraud-detector/999")
    found = await service.visible_version(demo_gateway, None, "mg://platform/fraud-detector/5")
    assert found.stage is Stage.PRODUCTION


async def test_versions_are_gathered_past_one_page(
    demo_gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "PAGE", 2)
    stages = (Stage.ARCHIVED,)
    expected = await demo_gateway.index.search_versions(
        SearchQuery(filter=SearchFilter(stages=stages), first=100)
    )
    assert expected.total > 2  # more than one page of 2
    found = await service.visible_versions(demo_gateway, None, stages)
    assert sorted(v.uri for v in found) == sorted(v.uri for v in expected.items)


async def test_a_model_bom_holds_its_staging_and_production_versions(demo_gateway: Gateway) -> None:
    access = demo_gateway.access(LOCAL_OPERATOR)
    bom = await service.model_bom(
        demo_gateway, access, "mg://platform/fraud-detector", BomFormat.CYCLONEDX_1_6
    )
    names = str(bom)
    assert "mg://platform/fraud-detector/5" in names and "mg://platform/fraud-detector/6" in names
    assert "mg://platform/fraud-detector/1" not in names.replace("mg://platform/fraud-detector/1#", "")
    with pytest.raises(NotFound):
        await service.model_bom(demo_gateway, access, "mg://platform/nothing", BomFormat.CYCLONEDX_1_6)
