"""``gateway.auth.workload``'s pure parts: reading a token's claimed issuer, and
mapping verified claims through an issuer's rules."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.auth.errors import Unauthenticated, WorkloadNotMapped
from gateway.auth.workload import principal_of_workload, token_issuer
from gateway.config import WorkloadIssuerSettings, settings_from_mapping

ISSUER = "https://token.actions.githubusercontent.com"


def issuer_settings(*rules: dict[str, object]) -> WorkloadIssuerSettings:
    auth = {
        "mode": "oidc",
        "issuer": "https://idp.example.com/",
        "audience": "modelgate",
        "workload_issuers": [{"issuer": ISSUER, "audience": "modelgate", "rules": list(rules)}],
    }
    return settings_from_mapping({"auth": auth}, environ={}).auth.workload_issuers[0]


def unsigned(payload: object) -> str:
    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(payload)}.c2ln"


def test_the_claimed_issuer_is_read_without_trusting_it() -> None:
    assert token_issuer(unsigned({"iss": ISSUER, "sub": "x"})) == ISSUER
    for broken in ("not-a-jwt", "a.b.c", unsigned(["iss"]), unsigned({"iss": 7}), unsigned({})):
        assert token_issuer(broken) is None


CLAIMS = {
    "iss": ISSUER,
    "sub": "repo:acme/fraud:environment:production",
    "repository": "acme/fraud",
    "repository_owner": "acme",
    "environment": "production",
    "ref": "refs/heads/main",
}


def test_the_first_matching_rule_gives_roles_teams_and_name() -> None:
    issuer = issuer_settings(
        {"match": {"repository": "acme/fraud", "environment": "staging"}, "roles": ["x"]},
        {
            "match": {"repository": "acme/*", "ref": "refs/heads/*"},
            "roles": ["deployer"],
            "teams": ["platform"],
            "name": "github:{repository}@{environment}",
        },
        {"match": {"repository_owner": "acme"}, "roles": ["admin"]},
    )
    principal = principal_of_workload(CLAIMS, issuer)
    assert principal.name == "github:acme/fraud@production"
    assert principal.roles == {"deployer"} and principal.teams == {"platform"}


def test_without_a_template_the_name_is_sub() -> None:
    issuer = issuer_settings({"match": {"repository": "acme/fraud"}})
    assert principal_of_workload(CLAIMS, issuer).name == CLAIMS["sub"]


def test_no_match_is_refused_quoting_the_claims() -> None:
    issuer = issuer_settings({"match": {"repository": "acme/fraud", "environment": "production"}})
    for claims in (
        {**CLAIMS, "environment": "Production"},  # case-sensitive
        {k: v for k, v in CLAIMS.items() if k != "environment"},  # a claim the rule names is absent
        {**CLAIMS, "environment": ["production"]},  # not a string
    ):
        with pytest.raises(WorkloadNotMapped) as refused:
            principal_of_workload(claims, issuer)
        assert "repository=acme/fraud" in refused.value.message and refused.value.status == 403


def test_a_name_template_needs_its_claims() -> None:
    issuer = issuer_settings({"match": {"repository": "acme/fraud"}, "name": "github:{workflow_ref}"})
    with pytest.raises(Unauthenticated, match="workflow_ref"):
        principal_of_workload(CLAIMS, issuer)
