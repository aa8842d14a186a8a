"""Who the client says it is: an API key, a bearer token, or a CI job's own
OIDC token, so that machines need no long-lived secret.

Chosen in this order (the first that applies):

1. ``api_key=`` / ``token=`` given to ``Client``;
2. ``MODELGATE_API_KEY`` (sent as ``X-API-Key``), ``MODELGATE_TOKEN`` (``Authorization: Bearer``);
3. ``MODELGATE_TOKEN_ENV``: the name of a variable holding a JWT, as GitLab CI's
   ``id_tokens:`` provides one (read anew for every request);
4. inside GitHub Actions with ``permissions: id-token: write``
   (``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` set),
   the job's OIDC token for audience ``MODELGATE_AUDIENCE`` (default
   ``modelgate``), fetched again a minute before it expires;
5. none: only a gateway in ``[auth] mode = "none"`` answers.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from modelgate_client.errors import ConfigurationError, ConnectionFailed, ModelgateError

if TYPE_CHECKING:
    import httpx

DEFAULT_AUDIENCE = "modelgate"
# Fetch a new token this long before the current one expires (GitHub's live ~5-10 minutes).
REFRESH_MARGIN_SECONDS = 60.0
# A token whose expiry cannot be read is fetched again after this long.
UNKNOWN_LIFETIME_SECONDS = 240.0


class Credentials(Protocol):
    """Headers that authenticate one request to the gateway."""

    description: str

    def headers(self) -> dict[str, str]: ...


@dataclass
class NoCredentials:
    description: str = "no credentials"

    def headers(self) -> dict[str, str]:
        return {}


@dataclass
class ApiKey:
    key: str
    description: str = "an API key"

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}


@dataclass
class BearerToken:
    token: str
    description: str = "a bearer token"

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@dataclass
class TokenFromEnvironment:
    """GitLab CI: ``id_tokens: { MODELGATE_ID_TOKEN: { aud: modelgate } }`` puts a
    JWT in a variable; ``MODELGATE_TOKEN_ENV=MODELGATE_ID_TOKEN`` names it."""

    variable: str
    environ: Mapping[str, str]
    description: str = ""

    def __post_init__(self) -> None:
        self.description = f"the token in ${self.variable}"

    def headers(self) -> dict[str, str]:
        token = self.environ.get(self.variable, "").strip()
        if not token:
            raise ConfigurationError(
                "NO_CREDENTIALS",
                f"MODELGATE_TOKEN_ENV names {self.variable}, which is not set or empty "
                "(GitLab: declare it under id_tokens: in the job)",
            )
        return {"authorization": f"Bearer {token}"}


class GitHubActionsToken:
    """The job's OIDC token from GitHub's token service (``id-token: write``):
    ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`` with
    ``Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`` answers
    ``{"value": "<jwt>"}``. Cached until a minute before its ``exp``."""

    description = "the GitHub Actions job's OIDC token"

    def __init__(
        self,
        request_url: str,
        request_token: str,
        audience: str,
        http: Callable[[], httpx.Client],
        clock: Callable[[], float] = time.time,
    ):
        separator = "&" if "?" in request_url else "?"
        self.url = f"{request_url}{separator}audience={quote(audience, safe='')}"
        self.request_token = request_token
        self.audience = audience
        self._http = http
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = threading.Lock()

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token()}"}

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._token = self._fetch()
                expires = jwt_expiry(self._token)
                now = self._clock()
                if expires is None:
                    self._refresh_at = now + UNKNOWN_LIFETIME_SECONDS
                else:
                    self._refresh_at = max(now, expires - REFRESH_MARGIN_SECONDS)
            return self._token

    def _fetch(self) -> str:
        import httpx

        try:
            response = self._http().get(
                self.url, headers={"authorization": f"bearer {self.request_token}"}, timeout=30
            )
        except httpx.HTTPError as exc:
            raise ConnectionFailed(
                "CONNECTION_FAILED", f"cannot reach GitHub's OIDC token service: {exc}"
            ) from None
        if response.status_code != 200:
            raise ModelgateError(
                "OIDC_TOKEN_REFUSED",
                f"GitHub's token service answered HTTP {response.status_code} "
                "(does the job have permissions: id-token: write?)",
                status=response.status_code,
            )
        try:
            value = response.json()["value"]
        except (ValueError, KeyError, TypeError):
            value = None
        if not isinstance(value, str) or not value:
            raise ModelgateError("OIDC_TOKEN_REFUSED", "GitHub's token service answered without a token")
        return value


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it (the gateway verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
        return float(exp) if isinstance(exp, int | float) else None
    except (IndexError, ValueError, AttributeError):
        return None


def resolve_credentials(
    api_key: str | None,
    token: str | None,
    environ: Mapping[str, str] | None,
    http: Callable[[], httpx.Client],
) -> Credentials:
    """The credentials the arguments and the environment call for (module docstring)."""
    env = os.environ if environ is None else environ
    if api_key:
        return ApiKey(api_key, "the api_key given")
    if token:
        return BearerToken(token, "the token given")
    if env.get("MODELGATE_API_KEY"):
        return ApiKey(env["MODELGATE_API_KEY"], "MODELGATE_API_KEY")
    if env.get("MODELGATE_TOKEN"):
        return BearerToken(env["MODELGATE_TOKEN"], "MODELGATE_TOKEN")
    if env.get("MODELGATE_TOKEN_ENV"):
        return TokenFromEnvironment(env["MODELGATE_TOKEN_ENV"], env)
    request_url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    request_token = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if request_url and request_token:
        audience = env.get("MODELGATE_AUDIENCE") or DEFAULT_AUDIENCE
        return GitHubActionsToken(request_url, request_token, audience, http)
    return NoCredentials()
