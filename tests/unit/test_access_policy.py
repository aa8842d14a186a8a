"""The permission matrix of ``gateway.auth.access``, rule by rule: who may see a
registry's contents, a model, a version read live; who may write, approve as a
role, read the audit log. One row per (principal, question)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth.access import AccessPolicy, RoleScopes, Visibility, is_restricted
from gateway.auth.principal import Principal
from gateway.config import ConfigError, RegistrySettings, Settings
from gateway.domain import ModelVersion
from gateway.governance.policies import parse_policies

REGISTRIES = {
    "platform": RegistrySettings("platform", "native", team="platform"),
    "vault": RegistrySettings("vault", "native", team="secret", restricted=True),
    "orphan": RegistrySettings("orphan", "native", team=None, restricted=True),
}
P = {
    "admin": Principal("root", frozenset({"admin"})),
    "lead": Principal("lee", frozenset({"TEAM_LEAD"}), frozenset({"platform"})),
    "other-lead": Principal("ola", frozenset({"TEAM_LEAD"}), frozenset({"ads"})),
    "member": Principal("mem", teams=frozenset({"platform"})),
    "secret": Principal("sam", teams=frozenset({"secret"})),
    "legal": Principal("lia", frozenset({"LEGAL"})),
    "auditor": Principal("aud", frozenset({"auditor"})),
    "compliance": Principal("con", frozenset({"compliance"})),
    "nobody": Principal("nobody"),
}


def policy(who: str, roles: RoleScopes | None = None) -> AccessPolicy:
    return AccessPolicy(P[who], REGISTRIES, roles or RoleScopes())


# (principal, registry, owning team, restricted tag) -> may see the model
SEE_MODEL: list[tuple[str, str, str | None, bool, bool]] = [
    ("nobody", "platform", "platform", False, True),
    ("nobody", "platform", "platform", True, False),
    ("member", "platform", "platform", True, True),
    ("lead", "platform", "platform", True, True),
    ("other-lead", "platform", "platform", True, False),
    ("auditor", "platform", "platform", True, False),  # auditors see it in reports only
    ("legal", "platform", "platform", True, False),
    ("admin", "platform", "platform", True, True),
    ("nobody", "vault", "secret", False, False),
    ("member", "vault", "secret", False, False),
    ("secret", "vault", "secret", False, True),
    ("secret", "vault", None, False, True),  # the registry's team owns an unowned model
    ("admin", "vault", "secret", False, True),
    ("secret", "orphan", None, False, False),  # nobody's registry: admin only
    ("admin", "orphan", None, False, True),
    ("nobody", "unconfigured", None, False, True),
    ("nobody", "unconfigured", "x", True, False),
]


@pytest.mark.parametrize(("who", "registry", "team", "restricted", "allowed"), SEE_MODEL)
def test_can_see_model(who: str, registry: str, team: str | None, restricted: bool, allowed: bool) -> None:
    assert policy(who).can_see_model(registry, team, restricted) is allowed


SEE_REGISTRY = [
    ("nobody", "platform", True),
    ("nobody", "vault", False),
    ("member", "vault", False),
    ("secret", "vault", True),
    ("admin", "vault", True),
    ("admin", "orphan", True),
    ("secret", "orphan", False),
]


@pytest.mark.parametrize(("who", "registry", "allowed"), SEE_REGISTRY)
def test_can_see_registry(who: str, registry: str, allowed: bool) -> None:
    assert policy(who).can_see_registry(registry) is allowed


# A version read live: its own tags, its model's tags, its model hidden in the index.
LIVE: list[tuple[str, dict[str, Any], dict[str, Any], bool, bool]] = [
    ("nobody", {}, {}, False, True),
    ("nobody", {"restricted": "TRUE"}, {}, False, False),
    ("nobody", {}, {"restricted": "true"}, False, False),
    ("nobody", {}, {}, True, False),  # untagged, but its model is hidden
    ("member", {}, {}, True, False),  # hidden from them in the index means hidden
    ("member", {"restricted": "true"}, {}, False, True),
    ("admin", {}, {}, True, True),
]


@pytest.mark.parametrize(("who", "tags", "model_tags", "model_hidden", "allowed"), LIVE)
def test_can_see_version_read_live(
    who: str, tags: dict[str, Any], model_tags: dict[str, Any], model_hidden: bool, allowed: bool
) -> None:
    v = ModelVersion("platform", "m", "1", tags=tags, team="platform")
    assert policy(who).can_see_version(v, model_hidden=model_hidden, model_tags=model_tags) is allowed


WRITE = [
    ("member", "platform", True),
    ("lead", "platform", True),
    ("other-lead", "platform", False),
    ("legal", "platform", False),
    ("admin", "platform", True),
    ("admin", None, True),
    ("member", None, False),
]


@pytest.mark.parametrize(("who", "team", "allowed"), WRITE)
def test_can_write(who: str, team: str | None, allowed: bool) -> None:
    assert policy(who).can_write(team) is allowed


CUSTOM = RoleScopes(team_scoped=frozenset({"TEAM_LEAD", "LEGAL"}), organisation=frozenset())
APPROVE: list[tuple[str, str, str | None, RoleScopes | None, bool]] = [
    ("lead", "TEAM_LEAD", "platform", None, True),
    ("other-lead", "TEAM_LEAD", "platform", None, False),  # another team's lead
    ("other-lead", "TEAM_LEAD", "ads", None, True),
    ("lead", "TEAM_LEAD", None, None, False),  # a model of no team has no lead
    ("legal", "LEGAL", "platform", None, True),  # organisation-wide
    ("legal", "LEGAL", "ads", None, True),
    ("legal", "TEAM_LEAD", "platform", None, False),  # does not hold it
    ("member", "TEAM_LEAD", "platform", None, False),  # in the team, without the role
    ("admin", "TEAM_LEAD", "platform", None, False),  # admin is not every role
    ("legal", "LEGAL", "platform", CUSTOM, False),  # the policy file made LEGAL team-scoped
    ("other-lead", "TEAM_LEAD", "platform", RoleScopes(frozenset(), frozenset()), True),
]


@pytest.mark.parametrize(("who", "role", "team", "scopes", "allowed"), APPROVE)
def test_can_approve(who: str, role: str, team: str | None, scopes: RoleScopes | None, allowed: bool) -> None:
    assert policy(who, scopes).can_approve(role, team) is allowed


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("auditor", True),
        ("compliance", True),
        ("admin", True),
        ("legal", False),
        ("lead", False),
        ("nobody", False),
    ],
)
def test_can_read_audit(who: str, allowed: bool) -> None:
    assert policy(who).can_read_audit is allowed


def test_the_index_filter_follows_the_same_rule() -> None:
    assert policy("admin").visibility is None
    assert policy("secret").visibility == Visibility(frozenset({"secret"}), frozenset({"vault", "orphan"}))
    anonymous = AccessPolicy.anonymous(Settings(registries=tuple(REGISTRIES.values())))
    assert anonymous.visibility == Visibility(frozenset(), frozenset({"vault", "orphan"}))


@pytest.mark.parametrize(
    ("value", "restricted"), [("true", True), (" TRUE ", True), ("false", False), ("", False)]
)
def test_the_restricted_tag(value: str, restricted: bool) -> None:
    assert is_restricted({"restricted": value}) is restricted


def test_policy_file_roles() -> None:
    default = parse_policies("policies: []\n").roles
    assert default.team_scoped == {"TEAM_LEAD"} and default.organisation == {"LEGAL", "SECURITY"}
    custom = parse_policies("roles: {team_scoped: [TEAM_LEAD, OWNER], organisation: [LEGAL]}\n").roles
    assert custom.is_team_scoped("OWNER") and not custom.is_team_scoped("LEGAL")
    assert not parse_policies("roles: {team_scoped: []}\n").roles.is_team_scoped("TEAM_LEAD")
    with pytest.raises(ConfigError, match="both team_scoped and organisation"):
        parse_policies("roles: {team_scoped: [LEGAL], organisation: [LEGAL]}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_policies("roles: {teams: [LEGAL]}\n")
