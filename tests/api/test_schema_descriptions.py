"""Every public element of the schema is described for its users: types,
interfaces, scalars, fields, arguments, input fields and enum values. A new
element without a description fails here, by name."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
)

from gateway.api.schema import build_schema, schema
from gateway.config import GraphQLSettings

# Described by the GraphQL spec itself (graphql-core carries those texts).
SPEC_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
# Placeholder descriptions that say nothing a user did not already know.
EMPTY_WORDS = frozenset({"", "todo", "tbd", "the field", "description"})


def elements(gql: GraphQLSchema) -> Iterator[tuple[str, str | None]]:
    """(coordinate, description) of every public element, in schema-coordinate
    spelling: ``Type``, ``Type.field``, ``Type.field(arg:)``, ``Enum.VALUE``."""
    for name, named in sorted(gql.type_map.items()):
        if name.startswith("__") or name in SPEC_SCALARS:
            continue
        yield name, named.description
        yield from members(name, named)


def members(name: str, named: GraphQLNamedType) -> Iterator[tuple[str, str | None]]:
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        for field_name, field in named.fields.items():
            yield f"{name}.{field_name}", field.description
            for arg_name, arg in field.args.items():
                yield f"{name}.{field_name}({arg_name}:)", arg.description
    elif isinstance(named, GraphQLInputObjectType):
        for field_name, input_field in named.fields.items():
            yield f"{name}.{field_name}", input_field.description
    elif isinstance(named, GraphQLEnumType):
        for value_name, value in named.values.items():
            yield f"{name}.{value_name}", value.description
    elif isinstance(named, GraphQLUnionType):
        pass  # a union has only its own description


def undescribed(gql: GraphQLSchema) -> list[str]:
    return [
        coordinate
        for coordinate, description in elements(gql)
        if description is None or description.strip().rstrip(".").lower() in EMPTY_WORDS
    ]


def test_every_schema_element_has_a_description() -> None:
    missing = undescribed(schema._schema)
    assert not missing, f"{len(missing)} schema elements have no description:\n" + "\n".join(missing)


def test_the_schema_without_introspection_is_described_too() -> None:
    # The production variant (introspection off) is built separately: same types.
    gql = build_schema(GraphQLSettings(introspection=False))._schema
    assert not undescribed(gql)


def test_the_check_finds_an_undescribed_element() -> None:
    gql = schema._schema
    field = gql.type_map["Tag"].fields["key"]  # type: ignore[attr-defined]
    kept = field.description
    field.description = None
    try:
        assert undescribed(gql) == ["Tag.key"]
    finally:
        field.description = kept
