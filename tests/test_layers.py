"""The layers of ``gateway/`` are checked by ``lint-imports`` (pyproject.toml), which
follows every import, those under ``if TYPE_CHECKING:`` and inside functions
included. One way round it remains: ``strawberry.lazy("module")`` names a module
in a string, so a GraphQL type can reach up a layer (or round a cycle) unseen.
Shared GraphQL types live in a module below every one that uses them instead."""

from __future__ import annotations

from pathlib import Path

import gateway

ROOT = Path(gateway.__file__).parent


def test_no_graphql_type_is_resolved_lazily() -> None:
    lazy = [
        f"{path.relative_to(ROOT.parent)}:{number}"
        for path in sorted(ROOT.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "strawberry.lazy(" in line or "from strawberry import lazy" in line
    ]
    assert lazy == [], f"strawberry.lazy hides an import from lint-imports: {lazy}"
