"""``adapters.toolkit.errors``: one error taxonomy for every registry's HTTP
statuses, with the same extension keys, and ``Retry-After`` read safely."""

from __future__ import annotations

import pytest

from adapters.toolkit.errors import error_for_status, off_shape, retry_after_seconds
from gateway.errors import (
    RegistryAuthError,
    RegistryForbidden,
    RegistryNotFound,
    RegistryRejected,
    RegistryUnavailable,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, RegistryAuthError),
        (403, RegistryForbidden),
        (404, RegistryNotFound),
        (408, RegistryUnavailable),
        (429, RegistryUnavailable),
        (500, RegistryUnavailable),
        (503, RegistryUnavailable),
        (400, RegistryRejected),
        (409, RegistryRejected),
        (422, RegistryRejected),
    ],
)
def test_each_status_maps_to_one_error(status: int, kind: type) -> None:
    error = error_for_status("reg", status, "boom")
    assert type(error) is kind
    assert error.status == status  # type: ignore[attr-defined]
    assert error.extensions["registry"] == "reg"
    assert "registryCode" not in error.extensions and "retryAfterSeconds" not in error.extensions


def test_the_registry_code_and_retry_after_travel_as_extensions() -> None:
    error = error_for_status("reg", 429, "slow down", registry_code="RATE_LIMITED", retry_after=2.5, op="x")
    assert error.extensions["registryCode"] == "RATE_LIMITED"
    assert error.extensions["retryAfterSeconds"] == 2.5
    assert error.extensions["op"] == "x"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        (None, None),
        ("", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),
    ],
)
def test_retry_after_is_delta_seconds_or_unknown(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_an_off_shape_answer_is_unavailable() -> None:
    error = off_shape("reg", "the listing", "a JSON list")
    assert isinstance(error, RegistryUnavailable)
    assert error.extensions["shape"] == "unexpected"
    assert "the listing" in error.message and "a JSON list" in error.message
