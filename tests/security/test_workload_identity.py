"""CI jobs as principals (``[[auth.workload_issuers]]``): GitHub Actions- and GitLab
CI-shaped OIDC tokens, minted by local providers that serve discovery and a JWKS,
verified beside a human IdP's. A matching rule gives the job its roles, teams and
name (which the audit log records); anything else is refused."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from adapters.protocol import RegistrationRequest
from gateway.auth.errors import Unauthenticated
from gateway.auth.workload import IssuerVerifiers
from gateway.config import ConfigError, settings_from_mapping
from gateway.domain import ModelVersion
from gateway.runtime import Gateway
from tests.security.conftest import AUDIENCE, IdentityProvider, ServerThread, serve


@pytest.fixture(scope="module")
def actions() -> Iterator[IdentityProvider]:
    """Plays token.actions.githubusercontent.com."""
    provider = IdentityProvider()
    with ServerThread(provider.app) as server:
        provider.issuer = server.url
        yield provider


@pytest.fixture(scope="module")
def gitlab() -> Iterator[IdentityProvider]:
    """Plays a GitLab instance's id_tokens issuer."""
    provider = IdentityProvider()
    with ServerThread(provider.app) as server:
        provider.issuer = server.url
        yield provider


def github_claims(actions: IdentityProvider, **overrides: Any) -> dict[str, Any]:
    """What GitHub puts in a job's token (no roles, no groups)."""
    repository = overrides.pop("repository", "acme/fraud-detector")
    environment = overrides.pop("environment", "production")
    claims: dict[str, Any] = {
        "roles": None,
        "groups": None,
        "sub": f"repo:{repository}:environment:{environment}",
        "repository": repository,
        "repository_owner": repository.split("/")[0],
        "environment": environment,
        "ref": "refs/heads/main",
        "workflow_ref": f"{repository}/.github/workflows/release.yml@refs/heads/main",
        "job_workflow_ref": f"{repository}/.github/workflows/release.yml@refs/heads/main",
        "runner_environment": "github-hosted",
    }
    claims.update(overrides)
    return claims


def gitlab_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "roles": None,
        "groups": None,
        "sub": "project_path:ml/churn:ref_type:branch:ref:main",
        "project_path": "ml/churn",
        "namespace_path": "ml",
        "ref": "main",
        "ref_type": "branch",
        "environment": "staging",
        "pipeline_source": "push",
    }
    claims.update(overrides)
    return claims


def auth_config(
    human: IdentityProvider, actions: IdentityProvider, gitlab: IdentityProvider
) -> dict[str, Any]:
    return {
        "mode": "oidc",
        "issuer": human.issuer,
        "audience": AUDIENCE,
        "workload_issuers": [
            {
                "issuer": actions.issuer,
                "audience": "modelgate-ci",
                "jwks_url": f"{actions.issuer}/jwks",
                "rules": [
                    {
                        "match": {"repository": "acme/fraud-detector", "environment": "production"},
                        "roles": ["deployer"],
                        "teams": ["platform"],
                        "name": "github:{repository}",
                    },
                    {"match": {"repository_owner": "acme", "ref": "refs/heads/*"}, "teams": ["readers"]},
                ],
            },
            {  # discovery, not jwks_url
                "issuer": gitlab.issuer,
                "audience": "modelgate-ci",
                "rules": [
                    {
                        "match": {"namespace_path": "ml", "project_path": "ml/*", "environment": "staging"},
                        "roles": ["TEAM_LEAD"],
                        "teams": ["research"],
                        "name": "gitlab:{project_path}",
                    }
                ],
            },
        ],
    }


@pytest.fixture
async def served(
    sqlite_gateway: Gateway, fresh_idp: IdentityProvider, actions: IdentityProvider, gitlab: IdentityProvider
) -> AsyncIterator[httpx.AsyncClient]:
    auth = settings_from_mapping({"auth": auth_config(fresh_idp, actions, gitlab)}, environ={}).auth
    settings = dataclasses.replace(sqlite_gateway.settings, auth=auth)
    version = ModelVersion("platform", "fraud-detector", "0", artifact_uri="s3://models/fraud/model.bin")
    await sqlite_gateway.register_version("platform", RegistrationRequest("fraud-detector", version, "setup"))
    async with serve(sqlite_gateway, settings=settings) as client:
        yield client


WHO = "{ registries { id } }"
REQUEST = """mutation { requestPromotion(uri: "mg://platform/fraud-detector@none", targetStage: STAGING,
  reason: "release pipeline") { id status requestedBy version { uri } } }"""
AUDIT = "{ auditEvents(first: 20) { edges { node { action principal subject } } } }"


async def post(client: httpx.AsyncClient, token: str, query: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"})


def ci_token(provider: IdentityProvider, claims: dict[str, Any], aud: str = "modelgate-ci") -> str:
    return provider.token(aud=aud, **claims)


async def test_a_github_job_matching_a_rule_is_its_principal_and_is_audited(
    served: httpx.AsyncClient, fresh_idp: IdentityProvider, actions: IdentityProvider
) -> None:
    token = ci_token(actions, github_claims(actions))
    asked = await post(served, token, REQUEST)
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert "errors" not in body, body
    request = body["data"]["requestPromotion"]
    assert request["requestedBy"] == "github:acme/fraud-detector"
    assert request["version"]["uri"] == "mg://platform/fraud-detector/1"
    # A person of the human IdP (auditor) reads who asked in the audit log.
    audit = (await post(served, fresh_idp.token(), AUDIT)).json()
    principals = {
        (e["node"]["action"], e["node"]["principal"]) for e in audit["data"]["auditEvents"]["edges"]
    }
    assert ("promotion.requested", "github:acme/fraud-detector") in principals, audit


async def test_the_first_matching_rule_decides_and_globs_match(
    served: httpx.AsyncClient, actions: IdentityProvider
) -> None:
    # Not production: the second rule (any acme repository on a branch) matches, with
    # no team of the registry, so the job reads but may not request.
    token = ci_token(actions, github_claims(actions, repository="acme/other", environment="dev"))
    read = await post(served, token, "{ registries { id } }")
    assert read.status_code == 200 and "errors" not in read.json()
    refused = (await post(served, token, REQUEST)).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (
        "repo:acme/other:environment:dev is not a member of team platform" in refused["errors"][0]["message"]
    )


async def test_a_gitlab_job_maps_through_its_own_issuer(
    served: httpx.AsyncClient, gitlab: IdentityProvider
) -> None:
    token = ci_token(gitlab, gitlab_claims())
    response = await post(served, token, REQUEST)
    body = response.json()
    # gitlab:ml/churn is in team research, not platform: authenticated, then FORBIDDEN.
    assert response.status_code == 200
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "gitlab:ml/churn is not a member of team platform" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "claims",
    [
        {"repository": "evil/fraud-detector", "repository_owner": "evil", "ref": "refs/tags/x"},
        # Case matters ("Production"), and a pull request's ref is no branch.
        {"environment": "Production", "ref": "refs/pull/1/merge", "repository_owner": "acme-forks"},
    ],
    ids=["another owner", "near misses"],
)
async def test_a_job_no_rule_matches_is_refused(
    served: httpx.AsyncClient, actions: IdentityProvider, claims: dict[str, Any]
) -> None:
    token = ci_token(actions, {**github_claims(actions), **claims})
    response = await post(served, token, WHO)
    assert response.status_code == 403, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "WORKLOAD_NOT_MAPPED"
    assert "no rule of [[auth.workload_issuers]]" in error["message"]
    assert f"environment={claims.get('environment', 'production')}" in error["message"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_roles_in_a_ci_token_are_ignored(served: httpx.AsyncClient, gitlab: IdentityProvider) -> None:
    # A job cannot grant itself admin by a claim: only the rules say what it holds.
    token = ci_token(gitlab, gitlab_claims(roles=["admin", "auditor"], groups=["platform"]))
    audit = (await post(served, token, AUDIT)).json()
    assert audit["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    "forge",
    ["wrong audience", "human audience", "expired", "unknown issuer", "signed by the human IdP", "tampered"],
)
async def test_bad_ci_tokens_are_unauthenticated(
    served: httpx.AsyncClient,
    fresh_idp: IdentityProvider,
    actions: IdentityProvider,
    forge: str,
) -> None:
    claims = github_claims(actions)
    now = int(time.time())
    if forge == "wrong audience":
        token = ci_token(actions, claims, aud="someone-else")
    elif forge == "human audience":  # a token for the human audience is not one for CI
        token = ci_token(actions, claims, aud=AUDIENCE)
    elif forge == "expired":
        token = ci_token(actions, {**claims, "exp": now - 120, "iat": now - 600})
    elif forge == "unknown issuer":
        token = ci_token(actions, {**claims, "iss": "https://token.actions.example.net"})
    elif forge == "signed by the human IdP":  # the CI issuer's name, another issuer's key
        token = fresh_idp.token(aud="modelgate-ci", iss=actions.issuer, **claims)
    else:
        header, _, signature = ci_token(actions, github_claims(actions, repository="acme/other")).split(".")
        payload = ci_token(actions, claims).split(".")[1]
        token = f"{header}.{payload}.{signature}"
    response = await post(served, token, WHO)
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    if forge == "unknown issuer":
        assert "not trusted" in response.json()["errors"][0]["message"]


async def test_people_of_the_main_issuer_still_sign_in(
    served: httpx.AsyncClient, fresh_idp: IdentityProvider
) -> None:
    response = await post(served, fresh_idp.token(), "{ registries { id } }")
    assert response.status_code == 200 and "errors" not in response.json()


BASE = {"mode": "oidc", "issuer": "https://idp.example.com/", "audience": "modelgate"}
GOOD_ISSUER = {
    "issuer": "https://token.actions.githubusercontent.com",
    "audience": "modelgate",
    "rules": [{"match": {"repository": "acme/fraud"}, "teams": ["platform"]}],
}


@pytest.mark.parametrize(
    ("auth", "key"),
    [
        ({"mode": "none", "workload_issuers": [GOOD_ISSUER]}, "auth.workload_issuers"),
        ({**BASE, "workload_issuers": [{**GOOD_ISSUER, "rules": []}]}, "auth.workload_issuers[0].rules"),
        (
            {**BASE, "workload_issuers": [{**GOOD_ISSUER, "issuer": "http://ci.example.com"}]},
            "auth.workload_issuers[0].issuer",
        ),
        (
            {**BASE, "workload_issuers": [{**GOOD_ISSUER, "issuer": BASE["issuer"]}]},
            "auth.workload_issuers[0].issuer",
        ),
        ({**BASE, "workload_issuers": [GOOD_ISSUER, GOOD_ISSUER]}, "auth.workload_issuers[1].issuer"),
        (
            {**BASE, "workload_issuers": [{**GOOD_ISSUER, "audience": ""}]},
            "auth.workload_issuers[0].audience",
        ),
        (
            {**BASE, "workload_issuers": [{k: v for k, v in GOOD_ISSUER.items() if k != "audience"}]},
            "auth.workload_issuers[0].audience",
        ),
        (
            {**BASE, "workload_issuers": [{**GOOD_ISSUER, "rules": [{"match": {}}]}]},
            "auth.workload_issuers[0].rules[0].match",
        ),
        (
            {**BASE, "workload_issuers": [{**GOOD_ISSUER, "rules": [{"match": {"repository": "*"}}]}]},
            "auth.workload_issuers[0].rules[0].match.repository",
        ),
        (
            {**BASE, "workload_issuers": [{**GOOD_ISSUER, "rules": [{"match": {"ref": 3}}]}]},
            "auth.workload_issuers[0].rules[0].match.ref",
        ),
        (
            {
                **BASE,
                "workload_issuers": [
                    {**GOOD_ISSUER, "rules": [{"match": {"a": "b"}, "name": "{claims.__class__}"}]}
                ],
            },
            "auth.workload_issuers[0].rules[0].name",
        ),
        (
            {
                **BASE,
                "workload_issuers": [{**GOOD_ISSUER, "rules": [{"match": {"a": "b"}, "teams": "platform"}]}],
            },
            "auth.workload_issuers[0].rules[0].teams",
        ),
        ({**BASE, "workload_issuers": [{**GOOD_ISSUER, "rulez": []}]}, "auth.workload_issuers[0].rulez"),
    ],
)
def test_config_errors_name_the_key(auth: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({"auth": auth}, environ={})
    assert raised.value.key == key, raised.value


async def test_each_issuer_keeps_its_own_key_cache_and_refetch_limit(
    fresh_idp: IdentityProvider, actions: IdentityProvider, gitlab: IdentityProvider
) -> None:
    auth = settings_from_mapping({"auth": auth_config(fresh_idp, actions, gitlab)}, environ={}).auth
    verifiers = IssuerVerifiers(auth)
    actions.requests.clear()
    try:
        token = ci_token(actions, github_claims(actions))
        for _ in range(3):
            assert (await verifiers.verify(token)).name == "github:acme/fraud-detector"
        assert actions.requests["jwks"] == 1  # cached
        # Made-up kids cannot make the gateway hammer the CI platform's JWKS.
        for i in range(5):
            forged = actions.token(
                key=RSAKey.generate_key(2048, parameters={"kid": f"made-up-{i}"}),
                kid=f"made-up-{i}",
                aud="modelgate-ci",
                **github_claims(actions),
            )
            with pytest.raises(Unauthenticated):
                await verifiers.verify(forged)
        assert actions.requests["jwks"] == 1
        assert fresh_idp.requests["jwks"] == 0 and fresh_idp.requests["discovery"] == 0  # untouched
    finally:
        await verifiers.aclose()
