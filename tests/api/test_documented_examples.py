"""Every GraphQL example people copy works when pasted: each ```graphql block of
the README and of the manual's pages (docs/) and every operation the dashboard and
GraphiQL send is one valid document against the schema the gateway serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import GraphQLSyntaxError, parse, validate

from gateway.api.schema import schema

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "gateway" / "ui" / "static"
README_BLOCK = re.compile(r"^[ \t]*```graphql\n(.*?)^[ \t]*```", re.M | re.S)
# const NAME = `query ...` / `mutation ...` (the dashboard's operations), and GraphiQL's example.
JS_OPERATION = re.compile(r"const [A-Z_]+ = `((?:#[^\n]*\n)*\s*(?:query|mutation|\{).*?)`;", re.S)


def readme_examples() -> list[tuple[str, str]]:
    """The README's blocks, then every docs page's (generated reference pages hold none)."""
    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(REPO).as_posix()
        found += [(f"{name} block {i + 1}", block) for i, block in enumerate(README_BLOCK.findall(text))]
    return found


# const NAME = `...`; a selection an operation of the same file splices in as ${NAME}.
JS_CONSTANT = re.compile(r"const ([A-Z_]+) = `([^`]*)`;")
SPLICE = re.compile(r"\$\{([^}]*)\}")


def _spliced(operation: str, constants: dict[str, str]) -> str:
    """The document the dashboard sends: each ${NAME} replaced by that constant; any
    other interpolation stays, so the document fails to parse and the test says where."""
    return SPLICE.sub(lambda m: constants.get(m.group(1), m.group(0)), operation)


def dashboard_operations() -> list[tuple[str, str]]:
    found = []
    for path in sorted(STATIC.glob("*.js")):
        text = path.read_text(encoding="utf-8")
        constants = dict(JS_CONSTANT.findall(text))
        for i, operation in enumerate(JS_OPERATION.findall(text)):
            found.append((f"{path.name} operation {i + 1}", _spliced(operation, constants)))
    return found


EXAMPLES = readme_examples() + dashboard_operations()


def test_the_examples_were_found() -> None:
    """The extraction itself works: a regex that matched nothing would pass everything."""
    assert len(readme_examples()) >= 8
    names = {name.split(" ")[0] for name, _ in dashboard_operations()}
    assert {"catalogue.js", "model.js", "governance.js", "audit.js", "impact.js", "graphiql.js"} <= names


@pytest.mark.parametrize(("where", "document"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_example_is_one_valid_document(where: str, document: str) -> None:
    errors = validate(schema._schema, parse(document))
    assert not errors, f"{where}: {[e.message for e in errors]}"


def test_splices_are_resolved_from_the_same_file() -> None:
    constants = {"FIELDS": "id status"}
    assert _spliced("query { rollouts { ${FIELDS} } }", constants) == "query { rollouts { id status } }"
    with pytest.raises(GraphQLSyntaxError):
        parse(_spliced("query { rollouts { ${other.fields} } }", constants))


def test_a_broken_example_would_be_caught() -> None:
    two_anonymous = "{ registries { id } }\n{ models { totalCount } }"
    assert validate(schema._schema, parse(two_anonymous))
    assert validate(schema._schema, parse("{ registries { nope } }"))
