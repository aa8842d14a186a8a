"""API keys (``[auth] mode = "apikey"``) and the loopback-only rule of ``mode = "none"``."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from gateway.auth.apikeys import ApiKeyVerifier, hash_key, new_key
from gateway.auth.errors import Unauthenticated
from gateway.cli import check_exposure
from gateway.config import ConfigError, settings_from_mapping
from gateway.runtime import Gateway
from tests.security.conftest import serve

CI_KEY = "mg_ci-key-for-tests-only"
OPS_KEY = "mg_ops-key-for-tests-only"


def apikey_auth() -> dict:
    return {
        "mode": "apikey",
        "api_keys": [
            {"name": "ci", "sha256": hash_key(CI_KEY), "roles": ["TEAM_LEAD"], "teams": ["platform"]},
            {"name": "ops", "sha256": hash_key(OPS_KEY), "roles": ["admin"]},
        ],
    }


def test_keys_map_to_their_principals() -> None:
    verifier = ApiKeyVerifier(settings_from_mapping({"auth": apikey_auth()}, environ={}).auth.api_keys)
    ci = verifier.verify(CI_KEY)
    assert (ci.name, ci.roles, ci.teams) == ("ci", {"TEAM_LEAD"}, {"platform"})
    assert verifier.verify(OPS_KEY).is_admin
    for wrong in ("", "mg_nope", CI_KEY + "x", CI_KEY.upper(), "x" * 10_000):
        with pytest.raises(Unauthenticated):
            verifier.verify(wrong)


def test_new_keys_are_random_and_hash_as_configured() -> None:
    a, b = new_key(), new_key()
    assert a != b and a.startswith("mg_") and len(a) > 40
    assert len(hash_key(a)) == 64 and hash_key(a) != hash_key(b)


def test_cli_hashes_a_key_from_stdin() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "apikey", "hash"],
        input=CI_KEY + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == hash_key(CI_KEY)


def test_cli_new_key_prints_a_config_entry_that_loads(capsys: pytest.CaptureFixture[str]) -> None:
    """The printed entry is real config: pasted under [auth], the key it names
    verifies as that principal with those roles and teams."""
    import tomllib

    from gateway.cli import main

    assert main(["apikey", "new", "--name", "dana", "--roles", "TEAM_LEAD, LEGAL", "--teams", "fraud"]) == 0
    out = capsys.readouterr().out
    key = out.split("store it nowhere else): ", 1)[1].split()[0]
    entry = tomllib.loads(out.split("\n", 1)[1])["auth"]["api_keys"][0]
    assert (
        entry["name"] == "dana" and entry["roles"] == ["TEAM_LEAD", "LEGAL"] and entry["teams"] == ["fraud"]
    )
    auth = settings_from_mapping({"auth": {"mode": "apikey", "api_keys": [entry]}}, environ={}).auth
    principal = ApiKeyVerifier(auth.api_keys).verify(key)
    assert (principal.name, principal.roles, principal.teams) == ("dana", {"TEAM_LEAD", "LEGAL"}, {"fraud"})


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"name": "x", "sha256": "abc"}, "auth.api_keys[0].sha256"),
        ({"name": "x", "sha256": "A" * 64}, "auth.api_keys[0].sha256"),
        ({"name": "x", "key": CI_KEY, "sha256": "a" * 64}, "auth.api_keys[0].key"),  # never the key itself
        ({"sha256": "a" * 64}, "auth.api_keys[0].name"),
    ],
)
def test_bad_key_entries_name_the_key(entry: dict, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({"auth": {"mode": "apikey", "api_keys": [entry]}}, environ={})
    assert raised.value.key == key


def test_apikey_mode_needs_keys() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        settings_from_mapping({"auth": {"mode": "apikey"}}, environ={})


async def test_keys_over_http(sqlite_gateway: Gateway) -> None:
    settings = dataclasses.replace(
        sqlite_gateway.settings, auth=settings_from_mapping({"auth": apikey_auth()}, environ={}).auth
    )
    query = {"query": "{ auditEvents { totalCount } }"}
    async with serve(sqlite_gateway, settings=settings) as client:
        assert (await client.post("/graphql", json=query)).status_code == 401
        wrong = await client.post("/graphql", json=query, headers={"x-api-key": "mg_wrong"})
        assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
        ops = await client.post("/graphql", json=query, headers={"authorization": f"Bearer {OPS_KEY}"})
        assert ops.status_code == 200 and "errors" not in ops.json()
        ci = await client.post("/graphql", json=query, headers={"x-api-key": CI_KEY})
        assert ci.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # ci is no auditor


@pytest.mark.parametrize(
    ("host", "mode", "opt_in", "refused"),
    [
        ("127.0.0.1", "none", False, False),
        ("::1", "none", False, False),
        ("localhost", "none", False, False),
        ("0.0.0.0", "none", False, True),
        ("10.1.2.3", "none", False, True),
        ("0.0.0.0", "none", True, False),
        ("0.0.0.0", "apikey", False, False),
    ],
)
def test_no_auth_only_on_loopback(host: str, mode: str, opt_in: bool, refused: bool) -> None:
    auth = apikey_auth() if mode == "apikey" else {"mode": "none"}
    settings = settings_from_mapping(
        {"auth": auth, "server": {"allow_unauthenticated_remote": opt_in}}, environ={}
    )
    if refused:
        with pytest.raises(ConfigError, match="allow_unauthenticated_remote"):
            check_exposure(settings, host)
    else:
        check_exposure(settings, host)
