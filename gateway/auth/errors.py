"""Authentication failures. They never reach GraphQL: the HTTP layer answers them
(401 with ``WWW-Authenticate``, or 503 when the identity provider's keys cannot
be had) before any resolver runs."""

from __future__ import annotations

from gateway.errors import GatewayError


class Unauthenticated(GatewayError):
    """No credentials, or credentials that do not verify.

    ``error`` is the RFC 6750 error code for ``WWW-Authenticate`` (``invalid_token``,
    ``invalid_request``), or None when the request carried no credentials at all.
    """

    code = "UNAUTHENTICATED"
    status = 401

    def __init__(self, message: str, *, error: str | None = "invalid_token"):
        super().__init__(message)
        self.error = error


class WorkloadNotMapped(Unauthenticated):
    """A CI job's token verified, but no rule of its issuer maps its claims to a
    principal: the job is known and refused (403), never given default roles."""

    code = "WORKLOAD_NOT_MAPPED"
    status = 403

    def __init__(self, message: str):
        super().__init__(message, error="insufficient_scope")


class AuthUnavailable(GatewayError):
    """The identity provider's keys could not be fetched and none are cached:
    the request may well be valid, so this is a 503, not a 401."""

    code = "AUTH_UNAVAILABLE"
