"""Registry timestamps as aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["to_utc"]


def to_utc(value: datetime | str | int | float | None, *, epoch_unit: str = "ms") -> datetime | None:
    """Normalise a registry timestamp to an aware UTC datetime.

    Registries disagree: MLflow sends epoch milliseconds, Vertex RFC 3339 text
    (with ``Z`` and up to nanosecond fractions), boto3 aware datetimes.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        seconds = float(value) / (1000.0 if epoch_unit == "ms" else 1.0)
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # Python parses at most microseconds; RFC 3339 allows nanoseconds
        head, _, rest = text.partition(".")
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]  # the fraction only
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
