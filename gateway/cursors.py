"""The one decoder of the GraphQL cursors a client hands back (``after``).

A cursor is a token of ``gateway.tokens`` whose state the page that made it
defines: which keys, each of which type. Anything else a client sends, a list,
null, a string where a number was, a number past 64 bits, garbage base64, JSON
nested a million deep, is ``BAD_USER_INPUT`` naming the argument, decided here
before a value reaches a query (where it would be a database error, a 500).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gateway.errors import BadInput
from gateway.tokens import decode_token

# A key column of a keyset page is at most a BIGINT.
INT_RANGE = range(-(2**63), 2**63)
SHOWN_CHARS = 64  # of a bad cursor, in the message


def _fits(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int) and value in INT_RANGE
    if kind is float:
        return isinstance(value, int | float) and math.isfinite(value) and abs(value) < 2.0**63
    return isinstance(value, kind)


def decode_cursor(
    cursor: str, shape: Mapping[str, type], *, field: str = "after", hint: str = "an earlier page"
) -> dict[str, Any]:
    """The values of ``cursor`` for the keys of ``shape`` (each of its type: str, int
    or float), or ``BadInput`` naming ``field``."""
    try:
        state = decode_token(cursor)
    except ValueError:
        state = None
    if state is None or not all(_fits(state.get(k), kind) for k, kind in shape.items()):
        shown = cursor if len(cursor) <= SHOWN_CHARS else cursor[:SHOWN_CHARS] + "…"
        raise BadInput(f"invalid cursor {shown!r}: pass an endCursor from {hint}", field=field)
    return {k: state[k] for k in shape}
