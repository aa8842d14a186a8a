"""What can go wrong, as values a pipeline can branch on.

Two families, matching ``mg``'s exit codes:

- ``Refused`` (exit 1): the gateway or the data said no. A promotion blocked by
  policy or rejected, a wait that timed out, a file whose digest is not the one
  registered, a failed policy check.
- everything else (exit 2): the request could not be made or was malformed. No
  gateway at that URL, bad credentials, an unknown version, bad input.

Every error carries the gateway's ``code`` (``BAD_USER_INPUT``, ``NOT_FOUND``,
``FORBIDDEN``, ``UNAUTHENTICATED``, ...) or one of the client's own
(``CONNECTION_FAILED``, ``DIGEST_MISMATCH``, ``TIMEOUT``, ...) and a message
naming what is wrong.
"""

from __future__ import annotations

from typing import Any


class ModelgateError(Exception):
    """An error with the gateway's (or the client's) code and message."""

    exit_code = 2

    def __init__(self, code: str, message: str, *, status: int | None = None, details: Any = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status  # the HTTP status, when an answer came
        self.details = details  # the full GraphQL error list or the refused object

    def __reduce__(self) -> tuple[Any, ...]:  # picklable despite keyword-only arguments
        return (_rebuild, (type(self), self.code, self.message, self.status))


def _rebuild(cls: type[ModelgateError], code: str, message: str, status: int | None) -> ModelgateError:
    return cls(code, message, status=status)


class ConnectionFailed(ModelgateError):
    """No answer: the URL is wrong, nothing listens there, TLS failed, or it timed out."""


class ConfigurationError(ModelgateError):
    """The client was not told where the gateway is, or how to authenticate."""


class Refused(ModelgateError):
    """The gateway or the bytes said no (``mg`` exits 1)."""

    exit_code = 1


class PromotionRefused(Refused):
    """A promotion request ended BLOCKED (by policy), REJECTED or FAILED."""


class WaitTimedOut(Refused):
    """A wait for a promotion or a rollout ran out of time; the request is still open."""


class DigestMismatch(Refused):
    """Bytes whose sha256 is not the digest the gateway holds for them."""


class PolicyCheckFailed(Refused):
    """A version violates at least one error-severity policy."""
