"""The people of ``modelgate demo``: one key each, so a newcomer can request a
promotion as one person and approve it as others, in the dashboard or with
``curl -H 'x-api-key: …'``.

They exist only while the demo runs with ``[auth] mode = "none"``, where every
caller is an administrator anyway (``gateway.http_auth.NoAuthentication``):
the keys are well known, so they must never reach a real authentication mode.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gateway.auth.apikeys import hash_key
from gateway.config import ApiKeySettings, Settings


@dataclass(frozen=True)
class Persona:
    key: str
    name: str
    title: str
    roles: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "name": self.name,
            "title": self.title,
            "roles": list(self.roles),
            "teams": list(self.teams),
        }


DEMO_TEAMS = ("platform", "research", "fraud")
PERSONAS = (
    Persona("mg_demo_requester", "rita", "requester (ML engineer)", (), DEMO_TEAMS),
    Persona("mg_demo_team_lead", "lena", "team lead", ("TEAM_LEAD",), DEMO_TEAMS),
    Persona("mg_demo_legal", "leo", "legal", ("LEGAL",)),
    Persona("mg_demo_security", "sam", "security", ("SECURITY",)),
    Persona("mg_demo_auditor", "ada", "auditor", ("auditor",)),
)


def with_personas(settings: Settings) -> Settings:
    """``settings`` with the demo personas' keys, when auth is off; as it was otherwise."""
    if settings.auth.mode != "none":
        return settings
    keys = [
        *settings.auth.api_keys,
        *(ApiKeySettings(p.name, hash_key(p.key), list(p.roles), list(p.teams)) for p in PERSONAS),
    ]
    return dataclasses.replace(settings, auth=dataclasses.replace(settings.auth, api_keys=keys))


def demo_personas(settings: Settings) -> tuple[Persona, ...]:
    """The personas a demo server offers: none unless auth is off."""
    return PERSONAS if settings.auth.mode == "none" else ()


def personas_text() -> str:
    """What ``modelgate demo`` prints: who is who, and each one's key."""
    width = max(len(p.title) for p in PERSONAS)
    lines = ["Personas (pick one under 'Act as' in the dashboard, or send x-api-key: <key>):"]
    for p in PERSONAS:
        held = ", ".join(p.roles) or "no approval role"
        teams = f"; teams {', '.join(p.teams)}" if p.teams else ""
        lines.append(f"  {p.title:<{width}}  {p.name:<5} {p.key:<19} {held}{teams}")
    return "\n".join(lines)
