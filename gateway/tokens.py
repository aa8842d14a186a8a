"""Opaque page tokens and cursors: JSON state in URL-safe base64.

One format for the GraphQL cursors and for adapters' own page tokens
(``adapters.base`` re-exports these), so both sides of the seam agree on it
without either importing the other's internals. Depends on nothing else in
the gateway.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any


def encode_token(state: Mapping[str, Any]) -> str:
    """An opaque token carrying state (e.g. an offset)."""
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    """The state of a token ``encode_token`` made; ``ValueError`` for anything else."""
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, RecursionError):  # RecursionError: JSON nested too deep
        raise ValueError(f"invalid page token {token[:64]!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"invalid page token {token[:64]!r}")
    return value
