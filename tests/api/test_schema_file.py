"""schema.graphql is the published contract: it must match the code exactly."""

from __future__ import annotations

from pathlib import Path

from gateway.api.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"

# The names dashboards and scripts are written against (the public schema, docs/uris.md).
CONTRACT = [
    "enum Stage",
    "enum RegistryKind",
    "enum LineageDirection",
    "type Registry",
    "type Model implements Node",
    "type ModelVersion implements Node",
    "input SearchFilter",
    "type Facets",
    "type ModelConnection",
    "type ModelVersionConnection",
    "type LineageGraph",
    "input RegisterVersionInput",
]
# Root fields of the contract: (root type, field, {argument: type}, result type). Checked
# on the schema, not the text: described arguments print on lines of their own.
CONTRACT_FIELDS = [
    ("Mutation", "registerModelVersion", {"input": "RegisterVersionInput!"}, "ModelVersion!"),
]


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n", (
        "schema.graphql is stale: regenerate it with `modelgate schema > schema.graphql`"
    )


def test_contract_names_exist() -> None:
    sdl = schema.as_str()
    missing = [name for name in CONTRACT if name not in sdl]
    assert not missing


def test_contract_fields_exist() -> None:
    for root, name, arguments, result in CONTRACT_FIELDS:
        field = schema._schema.get_type(root).fields[name]  # type: ignore[union-attr]
        assert {a: str(arg.type) for a, arg in field.args.items()} == arguments
        assert str(field.type) == result
