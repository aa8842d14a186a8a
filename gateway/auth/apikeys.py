"""API keys for service accounts and local use (``[auth] mode = "apikey"``).

The config holds only the SHA-256 of each key, never the key::

    [[auth.api_keys]]
    name = "ci-pipeline"                 # the principal's name in the audit log
    sha256 = "9f86d081884c7d65..."       # modelgate apikey hash < key.txt
    roles = ["TEAM_LEAD"]
    teams = ["fraud"]

A plain (unsalted, fast) hash is enough here because keys are generated, not
chosen: ``modelgate apikey new`` draws 256 random bits, which no dictionary or
brute-force attack on a leaked config can recover. Presented keys are compared
against every configured hash in constant time, so timing says nothing about
which prefix matched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from gateway.auth.errors import Unauthenticated
from gateway.auth.principal import Principal
from gateway.config import ApiKeySettings

KEY_PREFIX = "mg_"
MAX_KEY_LENGTH = 512  # longer is not a key we issued; refuse before hashing megabytes


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, as ``[[auth.api_keys]] sha256`` stores it."""
    return hashlib.sha256(key.strip().encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key (256 bits), recognisable by its ``mg_`` prefix in logs and scanners."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyVerifier:
    """Turns a presented key into the principal its config entry names."""

    def __init__(self, keys: Sequence[ApiKeySettings]):
        self._entries = [
            (
                bytes.fromhex(k.sha256),
                Principal(k.name, frozenset(k.roles), frozenset(k.teams)),
            )
            for k in keys
        ]

    def verify(self, presented: str) -> Principal:
        """The principal of ``presented``, or ``Unauthenticated``."""
        if not presented or len(presented) > MAX_KEY_LENGTH:
            raise Unauthenticated("invalid API key")
        digest = hashlib.sha256(presented.strip().encode("utf-8")).digest()
        found: Principal | None = None
        # Compare with every entry, no early exit: the time taken does not depend
        # on where (or whether) the key is configured.
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, digest):
                found = principal
        if found is None:
            raise Unauthenticated("invalid API key")
        return found
