"""HTTP statuses and off-shape answers as the one ``RegistryError`` taxonomy."""

from __future__ import annotations

from typing import Any

from gateway.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryForbidden,
    RegistryNotFound,
    RegistryRejected,
    RegistryUnavailable,
)

__all__ = ["error_for_status", "off_shape", "retry_after_seconds"]


def error_for_status(
    registry_id: str,
    status: int,
    text: str,
    *,
    registry_code: str | None = None,
    retry_after: float | None = None,
    **extensions: Any,
) -> RegistryError:
    """The one error taxonomy every adapter maps its registry's answers to, with
    the same extension keys (``registry``, ``registryCode``: the registry's own
    error code, ``retryAfterSeconds``) and ``status`` (the HTTP status) on the
    error itself: 401 → ``RegistryAuthError``, 403 →
    ``RegistryForbidden``, 404 → ``RegistryNotFound``, 408/429/5xx →
    ``RegistryUnavailable`` (retryable), any other 4xx → ``RegistryRejected``.
    Timeouts and refused connections are ``RegistryUnavailable`` too
    (``JsonHttpClient`` raises those itself)."""
    extra: dict[str, Any] = dict(extensions)
    if registry_code:
        extra["registryCode"] = registry_code
    if retry_after is not None:
        extra["retryAfterSeconds"] = retry_after
    if status == 401:
        return RegistryAuthError(registry_id, text, status=status, **extra)
    if status == 403:
        return RegistryForbidden(registry_id, text, status=status, **extra)
    if status == 404:
        return RegistryNotFound(registry_id, text, status=status, **extra)
    if status in (408, 429) or status >= 500:
        return RegistryUnavailable(registry_id, text, status=status, **extra)
    return RegistryRejected(registry_id, text, status=status, **extra)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (delta-seconds; an HTTP date counts as unknown)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def off_shape(registry_id: str, what: str, found: str) -> RegistryUnavailable:
    """An answer off the registry's documented shape: unavailable, never an empty
    result (a sync takes an empty page to mean the registry's models were deleted)."""
    return RegistryUnavailable(
        registry_id, f"answered {what} with {found}: not the documented shape", shape="unexpected"
    )
