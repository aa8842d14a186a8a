"""Errors users can act on. Each carries a stable ``code`` that reaches GraphQL
clients as ``extensions.code``; anything that is not a ``GatewayError`` is an
internal fault and is masked before it leaves the server."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An unexpected fault: the client sees only this code and the request id (details in the log)."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any):
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def as_extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extensions}


class BadInput(GatewayError):
    """The request is wrong as sent: a value, argument or cursor (``extensions.field`` names it)."""

    code = "BAD_USER_INPUT"


class NotFound(GatewayError):
    """No such thing, or one the caller may not see (both answer alike)."""

    code = "NOT_FOUND"


class Forbidden(GatewayError):
    """The caller is known but lacks the role or team membership the operation needs."""

    code = "FORBIDDEN"


class Conflict(GatewayError):
    """The request clashes with the current state (an open request for the same move, a running rollout)."""

    code = "CONFLICT"


class RegistryError(GatewayError):
    """A registry answered with an error (or not at all). Names the registry."""

    code = "REGISTRY_ERROR"
    retryable = False
    summary = "answered with an error"  # what happened, in the gateway's own words

    def __init__(self, registry_id: str, message: str, *, status: int | None = None, **extensions: Any):
        super().__init__(f"registry {registry_id}: {message}", registry=registry_id, **extensions)
        self.registry_id = registry_id
        self.status = status

    def without_detail(self) -> RegistryError:
        """This error for a reader who may not read what the registry said (its
        text, the URL of the call: they may name models the reader may not see;
        ``AccessPolicy.registry_error``): the code, the registry and its state."""
        message = f"registry {self.registry_id}: {self.summary} (its team and admins see the details)"
        masked = type(self).__new__(type(self), message)  # same class and code; no __init__ rewording
        masked.__dict__.update(vars(self))
        masked.message = message
        masked.extensions = {k: v for k, v in self.extensions.items() if k in ("registry", "state")}
        return masked


class RegistryUnavailable(RegistryError):
    """Unreachable, timing out, throttling or failing with 5xx: worth retrying a read."""

    code = "REGISTRY_UNAVAILABLE"
    summary = "unavailable"
    retryable = True


class RegistryAuthError(RegistryError):
    """modelgate's own credentials for the registry are missing, expired or refused."""

    code = "REGISTRY_AUTH_FAILED"
    summary = "cannot authenticate"

    def __init__(self, registry_id: str, message: str, *, status: int | None = None, **extensions: Any):
        super().__init__(registry_id, f"cannot authenticate: {message}", status=status, **extensions)


class RegistryForbidden(RegistryError):
    """The registry denies modelgate's principal the operation."""

    code = "REGISTRY_FORBIDDEN"
    summary = "denies the gateway the operation"


class RegistryRejected(RegistryError):
    """The registry refused a request as invalid (its 4xx); retrying will not help."""

    code = "REGISTRY_REJECTED"
    summary = "rejected the request"


class RegistryNotFound(RegistryRejected):
    """The registry says the thing asked for does not exist (its 404)."""

    code = "REGISTRY_NOT_FOUND"
    summary = "does not have what was asked for"
