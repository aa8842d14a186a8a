"""Every GraphQL document the client sends is valid against the repository's
``schema.graphql`` (so a schema change that breaks the client fails here), and
the inputs it builds coerce to the schema's input types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate
from graphql.utilities import validate_input_value
from modelgate_client import documents
from modelgate_client.client import _registration_details

from tests.client.conftest import REPO


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema((REPO / "schema.graphql").read_text())


@pytest.mark.parametrize("name", sorted(documents.DOCUMENTS))
def test_document_is_valid_against_the_schema(schema: GraphQLSchema, name: str) -> None:
    errors = validate(schema, parse(documents.DOCUMENTS[name]))
    assert not errors, [e.message for e in errors]


def test_every_document_is_listed() -> None:
    """A document added to the module but not to DOCUMENTS would escape the check."""
    sent = {
        value
        for name, value in vars(documents).items()
        if name.isupper() and isinstance(value, str) and value.lstrip().startswith(("query", "mutation"))
    }
    assert sent == set(documents.DOCUMENTS.values())


def test_a_broken_document_fails_the_check(schema: GraphQLSchema) -> None:
    """The check can fail: a field the schema lacks is reported."""
    broken = documents.VERSION.replace("semver", "semverNumber")
    assert validate(schema, parse(broken))


def coerce(schema: GraphQLSchema, type_name: str, value: dict[str, Any]) -> None:
    errors: list[str] = []

    def on_error(error: Any, path: Any) -> None:
        errors.append(f"{path}: {error.message}")

    validate_input_value(value, schema.get_type(type_name), on_error)  # type: ignore[arg-type]
    assert not errors, errors


def test_a_registration_coerces_to_register_version_input(schema: GraphQLSchema, tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text("Scores card fraud.\n\n## Limitations\nCards only.\n")
    spec = {
        "registry": "platform",
        "model": "fraud",
        "artifactUri": "file:///x/model.bin",
        "artifactDigest": "sha256:" + "0" * 64,
        **_registration_details(
            "1.2.0",
            {"auc": 0.91},
            {"lr": 0.1},
            ["s3://data/train.parquet", {"uri": "s3://data/val.parquet", "role": "validation"}],
            card,
            "mg://platform/fraud/1",
            {"owner": "alice"},
            "better",
        ),
    }
    coerce(schema, "RegisterVersionInput", spec)


def test_a_wrong_input_fails_the_check(schema: GraphQLSchema) -> None:
    with pytest.raises(AssertionError):
        coerce(
            schema, "RegisterVersionInput", {"registry": "p", "model": "m", "artifactUri": "x", "metric": []}
        )


def test_a_rollout_coerces_to_rollout_input(schema: GraphQLSchema) -> None:
    coerce(
        schema,
        "RolloutInput",
        {"uri": "mg://p/m/1", "endpoint": "e", "steps": [5.0, 100.0], "stepSeconds": 60,
         "maxErrorRate": 0.01, "reason": "r"},
    )  # fmt: skip


def test_directory_registration_matches_the_schema_once_it_has_files(schema: GraphQLSchema) -> None:
    fields = schema.get_type("RegisterVersionInput").fields  # type: ignore[union-attr]
    if "files" not in fields:
        pytest.skip("this schema has no directory versions yet (RegisterVersionInput.files)")
    coerce(
        schema,
        "RegisterVersionInput",
        {"registry": "p", "model": "m", "files": [{"path": "a/b.bin", "uri": "file:///x/a/b.bin"}]},
    )
