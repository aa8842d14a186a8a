"""Every visibility and permission rule, in one place (docs/operations/security.md:
permissions). Each read path and mutation asks an ``AccessPolicy`` built from
the principal and the configuration; nothing else decides "may this principal
see or do this".

Reading the catalogue:

- any principal reads it, except restricted models;
- a model is restricted when its registry has ``restricted = true``, or the
  model or one of its versions carries the tag ``restricted=true`` (any case);
- a restricted model is visible only to its team and ``admin``: in search
  results, facets, counts, by-URI and live reads, ``node(id:)``, lineage,
  impact, promotion requests and the metrics. Everywhere else it is absent:
  an outsider gets the same answer for a hidden and an absent model.

What a registry said when it failed (a sync's ``lastError``, a call's error
text and URL) may quote request paths and the models it skipped, restricted
ones among them, so it is for those who answer for the registry: its team and
``admin``. Everyone else reads the registry's state with a reason in the
gateway's own words (``/readyz`` is read by anyone, so it has only those). The
rule does not depend on what the text says or on what the registry holds, so
it cannot become an oracle of either.

Compliance reports and the audit log are for ``auditor``, ``compliance`` and
``admin`` (``AUDIT_ROLES``); those roles see restricted models there too,
because a compliance report or an audit trail with holes is not one.

Writing: a write on a model or version starts at ``visible_model`` or
``visible_version``, and one on a promotion request or rollout at
``require_visible_subject``: what is hidden from the principal is absent to
them, worded as an absent one is, before any check that would name its team,
whatever roles they hold. Then ``registerModelVersion`` and
``requestPromotion`` need membership of the registry's team (or ``admin``).
Approving or rejecting needs the role the approval satisfies; a team-scoped
role (``TEAM_LEAD`` unless the policy file's ``roles`` key says otherwise)
counts only for the team that owns the model, an organisation-wide one
(``LEGAL``, ``SECURITY``) for every team.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from sqlalchemy import ColumnElement, or_, true

from gateway.auth.principal import AUDIT_ROLES, Principal
from gateway.config import RegistrySettings, Settings
from gateway.domain import parse_uri
from gateway.errors import BadInput, Forbidden, NotFound, RegistryError

# Redacted lineage ids are keyed per process: a plain hash of a guessable URI
# (mg://registry/model/1) could be reversed by hashing guesses.
_REDACTION_KEY = secrets.token_bytes(32)

# URIs per index read: an impact walk may visit 100,000 nodes, and SQLite bounds
# the parameters of one statement.
CHUNK = 2000
DEFAULT_TEAM_SCOPED = frozenset({"TEAM_LEAD"})
DEFAULT_ORGANISATION = frozenset({"LEGAL", "SECURITY"})


def is_restricted(tags: Mapping[str, Any]) -> bool:
    """A ``restricted=true`` tag (any case) limits who sees a model to its team."""
    return str(tags.get("restricted", "")).strip().lower() == "true"


def redacted_uri(uri: str) -> str:
    """A stable (per process) placeholder for a lineage node the caller may not see."""
    digest = hmac.new(_REDACTION_KEY, uri.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"redacted:{digest[:16]}"


@dataclass(frozen=True)
class RoleScopes:
    """Which approval roles count only for the model's own team (``team_scoped``)
    and which for every team (``organisation``). A role listed in neither is
    organisation-wide, as every role was before roles had scopes."""

    team_scoped: frozenset[str] = DEFAULT_TEAM_SCOPED
    organisation: frozenset[str] = DEFAULT_ORGANISATION

    def is_team_scoped(self, role: str) -> bool:
        return role in self.team_scoped


@dataclass(frozen=True)
class Visibility:
    """The catalogue rows a caller who is not ``admin`` may see, as the index
    filters them: every row that is not restricted, and restricted rows of their
    own teams. A row is restricted by its ``restricted`` flag (a
    ``restricted=true`` tag on the model or any version) or its registry being
    listed here. Built only by ``AccessPolicy.visibility``."""

    teams: frozenset[str] = frozenset()
    restricted_registries: frozenset[str] = frozenset()


def visible(table: Any, visibility: Visibility | None) -> ColumnElement[bool] | None:
    """The SQL condition on ``table`` (catalogue models or versions) for the rows
    ``visibility`` allows; None: all of them."""
    if visibility is None:
        return None
    hidden: ColumnElement[bool] = table.c.restricted == true()
    if visibility.restricted_registries:
        hidden = or_(hidden, table.c.registry_id.in_(sorted(visibility.restricted_registries)))
    if visibility.teams:
        return or_(~hidden, table.c.team.in_(sorted(visibility.teams)))
    return ~hidden


class CatalogueReader(Protocol):
    """The index reads the policy needs (``gateway.catalogue.index.CatalogueIndex``)."""

    async def get_models(
        self, uris: Sequence[str], visibility: Visibility | None = None
    ) -> Mapping[str, Any]: ...

    async def get_versions(
        self, uris: Sequence[str], visibility: Visibility | None = None
    ) -> Mapping[str, Any]: ...


async def _found(
    read: Callable[..., Awaitable[Mapping[str, Any]]], uris: Sequence[str], visibility: Visibility | None
) -> set[str]:
    """The URIs among ``uris`` an index read returns (under ``visibility``), in chunks."""
    found: set[str] = set()
    for start in range(0, len(uris), CHUNK):
        found |= set(await read(uris[start : start + CHUNK], visibility=visibility))
    return found


@dataclass(frozen=True)
class AccessPolicy:
    """What one principal may see and do, under one configuration."""

    principal: Principal
    registries: Mapping[str, RegistrySettings] = field(default_factory=dict)
    roles: RoleScopes = field(default_factory=RoleScopes)

    @classmethod
    def of(cls, principal: Principal, settings: Settings, roles: RoleScopes | None = None) -> AccessPolicy:
        return cls(principal, {r.id: r for r in settings.registries}, roles or RoleScopes())

    @classmethod
    def anonymous(cls, settings: Settings, roles: RoleScopes | None = None) -> AccessPolicy:
        """An unauthenticated reader (``/metrics``): sees only what is open to everyone."""
        return cls.of(Principal("anonymous"), settings, roles)

    # --- the catalogue ------------------------------------------------------------

    @property
    def sees_everything(self) -> bool:
        return self.principal.is_admin

    @cached_property
    def visibility(self) -> Visibility | None:
        """The index filter for this principal; None means everything (admin)."""
        if self.sees_everything:
            return None
        return Visibility(
            teams=self.principal.teams,
            restricted_registries=frozenset(r.id for r in self.registries.values() if r.restricted),
        )

    def registry_team(self, registry_id: str) -> str | None:
        registry = self.registries.get(registry_id)
        return registry.team if registry else None

    def can_see_registry(self, registry_id: str) -> bool:
        """Whether the contents of a registry are open to this principal (a
        restricted registry is its team's only)."""
        registry = self.registries.get(registry_id)
        if self.sees_everything or registry is None or not registry.restricted:
            return True
        return registry.team is not None and registry.team in self.principal.teams

    def can_see_model(self, registry_id: str, team: str | None, restricted: bool) -> bool:
        """A catalogue entry of ``registry_id`` owned by ``team``; ``restricted``: a
        ``restricted=true`` tag on the model or any of its versions."""
        if self.sees_everything:
            return True
        if not restricted and not self._registry_restricted(registry_id):
            return True
        owner = team or self.registry_team(registry_id)
        return owner is not None and owner in self.principal.teams

    def can_see_version(
        self, version: Any, *, model_hidden: bool = False, model_tags: Mapping[str, Any] | None = None
    ) -> bool:
        """A version read live from its registry (perhaps not indexed yet): hidden
        when its model is hidden from this principal in the index (``model_hidden``:
        indexed, but not visible), or its own or its model's tags restrict it to
        another team."""
        if self.sees_everything:
            return True
        if model_hidden:
            return False
        restricted = is_restricted(version.tags) or is_restricted(model_tags or {})
        return self.can_see_model(version.registry_id, version.team, restricted)

    async def hidden_uris(self, index: CatalogueReader, uris: Iterable[str]) -> set[str]:
        """The ``mg://`` model and version URIs among ``uris`` this principal may
        not see: indexed ones the filter hides, versions of hidden models, and ones
        not indexed (yet) of a registry restricted to another team. Other URIs
        (datasets, code, endpoints) are never in the answer."""
        if self.sees_everything:
            return set()
        versions: list[str] = []
        models: list[str] = []
        model_of: dict[str, str] = {}
        for uri in dict.fromkeys(uris):
            try:
                parsed = parse_uri(uri)
            except ValueError:
                continue  # datasets, code, endpoints: not catalogue entries
            if parsed.version is not None:
                versions.append(uri)
                model_of[uri] = uri.rsplit("/", 1)[0]
            else:
                models.append(uri)
        if not versions and not models:
            return set()
        seen = await _found(index.get_versions, versions, self.visibility)
        seen |= await _found(index.get_models, models, self.visibility)
        unseen_versions = [u for u in versions if u not in seen]
        unseen_models = [u for u in models if u not in seen]
        if not unseen_versions and not unseen_models:
            return set()
        # Unfiltered: is it hidden, or just not indexed?
        indexed = await _found(index.get_versions, unseen_versions, None)
        indexed |= await _found(index.get_models, unseen_models, None)
        parents = sorted({model_of[u] for u in unseen_versions if u not in indexed})
        shown = await _found(index.get_models, parents, self.visibility)
        hidden_parents = await _found(index.get_models, [p for p in parents if p not in shown], None)
        hidden = set()
        for uri in (*unseen_versions, *unseen_models):
            if (
                uri in indexed
                or model_of.get(uri) in hidden_parents
                or not self.can_see_registry(parse_uri(uri).registry_id)
            ):
                hidden.add(uri)
        return hidden

    # --- mutations: the one gate every write on a catalogue entry passes ---------------
    #
    # For a principal who may not see a model or version, it is absent: a write on it
    # answers NOT_FOUND in the very words an absent one gets, before any permission
    # check that would name its team, whatever organisation-wide role they hold.

    async def visible_version(self, index: CatalogueReader, uri: str, *, field: str = "uri") -> Any:
        """The indexed version ``uri`` names, for a mutation on it: BAD_USER_INPUT
        for a URI that names no version, NOT_FOUND for one this principal may not
        see, worded as for an absent one (``requestPromotion``, ``startRollout``,
        ``addReview``, ``recordDeployment`` start here)."""
        try:
            parsed = parse_uri(uri)
        except ValueError as exc:
            raise BadInput(str(exc), field=field) from None
        if parsed.version is None:
            raise BadInput(f"{uri} names a model: name one of its versions", field=field)
        version = (await index.get_versions([uri], visibility=self.visibility)).get(uri)
        if version is None:
            raise NotFound(f"no version {uri} in the catalogue", field=field)
        return version

    async def visible_model(self, index: CatalogueReader, uri: str, *, field: str = "modelUri") -> Any:
        """The indexed model ``uri`` names, for a mutation on it (``setRiskTier``,
        ``rollback``): as ``visible_version``, for models."""
        try:
            parsed = parse_uri(uri)
        except ValueError as exc:
            raise BadInput(str(exc), field=field) from None
        if parsed.names_version:  # a version, or a reference to one (mg://r/m@production)
            raise BadInput(f"{uri} names a version: name its model, {parsed.model_uri}", field=field)
        model = (await index.get_models([uri], visibility=self.visibility)).get(uri)
        if model is None:
            raise NotFound(f"no model {uri} in the catalogue", field=field)
        return model

    def takes_part(self, requested_by: str, roles: Iterable[str] = (), team: str | None = None) -> bool:
        """Whether this principal asked for a promotion request or rollout, or may
        decide one of ``roles`` for ``team``: they find it even when its version is
        hidden from them (approvers of a restricted model's promotion must)."""
        if self.sees_everything or requested_by == self.principal.name:
            return True
        return bool(self.approvable(roles, team))

    async def require_visible_subject(
        self,
        index: CatalogueReader,
        version_uri: str,
        absent: NotFound,
        *,
        requested_by: str,
        roles: Iterable[str] = (),
        team: str | None = None,
    ) -> None:
        """A write on a promotion request or rollout of ``version_uri``: ``absent``
        (what an unknown id gets) unless this principal takes part in it or may
        see its version."""
        if self.takes_part(requested_by, roles, team):
            return
        if await self.hidden_uris(index, [version_uri]):
            raise absent

    def reads_registry_errors(self, registry_id: str) -> bool:
        """Whether this principal reads what ``registry_id`` said when it failed."""
        return self.principal.in_team(self.registry_team(registry_id))

    def registry_error(self, error: RegistryError) -> RegistryError:
        """``error`` as this principal may be told it: every registry error an answer
        carries passes here (``Context.report``, the OpenLineage export)."""
        return error if self.reads_registry_errors(error.registry_id) else error.without_detail()

    def _registry_restricted(self, registry_id: str) -> bool:
        registry = self.registries.get(registry_id)
        return registry is not None and registry.restricted

    # --- writes and governance ------------------------------------------------------

    def can_write(self, team: str | None) -> bool:
        """Registering versions and requesting promotions: the owning team, or admin."""
        return self.principal.in_team(team)

    def require_registry_team(self, registry: RegistrySettings) -> None:
        """Writes into a registry are for its team (or ``admin``)."""
        if not self.can_write(registry.team):
            raise Forbidden(
                f"{self.principal.name} is not a member of team {registry.team or '(none)'}, "
                f"which owns registry {registry.id}",
                registry=registry.id,
            )

    def can_approve(self, role: str, team: str | None) -> bool:
        """Whether this principal's approval counts for ``role`` on a model of
        ``team``: they hold the role, and a team-scoped role is theirs for that team."""
        if not self.principal.has_role(role):
            return False
        return not self.roles.is_team_scoped(role) or self.principal.in_team(team)

    def approvable(self, roles: Iterable[str], team: str | None) -> list[str]:
        """The roles among ``roles`` this principal may approve (or reject) as."""
        return [r for r in roles if self.can_approve(r, team)]

    @property
    def can_read_audit(self) -> bool:
        """The audit log, compliance reports and their exports."""
        return bool(self.principal.roles & AUDIT_ROLES)

    def require_audit_role(self) -> None:
        if not self.can_read_audit:
            raise Forbidden(f"{self.principal.name} needs one of the roles {', '.join(sorted(AUDIT_ROLES))}")
