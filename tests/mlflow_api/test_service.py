"""``gateway.mlflow_api.service``: MLflow's operations over the catalogue, called
directly with an access policy (no HTTP)."""

from __future__ import annotations

import pytest

from gateway.auth.principal import LOCAL_OPERATOR
from gateway.catalogue.query import SortOrder
from gateway.mlflow_api import service
from gateway.mlflow_api.errors import MlflowApiError
from gateway.runtime import Gateway

NAME = "platform.fraud-detector"


def code_of(error: pytest.ExceptionInfo[MlflowApiError]) -> str:
    return error.value.as_body()["error_code"]


@pytest.mark.parametrize("raw", ["x", "0", "1001", 0, -1])
def test_max_results_outside_its_bounds_is_refused(raw: object) -> None:
    with pytest.raises(MlflowApiError) as refused:
        service.max_results_of(raw, 100, 1000)
    assert code_of(refused) == "INVALID_PARAMETER_VALUE"


def test_max_results_and_order_read_mlflow_spellings() -> None:
    assert service.max_results_of(None, 100, 1000) == 100 and service.max_results_of("7", 100, 1000) == 7
    assert service.order_of([]) is SortOrder.NAME
    assert service.order_of(["  NAME   asc"]) is service.order_of(["name"])
    for bad in (["name", "last_updated_timestamp DESC"], ["creation_timestamp"]):
        with pytest.raises(MlflowApiError):
            service.order_of(bad)


async def test_reads_answer_what_the_catalogue_holds(demo_gateway: Gateway) -> None:
    access = demo_gateway.access(LOCAL_OPERATOR)
    model = (await service.get_registered_model(demo_gateway, access, NAME))["registered_model"]
    stages = {v["current_stage"] for v in model["latest_versions"]}
    assert "Production" in stages and len(stages) == len(model["latest_versions"])
    latest = await service.get_latest_versions(demo_gateway, access, NAME, ["Production"])
    (production,) = latest["model_versions"]
    assert production["current_stage"] == "Production"
    version = await service.get_model_version(demo_gateway, access, NAME, production["version"])
    assert version["model_version"] == production


async def test_searches_page_with_tokens_tied_to_their_search(demo_gateway: Gateway) -> None:
    access = demo_gateway.access(LOCAL_OPERATOR)
    first = await service.search_model_versions(demo_gateway, access, f"name='{NAME}'", 2, [], None)
    assert len(first["model_versions"]) == 2 and first["next_page_token"]
    second = await service.search_model_versions(
        demo_gateway, access, f"name='{NAME}'", 2, [], first["next_page_token"]
    )
    assert not {v["version"] for v in first["model_versions"]} & {
        v["version"] for v in second["model_versions"]
    }
    with pytest.raises(MlflowApiError) as refused:  # a token of another search
        await service.search_registered_models(demo_gateway, access, None, 2, [], first["next_page_token"])
    assert code_of(refused) == "INVALID_PARAMETER_VALUE"


async def test_an_absent_model_or_version_is_mlflows_not_found(demo_gateway: Gateway) -> None:
    access = demo_gateway.access(LOCAL_OPERATOR)
    for read in (
        service.get_registered_model(demo_gateway, access, "platform.nothing"),
        service.get_registered_model(demo_gateway, access, "nowhere.fraud-detector"),
        service.get_model_version(demo_gateway, access, NAME, "999"),
    ):
        with pytest.raises(MlflowApiError) as absent:
            await read
        assert code_of(absent) == "RESOURCE_DOES_NOT_EXIST"
