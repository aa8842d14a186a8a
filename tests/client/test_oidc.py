"""Credentials without long-lived secrets, against a real gateway in
``[auth] mode = "oidc"``: a local token service that speaks GitHub Actions'
``ACTIONS_ID_TOKEN_REQUEST_URL`` protocol and serves the JWKS its tokens are
signed with, and GitLab's ``id_tokens`` variable named by ``MODELGATE_TOKEN_ENV``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from modelgate_client import Client, ModelgateError
from modelgate_client.credentials import GitHubActionsToken, TokenFromEnvironment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.client.conftest import gateway_process, run_mg
from tests.security.conftest import ServerThread

REQUEST_TOKEN = "ghs_runtime-request-token"
SUBJECT = "repo:acme/models:ref:refs/heads/main"


@dataclass
class TokenService:
    """GitHub's OIDC token service, as a job sees it: ``GET <url>&audience=A`` with
    ``Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`` answers ``{"value": jwt}``."""

    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "gh-1"}))
    issuer: str = ""
    lifetime: int = 300
    audiences: list[str] = field(default_factory=list)

    def mint(self, audience: str, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": audience,
            "sub": SUBJECT,
            "repository": "acme/models",
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.lifetime,
            "roles": ["TEAM_LEAD"],
            "groups": ["platform"],
            **claims,
        }
        return jwt.encode({"alg": "RS256", "kid": "gh-1"}, body, self.key)

    def app(self) -> Starlette:
        async def token(request: Request) -> Response:
            if request.headers.get("authorization") != f"bearer {REQUEST_TOKEN}":
                return JSONResponse({"message": "bad runtime token"}, status_code=401)
            if request.query_params.get("api-version") != "2.0":
                return JSONResponse({"message": "api-version lost"}, status_code=400)
            audience = request.query_params.get("audience", "")
            self.audiences.append(audience)
            return JSONResponse({"count": 1, "value": self.mint(audience)})

        async def discovery(_request: Request) -> Response:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"})

        async def jwks(_request: Request) -> Response:
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        return Starlette(
            routes=[
                Route("/_apis/token", token),
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
            ]
        )


@pytest.fixture(scope="module")
def service() -> Iterator[TokenService]:
    tokens = TokenService()
    with ServerThread(tokens.app()) as server:
        tokens.issuer = server.url
        yield tokens


@pytest.fixture(scope="module")
def oidc_gateway(service: TokenService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    auth = (
        f'[auth]\nmode = "oidc"\nissuer = "{service.issuer}"\naudience = "modelgate"\n'
        f'jwks_url = "{service.issuer}/jwks"\nroles_claim = "roles"\nteams_claim = "groups"\n'
    )
    with gateway_process(tmp_path_factory.mktemp("oidc-gateway"), auth) as url:
        yield url


def github_env(service: TokenService, **extra: str) -> dict[str, str]:
    return {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{service.issuer}/_apis/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        **extra,
    }


def test_a_github_job_registers_with_its_own_oidc_token(
    service: TokenService, oidc_gateway: str, tmp_path: Path
) -> None:
    service.audiences.clear()
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"trained in CI")
    model = f"ci-{uuid.uuid4().hex[:6]}"
    done = run_mg("register", "--registry", "platform", "--model", model, str(weights), "--metric", "auc=0.9",
                  url=oidc_gateway, env=github_env(service))  # fmt: skip
    assert done.code == 0, done.err
    assert service.audiences == ["modelgate"]
    with Client(oidc_gateway, token=service.mint("modelgate")) as reader:
        assert reader.version(done.out.strip()).raw["createdBy"] == SUBJECT


def test_the_configured_audience_is_requested(service: TokenService, oidc_gateway: str) -> None:
    service.audiences.clear()
    wrong = run_mg("search", url=oidc_gateway, env=github_env(service, MODELGATE_AUDIENCE="someone-else"))
    assert service.audiences == ["someone-else"]
    assert wrong.code == 2 and "UNAUTHENTICATED" in wrong.err  # the gateway checks the audience


def test_without_id_token_permission_the_error_says_so(service: TokenService, oidc_gateway: str) -> None:
    env = {**github_env(service), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "not-the-runtime-token"}
    done = run_mg("search", url=oidc_gateway, env=env)
    assert done.code == 2 and "OIDC_TOKEN_REFUSED" in done.err and "id-token: write" in done.err


def test_the_token_is_fetched_again_before_it_expires(service: TokenService, oidc_gateway: str) -> None:
    service.audiences.clear()
    now = [time.time()]
    mg = Client(oidc_gateway, environ=github_env(service))
    assert isinstance(mg.credentials, GitHubActionsToken)
    mg.credentials._clock = lambda: now[0]
    mg.search()
    mg.search()
    assert len(service.audiences) == 1  # cached while valid
    now[0] += service.lifetime - 30  # within a minute of its expiry
    mg.search()
    assert len(service.audiences) == 2
    mg.close()


def test_gitlab_id_token_from_the_named_variable(service: TokenService, oidc_gateway: str) -> None:
    env = {"MODELGATE_TOKEN_ENV": "MODELGATE_ID_TOKEN", "MODELGATE_ID_TOKEN": service.mint("modelgate")}
    assert run_mg("search", url=oidc_gateway, env=env).code == 0
    mg = Client(oidc_gateway, environ={"MODELGATE_TOKEN_ENV": "MODELGATE_ID_TOKEN"})
    assert isinstance(mg.credentials, TokenFromEnvironment)
    with pytest.raises(ModelgateError) as unset:
        mg.search()
    assert unset.value.code == "NO_CREDENTIALS" and "MODELGATE_ID_TOKEN" in unset.value.message
    mg.close()
