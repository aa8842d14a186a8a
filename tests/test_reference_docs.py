"""The reference pages of the manual are generated from the code (docs/_tools/reference.py):
regenerated here, they must equal what is committed, and they must cover what the
running code has, so an API, route, command, error code or metric cannot go undocumented."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from prometheus_client import generate_latest

from gateway.observability import Metrics

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / "docs" / "reference"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", REPO / "docs" / "_tools" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return generator().render()  # type: ignore[no-any-return]


def test_committed_pages_are_what_the_code_generates(rendered: dict[str, str]) -> None:
    stale = [name for name, text in rendered.items() if (PAGES / name).read_text(encoding="utf-8") != text]
    assert not stale, f"regenerate with `python docs/_tools/reference.py`: {stale}"


def test_the_graphql_page_has_every_type_and_field(rendered: dict[str, str]) -> None:
    from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, build_schema

    page = rendered["graphql.md"]
    schema = build_schema((REPO / "schema.graphql").read_text(encoding="utf-8"))
    for name, t in schema.type_map.items():
        if name.startswith("__"):
            continue
        assert f"### {name} {{ #{name} }}" in page, name
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            section = page.split(f"### {name} {{ #{name} }}")[1].split("\n### ")[0]
            for field in t.fields:
                assert f"| `{field}` |" in section, f"{name}.{field}"


def test_the_cli_page_has_every_command(rendered: dict[str, str]) -> None:
    from gateway.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    for command in sub.choices:  # type: ignore[attr-defined]
        assert f"### `modelgate {command}`" in rendered["cli.md"], command


def test_the_metrics_page_has_every_series_metrics_exposes(rendered: dict[str, str]) -> None:
    exposed = set(re.findall(r"^# TYPE (\S+) ", generate_latest(Metrics().registry).decode(), re.M))
    assert exposed
    for name in exposed:
        assert f"| `{name}` |" in rendered["metrics.md"], name


def test_the_errors_page_has_the_codes_of_every_layer(rendered: dict[str, str]) -> None:
    from gateway.http_errors import STATUS_OF_CODE
    from gateway.mlflow_api.errors import STATUS_OF

    page = rendered["errors.md"]
    for code in [*STATUS_OF_CODE, *STATUS_OF, "REGISTRY_UNAVAILABLE", "TIMEOUT", "METHOD_NOT_ALLOWED"]:
        assert f"`{code}`" in page, code


def test_the_rest_page_has_the_routes(rendered: dict[str, str]) -> None:
    page = rendered["rest.md"]
    for path in ["/healthz", "/readyz", "/metrics", "/deployments", "/lineage/openlineage", "/docs"]:
        assert f"| `{path}" in page, path


def test_check_mode_names_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = generator()
    monkeypatch.setattr(module, "OUT", tmp_path)
    (tmp_path / "graphql.md").write_text("stale\n")
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0
