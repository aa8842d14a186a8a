"""``gateway.tokens`` and ``gateway.cursors``: opaque page tokens round-trip, and
anything else is refused as bad input naming the argument, never a crash."""

from __future__ import annotations

import base64

import pytest

from gateway.cursors import decode_cursor
from gateway.errors import BadInput
from gateway.tokens import decode_token, encode_token


def test_a_token_round_trips_its_state() -> None:
    state = {"i": 40, "name": "fraud/détecteur", "rank": -1.5}
    token = encode_token(state)
    assert decode_token(token) == state
    assert "=" not in token.rstrip("=") and "/" not in token and "+" not in token  # URL-safe


@pytest.mark.parametrize(
    "token",
    [
        "%%%",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),  # JSON, but not an object
        base64.urlsafe_b64encode(b"{not json").decode(),
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),  # nested too deep
    ],
)
def test_anything_else_is_a_value_error(token: str) -> None:
    with pytest.raises(ValueError, match="invalid page token"):
        decode_token(token)


SHAPE = {"name": str, "order": int, "rank": float}


def test_a_cursor_gives_the_values_of_its_shape() -> None:
    cursor = encode_token({"name": "a", "order": 3, "rank": 2, "extra": True})
    assert decode_cursor(cursor, SHAPE) == {"name": "a", "order": 3, "rank": 2}


@pytest.mark.parametrize(
    "state",
    [
        {"name": "a", "order": 3},  # a key missing
        {"name": 1, "order": 3, "rank": 0.5},  # a wrong type
        {"name": "a", "order": True, "rank": 0.5},  # a bool is not a number here
        {"name": "a", "order": 2**63, "rank": 0.5},  # out of a database integer's range
        {"name": "a", "order": 1, "rank": 1e300},  # too large for a sort key
    ],
)
def test_a_cursor_of_another_shape_is_bad_input(state: dict[str, object]) -> None:
    with pytest.raises(BadInput) as caught:
        decode_cursor(encode_token(state), SHAPE, field="before", hint="the same query")
    assert caught.value.extensions["field"] == "before"
    assert "pass an endCursor from the same query" in caught.value.message


def test_a_long_bad_cursor_is_shown_cut_short() -> None:
    with pytest.raises(BadInput) as caught:
        decode_cursor("x" * 500, SHAPE)
    assert "x" * 64 + "…" in caught.value.message and "x" * 65 not in caught.value.message
