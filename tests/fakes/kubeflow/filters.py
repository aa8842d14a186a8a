"""The part of the registry's ``filterQuery`` language the fake understands.

The server's grammar (the ``filterQuery`` parameter of the spec) has comparisons
on standard and custom properties joined by AND/OR, LIKE, IN and grouping. The
fake evaluates comparisons (``= != <> > < >= <=``) joined by ``AND``, on
standard properties and on custom properties (optionally ``.string_value`` and
the like); anything else is answered 400, so an adapter cannot come to depend
on a filter the fake merely ignores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>!=|<>|>=|<=|=|>|<)
      | (?P<str>'(?:[^']*)'|"(?:[^"]*)")
      | (?P<num>-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)
      | (?P<word>`[^`]+`|[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
STANDARD = {
    "id",
    "name",
    "externalId",
    "createTimeSinceEpoch",
    "lastUpdateTimeSinceEpoch",
    "state",
    "owner",
    "author",
    "registeredModelId",
    "modelVersionId",
    "servingEnvironmentId",
    "runtime",
    "desiredState",
}
VALUE_FIELDS = ("string_value", "int_value", "double_value", "bool_value")


class FilterError(ValueError):
    pass


Predicate = Callable[[Mapping[str, Any]], bool]


def parse(query: str) -> Predicate:
    """A predicate over an entity's JSON for ``query``; raises ``FilterError``."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        match = TOKEN.match(query, pos)
        if not match:
            raise FilterError(f"cannot parse filterQuery at {query[pos:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    clauses: list[list[tuple[str, str]]] = [[]]
    for kind, text in tokens:
        if kind == "word" and text.upper() == "AND":
            clauses.append([])
        elif kind == "word" and text.upper() in ("OR", "LIKE", "ILIKE", "IN", "NOT"):
            raise FilterError(f"the fake does not support {text.upper()} in filterQuery")
        else:
            clauses[-1].append((kind, text))
    checks = [_clause(c) for c in clauses]
    return lambda entity: all(check(entity) for check in checks)


def _clause(tokens: list[tuple[str, str]]) -> Predicate:
    if len(tokens) != 3 or tokens[0][0] != "word" or tokens[1][0] != "op":
        raise FilterError(f"expected <property> <operator> <value>, got {' '.join(t for _, t in tokens)!r}")
    name, op, (kind, raw) = tokens[0][1].strip("`"), tokens[1][1], tokens[2]
    if kind == "str":
        value: Any = raw[1:-1]
    elif kind == "num":
        value = float(raw)
    elif kind == "word" and raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        raise FilterError(f"expected a value after {op}, got {raw!r}")

    def check(entity: Mapping[str, Any]) -> bool:
        actual = _lookup(entity, name)
        if actual is None:
            return False
        if isinstance(value, float):
            try:
                actual = float(actual)
            except (TypeError, ValueError):
                return False
        elif isinstance(value, bool):
            actual = actual is True or str(actual).lower() == "true"
        else:
            actual = str(actual)
        return _compare(actual, op, value)

    return check


def _lookup(entity: Mapping[str, Any], name: str) -> Any:
    if name in STANDARD:
        return entity.get(name)
    base, _, field = name.partition(".")
    if field and field not in VALUE_FIELDS:
        base, field = name, ""
    prop = (entity.get("customProperties") or {}).get(base)
    if not prop:
        return None
    if field:
        return prop.get(field)
    return next((prop[f] for f in VALUE_FIELDS if f in prop), None)


def _compare(actual: Any, op: str, value: Any) -> bool:
    if op == "=":
        return bool(actual == value)
    if op in ("!=", "<>"):
        return bool(actual != value)
    if op == ">":
        return bool(actual > value)
    if op == "<":
        return bool(actual < value)
    if op == ">=":
        return bool(actual >= value)
    return bool(actual <= value)
