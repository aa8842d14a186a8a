"""Who is asking: a principal with roles and team memberships."""

from __future__ import annotations

from dataclasses import dataclass, field

ADMIN = "admin"
AUDIT_ROLES = frozenset({"auditor", "compliance", ADMIN})


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def in_team(self, team: str | None) -> bool:
        return self.is_admin or (team is not None and team in self.teams)


# With ``[auth] mode = "none"`` (loopback only, see ``gateway.cli.check_exposure``)
# every caller is this local operator.
LOCAL_OPERATOR = Principal("local", frozenset({ADMIN}))
