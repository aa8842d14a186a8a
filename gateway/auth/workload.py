"""CI jobs as principals: OIDC tokens of GitHub Actions, GitLab CI and the like,
trusted beside the main issuer (``[[auth.workload_issuers]]``, docs/ci-identity.md).

A CI platform's token says which repository, environment and ref a job runs for,
but holds no roles or teams: the rules of its issuer map those claims to a
principal. Each issuer gets its own ``OidcVerifier`` (the same algorithm
allow-list, JWKS cache and refetch limits, ``iss``/``aud``/``exp`` checks as the
main issuer), so no check is written twice.

Which verifier reads a token is chosen by its (not yet verified) ``iss``; the
verifier then checks ``iss`` and the signature against that issuer's keys, so a
token cannot borrow another issuer's trust. A verified token no rule matches is
refused (``WORKLOAD_NOT_MAPPED``, 403): a job nobody described gets nothing.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import json
import string
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.auth.errors import Unauthenticated, WorkloadNotMapped
from gateway.auth.oidc import OidcVerifier
from gateway.auth.principal import Principal
from gateway.config import AuthSettings, WorkloadIssuerSettings, WorkloadRuleSettings

__all__ = ["IssuerVerifiers", "WorkloadVerifier", "principal_of_workload", "token_issuer"]

# The claims a refusal quotes, so whoever wrote the rules sees what the job presented.
QUOTED_CLAIMS = (
    "repository",
    "environment",
    "ref",
    "workflow_ref",
    "job_workflow_ref",
    "project_path",
    "namespace_path",
    "sub",
)


def token_issuer(token: str) -> str | None:
    """The ``iss`` a compact JWT claims, read without verifying anything: only to
    choose the verifier that will check it. None when it cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def _matches(rule: WorkloadRuleSettings, claims: Mapping[str, Any]) -> bool:
    """Every claim the rule names is a string equal to its pattern (``*`` globs;
    case-sensitive: ``acme/Fraud`` is not ``acme/fraud``)."""
    for claim, pattern in rule.match.items():
        value = claims.get(claim)
        if not isinstance(value, str) or not fnmatch.fnmatchcase(value, pattern):
            return False
    return True


def _name(rule: WorkloadRuleSettings, claims: Mapping[str, Any], issuer: str) -> str:
    """The principal's name from the rule's template (its ``sub`` without one)."""
    if rule.name is None:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated(f"token of {issuer} has no 'sub' claim to name its principal")
        return sub
    values: dict[str, str] = {}
    for _text, field, _spec, _conv in string.Formatter().parse(rule.name):
        if field is None:
            continue
        value = claims.get(field)
        if not isinstance(value, str) or not value:
            raise Unauthenticated(f"token of {issuer} has no {field!r} claim, which names its principal")
        values[field] = value
    return rule.name.format_map(values)


def principal_of_workload(claims: Mapping[str, Any], issuer: WorkloadIssuerSettings) -> Principal:
    """The principal the first rule matching ``claims`` (verified) describes;
    ``WorkloadNotMapped`` when none does."""
    for rule in issuer.rules:
        if _matches(rule, claims):
            return Principal(_name(rule, claims, issuer.issuer), frozenset(rule.roles), frozenset(rule.teams))
    presented = ", ".join(
        f"{c}={claims[c]}" for c in QUOTED_CLAIMS if isinstance(claims.get(c), str) and claims[c]
    )
    raise WorkloadNotMapped(
        f"no rule of [[auth.workload_issuers]] {issuer.issuer} matches this job ({presented or 'no claims'})"
    )


class WorkloadVerifier:
    """One CI issuer: its own ``OidcVerifier``, then its rules."""

    def __init__(self, auth: AuthSettings, issuer: WorkloadIssuerSettings, **verifier: Any):
        self.issuer = issuer
        # The main issuer's hardening (algorithms, leeway, JWKS cache and refetch
        # limits) with this issuer's URL, audience and keys.
        settings = dataclasses.replace(
            auth,
            issuer=issuer.issuer,
            audience=issuer.audience,
            jwks_url=issuer.jwks_url,
            workload_issuers=[],
        )
        self.verifier = OidcVerifier(settings, **verifier)

    async def verify(self, token: str) -> Principal:
        return principal_of_workload(await self.verifier.verified_claims(token), self.issuer)

    async def aclose(self) -> None:
        await self.verifier.aclose()


class IssuerVerifiers:
    """The main issuer (people, through ``roles_claim``/``teams_claim``) and every
    workload issuer (CI jobs, through rules), each token to the one it names.
    A token of any other issuer is refused, naming the issuer."""

    def __init__(
        self,
        auth: AuthSettings,
        main: OidcVerifier | None = None,
        workloads: Sequence[WorkloadVerifier] | None = None,
    ):
        self.main = main or OidcVerifier(auth)
        self.workloads = {
            w.issuer.issuer.rstrip("/"): w
            for w in (
                workloads
                if workloads is not None
                else [WorkloadVerifier(auth, i) for i in auth.workload_issuers]
            )
        }

    async def verify(self, token: str) -> Principal:
        issuer = token_issuer(token)
        workload = self.workloads.get(issuer.rstrip("/")) if issuer is not None else None
        if workload is not None:
            return await workload.verify(token)
        if (
            issuer is not None
            and self.workloads
            and issuer.rstrip("/") != (self.main.settings.issuer or "").rstrip("/")
        ):
            raise Unauthenticated(f"tokens of issuer {issuer[:200]!r} are not trusted here")
        # The main issuer, or a token too broken to name one: the main verifier
        # answers it as it always has (malformed, wrong issuer, ...).
        return await self.main.verify(token)

    async def aclose(self) -> None:
        await self.main.aclose()
        for workload in self.workloads.values():
            await workload.aclose()
