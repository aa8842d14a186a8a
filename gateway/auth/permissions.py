"""What a principal may do (README "Security": permissions).

- read the catalogue: any principal, except restricted models (below);
- ``registerModelVersion``, artifact uploads, ``requestPromotion``: a member of
  the registry's team, or ``admin``;
- approve or reject a promotion: a holder of the role it satisfies, never the
  requester (``gateway.governance.promotions``);
- ``auditEvents``, ``complianceReport``, reports and exports: ``auditor``,
  ``compliance`` or ``admin``.

Restricted models (their registry has ``restricted = true``, or the model or
one of its versions carries the tag ``restricted=true``) are visible only to
their team and ``admin``: in search results, facets, counts, by-URI reads and
lineage, where a hidden node becomes a redacted placeholder.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from gateway.auth.principal import Principal
from gateway.catalogue.search import Visibility
from gateway.config import RegistrySettings, Settings
from gateway.errors import Forbidden

# Redacted lineage ids are keyed per process: a plain hash of a guessable URI
# (mg://registry/model/1) could be reversed by hashing guesses.
_REDACTION_KEY = secrets.token_bytes(32)


def require_registry_team(principal: Principal, registry: RegistrySettings) -> None:
    """Writes into a registry are for its team (or ``admin``)."""
    if not principal.in_team(registry.team):
        raise Forbidden(
            f"{principal.name} is not a member of team {registry.team or '(none)'}, "
            f"which owns registry {registry.id}",
            registry=registry.id,
        )


def visibility_for(principal: Principal, settings: Settings) -> Visibility | None:
    """What of the catalogue ``principal`` may see; None means everything (admin)."""
    if principal.is_admin:
        return None
    return Visibility(
        teams=principal.teams,
        restricted_registries=frozenset(r.id for r in settings.registries if r.restricted),
    )


def redacted_uri(uri: str) -> str:
    """A stable (per process) placeholder for a lineage node the caller may not see."""
    digest = hmac.new(_REDACTION_KEY, uri.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"redacted:{digest[:16]}"
