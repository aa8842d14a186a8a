"""Risk tiers: the policy file's ``tiers`` key, and the tier of a model.

Each tier has a name, an optional CEL rule over ``model`` and how often a model
of that tier must be reviewed in production. A model's tier is the first tier
(in file order) whose rule holds; a tier without a rule matches every model, so
the last one usually has none and is the default. A tier set by ``setRiskTier``
(stored in ``model_risk_tiers``, audited as ``risk_tier.set``) overrides the
rules for that model. Format (docs/governance/compliance.md, "Risk tiers")::

    tiers:
      - name: high
        rule: 'model.tags["risk"] == "high"'
        review_every_days: 90     # PRODUCTION versions are reviewed this often
        grace_days: 14            # overdue: a warning, an error after this grace
      - name: minimal             # no rule: every other model
        review_every_days: 365

The rule sees ``model``: ``{uri, name, registry, team, description, tags}``
(tags map key to string; absent values are ``""``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cel

from gateway.config import ConfigError
from gateway.domain import Model

TIER_NAME_HELP = "letters, digits, '.', '_' or '-'"


@dataclass(frozen=True)
class Tier:
    name: str
    rule: str | None = None
    review_every_days: int | None = None  # None: no periodic review
    grace_days: int = 0
    description: str | None = None
    program: Any = field(default=None, repr=False, compare=False)  # cel.Program

    def matches(self, model: Mapping[str, Any]) -> bool:
        if self.program is None:
            return True
        try:
            return self.program.execute({"model": model}) is True
        except Exception:  # a missing tag and the like: the rule does not hold
            return False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rule": self.rule,
            "review_every_days": self.review_every_days,
            "grace_days": self.grace_days,
        }


def model_activation(model: Model) -> dict[str, Any]:
    """What a tier rule sees of a model."""
    return {
        "uri": model.uri,
        "name": model.name,
        "registry": model.registry_id,
        "team": model.team or "",
        "description": model.description or "",
        "tags": {str(k): str(v) for k, v in model.tags.items()},
    }


@dataclass(frozen=True)
class Tiers:
    tiers: tuple[Tier, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)

    def get(self, name: str | None) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)

    def by_rule(self, model: Model) -> str | None:
        """The tier the rules give ``model`` (None without tiers, or when none matches)."""
        if not self.tiers:
            return None
        activation = model_activation(model)
        return next((t.name for t in self.tiers if t.matches(activation)), None)


NO_TIERS = Tiers()


def _int(m: Mapping[str, Any], name: str, key: str, source: str | None, default: int | None) -> int | None:
    value = m.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{key}.{name}", f"expected a whole number >= 0, got {value!r}", source)
    return value


def parse_tiers(raw: Any, source: str | None, name_pattern: Any) -> Tiers:
    """The ``tiers`` key: a list of tiers (see the module docstring)."""
    if raw is None:
        return NO_TIERS
    if not isinstance(raw, list):
        raise ConfigError("tiers", "expected a list of tiers", source)
    found: list[Tier] = []
    for i, entry in enumerate(raw):
        key = f"tiers[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(key, f"expected a mapping, got {entry!r}", source)
        allowed = {"name", "rule", "review_every_days", "grace_days", "description"}
        if unknown := sorted(set(entry) - allowed):
            raise ConfigError(
                f"{key}.{unknown[0]}", f"unknown key (known keys: {', '.join(sorted(allowed))})", source
            )
        name = entry.get("name")
        if not isinstance(name, str) or not name_pattern.match(name):
            raise ConfigError(
                f"{key}.name", f"expected a tier name of {TIER_NAME_HELP}, got {name!r}", source
            )
        if any(t.name == name for t in found):
            raise ConfigError(f"{key}.name", f"duplicate tier {name!r}", source)
        rule = entry.get("rule")
        program = None
        if rule is not None:
            if not isinstance(rule, str) or not rule.strip():
                raise ConfigError(f"{key}.rule", f"tier {name!r}: expected a CEL rule (a string)", source)
            try:
                program = cel.compile(rule)
            except Exception as exc:  # the CEL parser's own error
                raise ConfigError(f"{key}.rule", f"tier {name!r}: invalid CEL: {exc}", source) from None
            sample = model_activation(Model(registry_id="r", name="m"))
            try:
                program.execute({"model": sample})
            except Exception as exc:
                if "Undefined variable or function" in str(exc):
                    raise ConfigError(f"{key}.rule", f"tier {name!r}: CEL error: {exc}", source) from None
        if found and found[-1].rule is None:
            raise ConfigError(
                f"{key}.name",
                f"tier {found[-1].name!r} has no rule, so it matches every model: "
                f"tier {name!r} after it would never apply",
                source,
            )
        found.append(
            Tier(
                name=name,
                rule=rule.strip() if isinstance(rule, str) else None,
                review_every_days=_int(entry, "review_every_days", key, source, None),
                grace_days=_int(entry, "grace_days", key, source, 0) or 0,
                description=entry.get("description"),
                program=program,
            )
        )
    return Tiers(tuple(found))
