"""``adapters.toolkit.timestamps``: every registry's timestamp spelling as one
aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.toolkit.timestamps import to_utc

AT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1772368215123, "ms", datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)),  # MLflow
        ("1772368215123", "ms", datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)),
        (1772368215, "s", datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)),
        ("2026-03-01T12:30:15.123456789Z", "ms", AT),  # Vertex: nanoseconds, cut to micro
        ("2026-03-01T12:30:15.1Z", "ms", AT.replace(microsecond=100000)),
        pytest.param(
            "2026-03-01T14:30:15.123456+02:00",
            "ms",
            AT,
            # The fraction ends where the offset begins: its digits are not the fraction's.
        ),
        ("2026-03-01T14:30:15+02:00", "ms", AT.replace(microsecond=0)),
        ("2026-03-01T12:30:15", "ms", AT.replace(microsecond=0)),  # no zone: UTC
        (AT.replace(tzinfo=None), "ms", AT),
        (AT.astimezone(timezone(timedelta(hours=-5))), "ms", AT),  # boto3
    ],
)
def test_timestamps_become_aware_utc(value: object, unit: str, expected: datetime) -> None:
    got = to_utc(value, epoch_unit=unit)  # type: ignore[arg-type]
    assert got == expected and got is not None and got.tzinfo is UTC


def test_nothing_is_none() -> None:
    assert to_utc(None) is None and to_utc("") is None
