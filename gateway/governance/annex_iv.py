"""Which recorded facts fill each of the nine sections of the EU AI Act's Annex IV
(technical documentation of a high-risk AI system, Regulation (EU) 2024/1689), and
which are missing, with the field to fill in.

Documentation support, not legal advice: the map says where modelgate's record
of a version holds what a section asks about; whether the documentation meets
the Act is for the provider to judge.

A pure function of the version record and its model's risk tier, so the policy
evaluator can offer it to CEL (``version.annexIV``) as cheaply as the GraphQL
field (``ModelVersion.annexIV``) and the evidence pack show it. Facts the
registries have no field for are read from version tags named ``annex_iv.*``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.domain import VALIDATION_ROLES, ModelVersion

STANDARDS_TAG = "annex_iv.standards"
DECLARATION_TAG = "annex_iv.declaration_of_conformity"
RISK_MANAGEMENT_TAG = "annex_iv.risk_management"
MONITORING_TAG = "annex_iv.monitoring_plan"


@dataclass(frozen=True, slots=True)
class Fact:
    """A recorded fact that fills part of a section: what it documents and its value."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Gap:
    """A fact a section lacks: what is missing and the field (or tag) that would hold it."""

    label: str
    field: str


@dataclass(frozen=True, slots=True)
class Section:
    number: int
    title: str
    filled: tuple[Fact, ...]
    missing: tuple[Gap, ...]


@dataclass(frozen=True, slots=True)
class AnnexIvMap:
    sections: tuple[Section, ...]

    @property
    def gaps(self) -> tuple[tuple[int, Gap], ...]:
        return tuple((s.number, g) for s in self.sections for g in s.missing)

    @property
    def complete(self) -> bool:
        return not self.gaps

    @property
    def missing(self) -> list[str]:
        """Each gap as ``<section>: <field>`` (CEL's ``version.annexIV.missing``)."""
        return [f"{number}: {gap.field}" for number, gap in self.gaps]


# A requirement: what it documents, the field that holds it, and how to read it
# from the record (None or "": missing). ``optional`` ones are shown when recorded
# and never counted as gaps (a model without a parent lacks nothing).
@dataclass(frozen=True, slots=True)
class _Need:
    label: str
    field: str
    read: Callable[[ModelVersion, str | None], str | None]
    optional: bool = False


def _tag(key: str) -> Callable[[ModelVersion, str | None], str | None]:
    return lambda v, _tier: v.tags.get(key)


def _datasets(v: ModelVersion, validation: bool) -> str | None:
    found = [d for d in v.training_data if ((d.role or "").lower() in VALIDATION_ROLES) == validation]
    return ", ".join(d.name or d.uri for d in found) or None


def _digests(v: ModelVersion, _tier: str | None) -> str | None:
    if not v.training_data or any(not d.digest for d in v.training_data):
        return None
    return f"{len(v.training_data)} of {len(v.training_data)} datasets"


def _entries(values: dict[str, str]) -> str | None:
    return ", ".join(f"{k}={val}" for k, val in sorted(values.items())) or None


SECTIONS: tuple[tuple[str, tuple[_Need, ...]], ...] = (
    (
        "General description of the AI system",
        (
            _Need("Description", "description", lambda v, _: v.description or v.model_card.summary),
            _Need("Intended purpose", "modelCard.intendedUse", lambda v, _: v.model_card.intended_use),
            _Need("Provider (owning team)", "team", lambda v, _: v.team),
            _Need("Version", "semver", lambda v, _: v.semver),
            _Need("Software environment", "environment", lambda v, _: v.environment),
        ),
    ),
    (
        "Elements of the system and its development process",
        (
            _Need("Training code", "trainingCode", lambda v, _: str(v.training_code or "") or None),
            _Need("Training data", "trainingData (role training)", lambda v, _: _datasets(v, False)),
            _Need("Dataset digests", "trainingData[].digest", _digests),
            _Need(
                "Data description",
                "modelCard.trainingDataSummary",
                lambda v, _: v.model_card.training_data_summary,
            ),
            _Need("Hyperparameters", "hyperparameters", lambda v, _: _entries(dict(v.hyperparameters))),
            _Need("Preprocessing", "preprocessing", lambda v, _: v.preprocessing),
            _Need("Pre-trained model it derives from", "parent", lambda v, _: v.parent, optional=True),
        ),
    ),
    (
        "Monitoring, functioning and control",
        (
            _Need(
                "Capabilities and limitations", "modelCard.limitations", lambda v, _: v.model_card.limitations
            ),
            _Need(
                "Accuracy for groups of persons",
                "modelCard.biasAssessment",
                lambda v, _: v.model_card.bias_assessment,
            ),
            _Need("Foreseeable risks", "modelCard.warnings", lambda v, _: v.model_card.warnings),
            _Need("Input data specification", "inputSignature", lambda v, _: v.input_signature),
        ),
    ),
    (
        "Appropriateness of the performance metrics",
        (
            _Need(
                "Metrics", "metrics", lambda v, _: _entries({k: f"{val:g}" for k, val in v.metrics.items()})
            ),
            _Need(
                "Validation and test data", "trainingData (role validation)", lambda v, _: _datasets(v, True)
            ),
            _Need("Evaluation", "modelCard.evaluation", lambda v, _: v.model_card.evaluation),
        ),
    ),
    (
        "Risk management system (Article 9)",
        (
            _Need("Risk tier", "riskTier (the policy file's tiers or setRiskTier)", lambda _, tier: tier),
            _Need("Risk management documentation", f"tag {RISK_MANAGEMENT_TAG}", _tag(RISK_MANAGEMENT_TAG)),
        ),
    ),
    (
        "Changes through the lifecycle",
        (
            _Need("Change description", "description", lambda v, _: v.description),
            _Need("Version", "semver", lambda v, _: v.semver),
            _Need("Registered by", "createdBy", lambda v, _: v.created_by, optional=True),
        ),
    ),
    (
        "Harmonised standards applied",
        (_Need("Standards or other solutions applied", f"tag {STANDARDS_TAG}", _tag(STANDARDS_TAG)),),
    ),
    (
        "EU declaration of conformity (Article 47)",
        (_Need("Declaration of conformity", f"tag {DECLARATION_TAG}", _tag(DECLARATION_TAG)),),
    ),
    (
        "Post-market monitoring (Article 72)",
        (
            _Need("Post-market monitoring plan", f"tag {MONITORING_TAG}", _tag(MONITORING_TAG)),
            _Need(
                "Where it serves",
                "deployments",
                lambda v, _: ", ".join(d.endpoint for d in v.deployments) or None,
                optional=True,
            ),
        ),
    ),
)


def annex_iv_map(version: ModelVersion, tier: str | None) -> AnnexIvMap:
    """The nine sections for ``version`` (whose model has risk tier ``tier``)."""
    sections = []
    for number, (title, needs) in enumerate(SECTIONS, start=1):
        filled, missing = [], []
        for need in needs:
            value = need.read(version, tier)
            if value:
                filled.append(Fact(need.label, str(value)))
            elif not need.optional:
                missing.append(Gap(need.label, need.field))
        sections.append(Section(number, title, tuple(filled), tuple(missing)))
    return AnnexIvMap(tuple(sections))
