"""Which configured registry owns a reference when several kinds' parsers claim
it: the rules of ``ReferenceResolver`` alone, with a kind made up here (the
shipped kinds' own rules are in ``test_uris.py``)."""

from __future__ import annotations

from typing import Any

from adapters.protocol import ReferenceMatch
from gateway.config import RegistrySettings
from gateway.lineage.uris import ReferenceResolver, is_reference


class ClaimsAll:
    """Claims ``ref:<model>/<version>`` for every registry of its kind, firmly or
    weakly or for its own registry only, as the registry's ``claim`` option says."""

    kind = "claims"
    relative_schemes = frozenset({"inner"})

    def validate(self, registry: RegistrySettings) -> None: ...

    def create(self, registry: RegistrySettings, context: Any) -> Any: ...

    def is_reference(self, text: str) -> bool:
        return text.startswith("ref:")

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        if not text.startswith("ref:") or registry.options.get("claim") == "none":
            return None
        model, version = text[4:].split("/")
        claim = registry.options.get("claim")
        return ReferenceMatch(model, version, weak=claim in ("weak", "own"), context_only=claim == "own")


FACTORIES = {"claims": ClaimsAll()}


def resolver(*claims: str) -> ReferenceResolver:
    registries = [
        RegistrySettings(id=f"r{i}", kind="claims", options={"claim": c}) for i, c in enumerate(claims)
    ]
    return ReferenceResolver(registries, FACTORIES)


def owner(r: ReferenceResolver, context: str | None = None) -> str | None:
    resolved = r.resolve("ref:m/3", context_registry=context)
    return resolved.uri if resolved else None


def test_the_context_registry_wins_over_any_other_claim() -> None:
    assert owner(resolver("firm", "firm"), context="r1") == "mg://r1/m/3"
    assert owner(resolver("firm", "weak"), context="r1") == "mg://r1/m/3"


def test_else_the_only_firm_claim() -> None:
    assert owner(resolver("firm", "weak", "weak")) == "mg://r0/m/3"
    assert owner(resolver("firm", "firm")) is None  # two firm claims, no context: ambiguous


def test_else_the_only_claim_unless_it_holds_in_its_own_registry_only() -> None:
    assert owner(resolver("weak", "none")) == "mg://r0/m/3"
    assert owner(resolver("weak", "weak")) is None
    assert owner(resolver("own")) is None
    assert owner(resolver("own"), context="r0") == "mg://r0/m/3"


def test_kinds_declare_relative_schemes_and_references() -> None:
    assert resolver("firm").relative_schemes == frozenset({"inner"})
    assert is_reference("ref:m/1", FACTORIES) and is_reference("mg://a/b", FACTORIES)
    assert not is_reference("models:/m/1", FACTORIES)  # not a kind installed here
