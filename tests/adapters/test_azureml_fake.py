"""The Azure ML fake's own checks: the spec excerpt validates Microsoft's examples,
and the checker catches what Azure would refuse (so a passing adapter test means
something)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.azureml.spec_check import SPEC_DIR, SpecChecker

ARM = (
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/test-rg"
    "/providers/Microsoft.MachineLearningServices"
)
EXAMPLES = {
    "workspace-modelversion-list.json": ("GET", f"{ARM}/workspaces/my-aml-workspace/models/string/versions"),
    "workspace-modelversion-createOrUpdate.json": (
        "PUT",
        f"{ARM}/workspaces/my-aml-workspace/models/string/versions/string",
    ),
    "registry-modelversion-list.json": ("GET", f"{ARM}/registries/my-aml-registry/models/string/versions"),
    "workspace-modelcontainer-list.json": ("GET", f"{ARM}/workspaces/workspace123/models"),
}
API = {"api-version": ["2025-12-01"]}


@pytest.fixture(scope="module")
def checker() -> SpecChecker:
    return SpecChecker()


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_microsofts_examples_validate_against_the_excerpt(checker: SpecChecker, example: str) -> None:
    method, path = EXAMPLES[example]
    data = json.loads((SPEC_DIR / "examples" / example).read_text())
    operation, problems = checker.check_request(method, path, API, data["parameters"].get("body"))
    assert operation is not None and problems == []
    for status, response in data["responses"].items():
        headers = {"Azure-AsyncOperation": "https://x"} if status == "201" else {}
        assert checker.check_response(operation, int(status), response.get("body"), headers) == []


def test_the_checker_catches_what_azure_would_refuse(checker: SpecChecker) -> None:
    path = f"{ARM}/workspaces/my-aml-workspace/models/fraud/versions/1"
    _, problems = checker.check_request(
        "PUT", path, {**API, "$expand": ["x"]}, {"properties": {"modelUri": 7, "colour": "blue"}}
    )
    assert any("modelUri" in p and "not of type" in p for p in problems)
    assert any("'colour' was unexpected" in p for p in problems)
    assert any("'$expand' is not in the operation's parameters" in p for p in problems)
    _, missing = checker.check_request("GET", path, {}, None)
    assert missing == ["ModelVersions_Get request: query parameter api-version is required"]
    _, bad_name = checker.check_request(
        "PUT", f"{ARM}/workspaces/my-aml-workspace/models/-bad/versions/1", API, {}
    )
    assert any("does not match" in p for p in bad_name)
    _, bad_view = checker.check_request(
        "GET",
        f"{ARM}/workspaces/my-aml-workspace/models/fraud/versions",
        {**API, "listViewType": ["Hidden"]},
        None,
    )
    assert any("not one of" in p for p in bad_view)
    assert checker.check_request("DELETE", path, API, None)[0] is None  # not served: not in the excerpt


def test_responses_are_checked_too(checker: SpecChecker) -> None:
    operation = checker.operation("GET", f"{ARM}/registries/my-aml-registry/models/fraud/versions/1")
    assert operation is not None and operation.operation_id == "RegistryModelVersions_Get"
    good = {
        "id": "x",
        "name": "1",
        "type": "t",
        "properties": {"stage": None, "isArchived": True, "flavors": {"f": {"data": {"k": "v"}}}},
        "systemData": {"createdAt": "2026-12-01T10:00:00.000Z", "createdByType": "Application"},
    }
    assert checker.check_response(operation, 200, good, {}) == []
    bad = {**good, "systemData": {"createdAt": "yesterday", "createdByType": "Robot"}, "etag": "1"}
    problems = checker.check_response(operation, 200, bad, {})
    assert any("createdAt" in p for p in problems) and any("Robot" in p for p in problems)
    assert any("'etag' was unexpected" in p for p in problems)
    assert checker.check_response(operation, 404, {"error": {"code": "NotFound", "message": "m"}}, {}) == []
    put = checker.operation("PUT", f"{ARM}/registries/my-aml-registry/models/fraud/versions/1")
    assert put is not None
    assert checker.check_response(put, 201, good, {}) == [
        "RegistryModelVersions_CreateOrUpdate response 201: header Azure-AsyncOperation missing"
    ]


def test_the_spec_files_name_their_source() -> None:
    readme = (SPEC_DIR / "README.md").read_text()
    assert "Azure/azure-rest-api-specs" in readme
    for name in ("mfe-models.json", "parameters.json", "common-types-v3-types.json"):
        assert name in readme and (SPEC_DIR / name).is_file()
    assert all(Path(SPEC_DIR / "examples" / e).name in readme for e in EXAMPLES)
