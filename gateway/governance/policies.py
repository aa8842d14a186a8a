"""The policy file: rules in CEL with scopes and severities, the approvals each
promotion needs, and retention rules.

The file is read, validated and compiled once, at start. Every problem is a
``ConfigError`` naming the file, the entry (``policies[2]``), the policy id and,
for a rule, the CEL error, so nothing starts on a bad file. Format (docs/governance/index.md)::

    policies:
      - id: production-needs-card
        description: Production models document intended use and limitations
        scope: { stages: [PRODUCTION], teams: [fraud], registries: [fraud-mlflow] }  # all optional
        rule: 'version.modelCard.limitations != ""'
        severity: error            # error blocks a promotion; warning only reports
    promotions:
      - to: PRODUCTION
        approvals: [TEAM_LEAD, LEGAL, SECURITY]
        scope: { teams: [fraud] }  # optional; every matching rule's roles are required
      - from: PRODUCTION           # leaving production (demoting, archiving) is governed too
        approvals: [TEAM_LEAD]     # a rule has from, to or both; it matches on each it names
      - to: PRODUCTION             # scoped by risk tier (the ``tiers`` key, gateway.governance.tiers)
        tier: high
        require: [TEAM_LEAD, RISK_OFFICER]   # ``require`` is another name for ``approvals``
    rollback:                      # optional: the approvals a rollback's requests need instead
      - to: PRODUCTION             # (same form as promotions; absent: promotions apply)
        approvals: [TEAM_LEAD]
    roles:                         # optional; these are the defaults
      team_scoped: [TEAM_LEAD]     # an approval counts only from the model's own team
      organisation: [LEGAL, SECURITY]   # counts for every team (so does any role not listed)
    retention:
      - id: archive-old-drafts
        scope: { stages: [DRAFT, STAGING] }   # default: DRAFT and STAGING
        older_than_days: 90
        keep_last: 3               # the newest 3 versions of each model are always kept
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cel
import yaml

from gateway.auth.access import RoleScopes
from gateway.config import ConfigError, Settings
from gateway.domain import Stage
from gateway.governance.evaluation import (
    FIELDS,
    FIXED_MAPS,
    Reads,
    Subject,
    build_activation,
    referenced_fields,
)
from gateway.governance.tiers import NO_TIERS, Tiers, parse_tiers

POLICY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SEVERITIES = ("error", "warning")
DEFAULT_RETENTION_STAGES = frozenset({Stage.DRAFT.value, Stage.STAGING.value})

# A blank version every rule is tried against at load: a rule naming a variable or
# function CEL does not know fails here rather than on every version later.
_SAMPLE = Subject(record={"registry_id": "r", "model_name": "m", "version": "1", "stage": "DRAFT"}, team=None)


@dataclass(frozen=True)
class Scope:
    """Where a rule applies; an empty set means "any"."""

    stages: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    registries: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()  # risk tiers (the ``tiers`` key)

    def matches(self, stage: str, team: str | None, registry: str, tier: str | None = None) -> bool:
        return (
            (not self.stages or stage in self.stages)
            and (not self.teams or team in self.teams)
            and (not self.registries or registry in self.registries)
            and (not self.tiers or tier in self.tiers)
        )

    def as_dict(self) -> dict[str, list[str]]:
        return {
            k: sorted(v)
            for k, v in (
                ("stages", self.stages),
                ("teams", self.teams),
                ("registries", self.registries),
                ("tiers", self.tiers),
            )
            if v
        }


@dataclass(frozen=True)
class Policy:
    id: str
    rule: str
    severity: str
    scope: Scope
    description: str | None
    program: Any = field(repr=False, compare=False)  # cel.Program
    fields: Reads | None = None  # what the rule reads of ``version``; None: everything

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "scope": self.scope.as_dict(),
            "description": self.description,
        }


@dataclass(frozen=True)
class PromotionRule:
    """The approvals a move needs. ``to`` and ``from_`` name the stages the move
    enters and leaves; a rule matches on each it names (at least one)."""

    to: Stage | None
    approvals: tuple[str, ...]
    scope: Scope = Scope()
    from_: Stage | None = None

    def matches(self, source: Stage | None, target: Stage) -> bool:
        return (self.to is None or self.to is target) and (
            self.from_ is None or (source is self.from_ and source is not target)
        )

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.from_ is not None:
            found["from"] = self.from_.value
        if self.to is not None:
            found["to"] = self.to.value
        return {**found, "approvals": list(self.approvals), "scope": self.scope.as_dict()}


@dataclass(frozen=True)
class RetentionRule:
    id: str
    older_than_days: int
    keep_last: int
    scope: Scope
    description: str | None = None


@dataclass(frozen=True)
class PolicySet:
    policies: tuple[Policy, ...] = ()
    promotions: tuple[PromotionRule, ...] = ()
    retention: tuple[RetentionRule, ...] = ()
    digest: str = ""  # SHA-256 of the file's bytes; "" when there is no file
    source: str | None = None
    roles: RoleScopes = field(default_factory=RoleScopes)
    # The ``rollback:`` rules (None: the file has none, and rollbacks need what promotions do).
    rollback: tuple[PromotionRule, ...] | None = None
    tiers: Tiers = NO_TIERS

    def policy(self, policy_id: str) -> Policy | None:
        return next((p for p in self.policies if p.id == policy_id), None)

    def required_approvals(
        self,
        stage: Stage,
        team: str | None,
        registry: str,
        source: Stage | None = None,
        tier: str | None = None,
        *,
        rollback: bool = False,
    ) -> tuple[str, ...]:
        """Roles a move from ``source`` to ``stage`` needs: those of every matching
        promotion rule (a rule scoped by tier: only for models of that tier; for a
        ``rollback``, of every matching ``rollback:`` rule when the file has that
        section), in file order, each once."""
        roles: list[str] = []
        rules = self.rollback if rollback and self.rollback is not None else self.promotions
        for rule in rules:
            if rule.matches(source, stage) and rule.scope.matches(stage.value, team, registry, tier):
                roles += [r for r in rule.approvals if r not in roles]
        return tuple(roles)

    def summary(self) -> dict[str, Any]:
        """What the audit log keeps of a policy set: enough to say, for any past
        moment, which policies applied where (compliance reports "as of")."""
        return {
            "digest": self.digest,
            "source": self.source,
            "policies": [p.as_dict() for p in self.policies],
            "promotions": [r.as_dict() for r in self.promotions],
            **({"rollback": [r.as_dict() for r in self.rollback]} if self.rollback is not None else {}),
            "retention": [
                {
                    "id": r.id,
                    "older_than_days": r.older_than_days,
                    "keep_last": r.keep_last,
                    "scope": r.scope.as_dict(),
                }
                for r in self.retention
            ],
            "tiers": [t.as_dict() for t in self.tiers.tiers],
        }


EMPTY = PolicySet()


def compile_rule(rule: str, key: str, policy_id: str, source: str | None) -> tuple[Any, Reads | None]:
    """Compile a CEL rule and check what it reads; raises ConfigError with the CEL error."""
    try:
        program = cel.compile(rule)
    except Exception as exc:  # the CEL parser's own error, with line and column
        raise ConfigError(f"{key}.rule", f"policy {policy_id!r}: invalid CEL: {exc}", source) from None
    fields = referenced_fields(rule)
    unknown = sorted(set(fields or ()) - FIELDS)
    if unknown:
        raise ConfigError(
            f"{key}.rule",
            f"policy {policy_id!r}: version has no field {unknown[0]!r} "
            f"(fields: {', '.join(sorted(FIELDS))})",
            source,
        )
    for name, keys in (fields or {}).items():
        wrong = sorted((keys or frozenset()) - FIXED_MAPS.get(name, frozenset()))
        if wrong:
            raise ConfigError(
                f"{key}.rule",
                f"policy {policy_id!r}: version.{name} has no field {wrong[0]!r} "
                f"(fields: {', '.join(sorted(FIXED_MAPS[name]))})",
                source,
            )
    try:
        program.execute({"version": build_activation(_SAMPLE, fields)})
    except Exception as exc:
        # Runtime errors on a blank version are expected (a missing metric); an
        # unknown name never resolves on any version, so it is a mistake in the file.
        if "Undefined variable or function" in str(exc):
            raise ConfigError(f"{key}.rule", f"policy {policy_id!r}: CEL error: {exc}", source) from None
    return program, fields


def _strings(value: Any, key: str, source: str | None) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, f"expected a list of names, got {value!r}", source)
    return value


def _mapping(value: Any, key: str, source: str | None, allowed: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected a mapping, got {value!r}", source)
    allowed = set(allowed)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}", f"unknown key (known keys: {', '.join(sorted(allowed))})", source
        )
    return value


def _stages(value: Any, key: str, source: str | None) -> frozenset[str]:
    names = _strings(value, key, source)
    bad = [n for n in names if n not in Stage.__members__]
    if bad:
        raise ConfigError(key, f"unknown stage {bad[0]!r} (stages: {', '.join(Stage.__members__)})", source)
    return frozenset(names)


def _scope(raw: Any, key: str, source: str | None) -> Scope:
    if raw is None:
        return Scope()
    m = _mapping(raw, key, source, ("stages", "teams", "registries", "tiers"))
    return Scope(
        tiers=frozenset(_strings(m["tiers"], f"{key}.tiers", source)) if "tiers" in m else frozenset(),
        stages=_stages(m["stages"], f"{key}.stages", source) if "stages" in m else frozenset(),
        teams=frozenset(_strings(m["teams"], f"{key}.teams", source)) if "teams" in m else frozenset(),
        registries=frozenset(_strings(m["registries"], f"{key}.registries", source))
        if "registries" in m
        else frozenset(),
    )


def _identifier(m: Mapping[str, Any], key: str, source: str | None, seen: set[str]) -> str:
    pid = m.get("id")
    if not isinstance(pid, str) or not POLICY_ID.match(pid):
        raise ConfigError(
            f"{key}.id", f"expected an id of letters, digits, '.', '_' or '-', got {pid!r}", source
        )
    if pid in seen:
        raise ConfigError(f"{key}.id", f"duplicate id {pid!r}", source)
    seen.add(pid)
    return pid


def _policy(raw: Any, key: str, source: str | None, seen: set[str]) -> Policy:
    m = _mapping(raw, key, source, ("id", "description", "scope", "rule", "severity", "tiers"))
    pid = _identifier(m, key, source, seen)
    rule = m.get("rule")
    if not isinstance(rule, str) or not rule.strip():
        raise ConfigError(f"{key}.rule", f"policy {pid!r}: a CEL rule (a string) is required", source)
    severity = m.get("severity", "error")
    if severity not in SEVERITIES:
        raise ConfigError(
            f"{key}.severity", f"policy {pid!r}: must be error or warning, got {severity!r}", source
        )
    description = m.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(f"{key}.description", f"policy {pid!r}: expected a string", source)
    program, fields = compile_rule(rule, key, pid, source)
    return Policy(
        id=pid,
        rule=rule.strip(),
        severity=severity,
        scope=_with_tiers(_scope(m.get("scope"), f"{key}.scope", source), m, key, source),
        description=description,
        program=program,
        fields=fields,
    )


def _promotion(raw: Any, key: str, source: str | None) -> PromotionRule:
    m = _mapping(raw, key, source, ("from", "to", "approvals", "require", "scope", "tier", "tiers"))
    stages: dict[str, Stage | None] = {}
    for name in ("from", "to"):
        value = m.get(name)
        if value is not None and value not in Stage.__members__:
            raise ConfigError(
                f"{key}.{name}", f"expected a stage ({', '.join(Stage.__members__)}), got {value!r}", source
            )
        stages[name] = Stage(str(value)) if value is not None else None
    if stages["from"] is None and stages["to"] is None:
        raise ConfigError(
            f"{key}.to", "a promotion rule names the stage it enters (to), leaves (from), or both", source
        )
    if stages["from"] is not None and stages["from"] is stages["to"]:
        raise ConfigError(f"{key}.from", f"from and to are both {stages['to']}: that is not a move", source)
    if "approvals" in m and "require" in m:
        raise ConfigError(f"{key}.require", "name the roles once: approvals or require", source)
    roles_key = "require" if "require" in m else "approvals"
    approvals = _strings(m.get(roles_key, []), f"{key}.{roles_key}", source)
    if len(set(approvals)) != len(approvals):
        raise ConfigError(f"{key}.{roles_key}", "a role is listed twice (one approval per role)", source)
    scope = _with_tiers(_scope(m.get("scope"), f"{key}.scope", source), m, key, source)
    if scope.stages:
        raise ConfigError(
            f"{key}.scope.stages", "a promotion rule is scoped by its 'from' and 'to' stages", source
        )
    return PromotionRule(stages["to"], tuple(approvals), scope, stages["from"])


def _positive_int(m: Mapping[str, Any], name: str, key: str, source: str | None, default: int | None) -> int:
    value = m.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{key}.{name}", f"expected a whole number >= 0, got {value!r}", source)
    return value


def _retention(raw: Any, key: str, source: str | None, seen: set[str]) -> RetentionRule:
    m = _mapping(raw, key, source, ("id", "description", "scope", "older_than_days", "keep_last"))
    rid = _identifier(m, key, source, seen)
    if "older_than_days" not in m:
        raise ConfigError(f"{key}.older_than_days", f"retention rule {rid!r}: is required", source)
    scope = _scope(m.get("scope"), f"{key}.scope", source)
    if not scope.stages:
        scope = Scope(DEFAULT_RETENTION_STAGES, scope.teams, scope.registries)
    if Stage.ARCHIVED.value in scope.stages:
        raise ConfigError(
            f"{key}.scope.stages", f"retention rule {rid!r}: ARCHIVED versions are already archived", source
        )
    return RetentionRule(
        id=rid,
        older_than_days=_positive_int(m, "older_than_days", key, source, None),
        keep_last=_positive_int(m, "keep_last", key, source, 0),
        scope=scope,
        description=m.get("description"),
    )


def _entries(raw: Mapping[str, Any], name: str, source: str | None) -> list[Any]:
    value = raw.get(name) or []
    if not isinstance(value, list):
        raise ConfigError(name, "expected a list", source)
    return value


def parse_policies(text: str, source: str | None = None, digest: str = "") -> PolicySet:
    """Validate and compile a policy file's text."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("(syntax)", f"invalid YAML: {exc}", source) from None
    if raw is None:
        raw = {}
    m = _mapping(
        raw, "(top level)", source, ("policies", "promotions", "rollback", "retention", "roles", "tiers")
    )
    tiers = parse_tiers(m.get("tiers"), source, POLICY_ID)
    seen: set[str] = set()
    policies = tuple(
        _policy(p, f"policies[{i}]", source, seen) for i, p in enumerate(_entries(m, "policies", source))
    )
    promotions = tuple(
        _promotion(p, f"promotions[{i}]", source) for i, p in enumerate(_entries(m, "promotions", source))
    )
    rollback = (
        tuple(_promotion(p, f"rollback[{i}]", source) for i, p in enumerate(_entries(m, "rollback", source)))
        if "rollback" in m
        else None
    )
    retention_ids: set[str] = set()
    retention = tuple(
        _retention(r, f"retention[{i}]", source, retention_ids)
        for i, r in enumerate(_entries(m, "retention", source))
    )
    policy_set = PolicySet(
        policies,
        promotions,
        retention,
        digest or hashlib.sha256(text.encode()).hexdigest(),
        source,
        _roles(m.get("roles"), source),
        rollback,
        tiers,
    )
    _check_tier_names(policy_set)
    return policy_set


def _roles(raw: Any, source: str | None) -> RoleScopes:
    """The ``roles`` key: which approval roles are team-scoped, which organisation-wide."""
    if raw is None:
        return RoleScopes()
    m = _mapping(raw, "roles", source, ("team_scoped", "organisation"))
    defaults = RoleScopes()
    team_scoped = (
        frozenset(_strings(m["team_scoped"] or [], "roles.team_scoped", source))
        if "team_scoped" in m
        else defaults.team_scoped
    )
    organisation = (
        frozenset(_strings(m["organisation"] or [], "roles.organisation", source))
        if "organisation" in m
        else defaults.organisation - team_scoped
    )
    if both := sorted(team_scoped & organisation):
        raise ConfigError("roles", f"role {both[0]!r} is listed as both team_scoped and organisation", source)
    return RoleScopes(team_scoped=team_scoped, organisation=organisation)


def _with_tiers(scope: Scope, m: Mapping[str, Any], key: str, source: str | None) -> Scope:
    """A rule's ``tier``/``tiers`` key (shorthand for ``scope.tiers``)."""
    names: list[str] = []
    for name in ("tier", "tiers"):
        if name in m:
            names += _strings(m[name], f"{key}.{name}", source)
    if not names:
        return scope
    return Scope(scope.stages, scope.teams, scope.registries, scope.tiers | frozenset(names))


def _check_tier_names(policy_set: PolicySet) -> None:
    """A scope naming a tier the file does not define would silently never apply."""
    known = set(policy_set.tiers.names)
    scoped: list[tuple[str, Scope]] = [(f"policies[{i}]", p.scope) for i, p in enumerate(policy_set.policies)]
    scoped += [(f"promotions[{i}]", r.scope) for i, r in enumerate(policy_set.promotions)]
    for key, scope in scoped:
        if unknown := sorted(scope.tiers - known):
            raise ConfigError(
                f"{key}.tiers",
                f"unknown tier {unknown[0]!r} (tiers: {', '.join(sorted(known)) or 'none defined'})",
                policy_set.source,
            )


def load_policies(path: str | Path) -> PolicySet:
    """Read and compile a policy file; raises ConfigError naming the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("governance.policies", f"policy file {str(p)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(
            "governance.policies", f"cannot read policy file {str(p)!r}: {exc.strerror}"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("(file)", "not UTF-8 text", p) from None
    return parse_policies(text, str(p), hashlib.sha256(data).hexdigest())


def policies_for(settings: Settings) -> PolicySet:
    """The settings' policy file, compiled and checked against the configured
    registries (a scope naming an unknown registry would silently never apply)."""
    if not settings.governance.policies:
        return EMPTY
    policy_set = load_policies(settings.governance.policies)
    known = {r.id for r in settings.registries}
    scoped: list[tuple[str, Scope]] = [(f"policies[{i}]", p.scope) for i, p in enumerate(policy_set.policies)]
    scoped += [(f"promotions[{i}]", r.scope) for i, r in enumerate(policy_set.promotions)]
    scoped += [(f"retention[{i}]", r.scope) for i, r in enumerate(policy_set.retention)]
    for key, scope in scoped:
        unknown = sorted(scope.registries - known)
        if unknown:
            raise ConfigError(
                f"{key}.scope.registries",
                f"unknown registry {unknown[0]!r} (configured: {', '.join(sorted(known)) or 'none'})",
                policy_set.source,
            )
    return policy_set
