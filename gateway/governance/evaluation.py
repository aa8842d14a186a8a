"""What a CEL rule sees, and the verdict on a version (``Evaluation``); the
judging itself is ``gateway.governance.evaluator`` (it needs the compiled
policies, which need this vocabulary).

A rule sees one variable, ``version``: a map holding every ``ModelVersion``
field of the GraphQL schema under its GraphQL (camelCase) name, always present.
Absent values are ``""``, ``[]`` or ``{}``; only ``semver`` and ``parent`` may be
``null``. ``metrics`` maps key to double, ``hyperparameters`` and ``tags`` map
key to string, ``modelCard`` is a map of its seven fields, ``trainingData``,
``deployments``, ``approvals`` and ``reviews`` are lists of maps. Times are
RFC 3339 strings (``timestamp(version.createdAt)`` works) or ``""``.

Helpers beyond the schema, for versioning rules:

- ``registry`` (the registry id) and ``model`` (``{uri, name, registry, team}``);
- ``semverMajor``, ``semverMinor``, ``semverPatch`` (ints, ``-1`` when ``semver``
  is absent or not a semantic version) and ``semverPrerelease`` (string);
- ``inputSignature``: the model's input schema as the registry records it, as a
  string (``""`` when unknown). Read from the version's ``input_signature``
  (which each adapter fills from where its registry records it), else the
  native record's ``input_signature``, else the tag ``input_signature``;
- ``previous``: the version before this one in the same model (by version
  number), as ``{exists, version, semver, semverMajor, semverMinor, semverPatch,
  inputSignature, stage}``; ``exists`` is false (and the rest empty/-1) for the
  first version;
- ``annexIV``: the EU AI Act Annex IV map of the version (``gateway.governance.annex_iv``)
  as ``{complete, gaps, missing}``: ``complete`` is true when no section lacks a
  fact, ``gaps`` counts the missing facts and ``missing`` lists them as
  ``"<section>: <field>"`` (``'2: trainingCode'``). A policy scoped to the
  ``high`` tier and PRODUCTION with ``version.annexIV.complete`` blocks the
  promotion of a high-risk model whose documentation has gaps.

A rule that fails to evaluate (a missing map key, a type error) counts as
violated, with the CEL error as the message: policies fail closed. A rule whose
result is not a bool is violated too.

Speed: converting a Python map into CEL values costs about a microsecond per
value, far more than evaluating a typical rule, so the activation holds only
the fields the applicable rules mention (see ``referenced_fields``), is built
once per version and shared by every rule.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import semver

from gateway.codec import version_from_dict
from gateway.domain import URI_SCHEME, Stage
from gateway.governance.annex_iv import annex_iv_map

Record = Mapping[str, Any]  # a version in the codec's dict form (gateway.codec.version_to_dict)

CARD_FIELDS = {
    "summary": "summary",
    "intendedUse": "intended_use",
    "limitations": "limitations",
    "trainingDataSummary": "training_data_summary",
    "evaluation": "evaluation",
    "biasAssessment": "bias_assessment",
    "warnings": "warnings",
}


@dataclass(frozen=True)
class Subject:
    """One version to evaluate: its record plus what the record alone cannot say."""

    record: Record
    team: str | None  # the version's team, else its model's (as the index stores it)
    previous: Record | None = None  # the version before it in the same model
    stage: Stage | None = None  # evaluate as if it had this stage (promotions)
    tier: str | None = None  # its model's risk tier (policies may be scoped by tier)

    @property
    def effective_stage(self) -> str:
        return self.stage.value if self.stage is not None else str(self.record.get("stage", Stage.DRAFT))


def _s(value: Any) -> str:
    return "" if value is None else str(value)


@functools.lru_cache(maxsize=4096)  # a catalogue repeats the same few hundred semvers
def _parse_semver(text: str) -> tuple[int, int, int, str]:
    if not semver.Version.is_valid(text):
        return (-1, -1, -1, "")
    v = semver.Version.parse(text)
    return (v.major, v.minor, v.patch, v.prerelease or "")


def _semver_parts(text: Any) -> tuple[int, int, int, str]:
    return _parse_semver(text) if isinstance(text, str) else (-1, -1, -1, "")


def input_signature(record: Record) -> str:
    """The registry-recorded input schema of a version, canonicalised to a string."""
    value: Any = record.get("input_signature")
    if value is None:
        value = (record.get("native") or {}).get("input_signature")
    if value is None:
        value = (record.get("tags") or {}).get("input_signature")
    if value is None:
        return ""
    if isinstance(value, str):
        # Schemas are often JSON text: compare their meaning, not their spacing.
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _uri(r: Record) -> str:
    return f"{URI_SCHEME}{r['registry_id']}/{r['model_name']}/{r['version']}"


def _previous(s: Subject) -> dict[str, Any]:
    p = s.previous
    if p is None:
        return {
            "exists": False,
            "version": "",
            "semver": "",
            "semverMajor": -1,
            "semverMinor": -1,
            "semverPatch": -1,
            "inputSignature": "",
            "stage": "",
        }
    major, minor, patch, _ = _semver_parts(p.get("semver"))
    return {
        "exists": True,
        "version": _s(p.get("version")),
        "semver": _s(p.get("semver")),
        "semverMajor": major,
        "semverMinor": minor,
        "semverPatch": patch,
        "inputSignature": input_signature(p),
        "stage": _s(p.get("stage")),
    }


def _annex_iv(s: Subject) -> dict[str, Any]:
    version = version_from_dict(dict(s.record))
    if version.team is None and s.team is not None:  # the model's team, as the index knows it
        version = dataclasses.replace(version, team=s.team)
    found = annex_iv_map(version, s.tier)
    return {"complete": found.complete, "gaps": len(found.gaps), "missing": found.missing}


def _code(r: Record) -> str:
    code = r.get("training_code") or {}
    repo, commit, path = code.get("repository"), code.get("commit"), code.get("path")
    text = f"{repo}@{commit}" if repo and commit else repo or commit or ""
    return f"{text}#{path}" if text and path else text  # a path alone identifies no code


# Every field a rule can read, and how to compute it. Field names are the GraphQL ones.
_FIELD_BUILDERS: dict[str, Callable[[Subject], Any]] = {
    "id": lambda s: base64.urlsafe_b64encode(f"ModelVersion:{_uri(s.record)}".encode()).decode(),
    "uri": lambda s: _uri(s.record),
    "model": lambda s: {
        "uri": f"{URI_SCHEME}{s.record['registry_id']}/{s.record['model_name']}",
        "name": s.record["model_name"],
        "registry": s.record["registry_id"],
        "team": _s(s.team),
    },
    "registry": lambda s: s.record["registry_id"],
    "version": lambda s: _s(s.record.get("version")),
    "semver": lambda s: s.record.get("semver"),
    "stage": lambda s: s.effective_stage,
    "nativeStage": lambda s: _s(s.record.get("native_stage")),
    "aliases": lambda s: [str(a) for a in s.record.get("aliases", ())],
    "description": lambda s: _s(s.record.get("description")),
    "artifactUri": lambda s: _s(s.record.get("artifact_uri")),
    "artifactDigest": lambda s: _s(s.record.get("artifact_digest")),
    "trainingData": lambda s: [
        {
            "uri": _s(d.get("uri")),
            "name": _s(d.get("name")),
            "digest": _s(d.get("digest")),
            "role": _s(d.get("role")),
        }
        for d in s.record.get("training_data", ())
    ],
    "hyperparameters": lambda s: {str(k): _s(v) for k, v in (s.record.get("hyperparameters") or {}).items()},
    "metrics": lambda s: {str(k): float(v) for k, v in (s.record.get("metrics") or {}).items()},
    "trainingCode": lambda s: _code(s.record),
    "trainingCodeRef": lambda s: {
        "repository": _s((s.record.get("training_code") or {}).get("repository")),
        "commit": _s((s.record.get("training_code") or {}).get("commit")),
        "path": _s((s.record.get("training_code") or {}).get("path")),
    },
    "environment": lambda s: _s(s.record.get("environment")),
    "preprocessing": lambda s: _s(s.record.get("preprocessing")),
    "parent": lambda s: s.record.get("parent"),
    "deployments": lambda s: [
        {
            "endpoint": _s(d.get("endpoint")),
            "trafficPercent": float(d.get("traffic_percent") or 0.0),
            "updatedAt": _s(d.get("updated_at")),
        }
        for d in s.record.get("deployments", ())
    ],
    "tags": lambda s: {str(k): _s(v) for k, v in (s.record.get("tags") or {}).items()},
    "team": lambda s: _s(s.team),
    "createdBy": lambda s: _s(s.record.get("created_by")),
    "createdAt": lambda s: _s(s.record.get("created_at")),
    "updatedAt": lambda s: _s(s.record.get("updated_at")),
    "modelCard": lambda s: {
        name: _s((s.record.get("model_card") or {}).get(key)) for name, key in CARD_FIELDS.items()
    },
    "approvals": lambda s: [
        {
            "principal": _s(a.get("principal")),
            "role": _s(a.get("role")),
            "comment": _s(a.get("comment")),
            "at": _s(a.get("at")),
        }
        for a in s.record.get("approvals", ())
    ],
    "reviews": lambda s: [
        {"principal": _s(r.get("principal")), "comment": _s(r.get("comment")), "at": _s(r.get("at"))}
        for r in s.record.get("reviews", ())
    ],
    # helpers
    "semverMajor": lambda s: _semver_parts(s.record.get("semver"))[0],
    "semverMinor": lambda s: _semver_parts(s.record.get("semver"))[1],
    "semverPatch": lambda s: _semver_parts(s.record.get("semver"))[2],
    "semverPrerelease": lambda s: _semver_parts(s.record.get("semver"))[3],
    "inputSignature": lambda s: input_signature(s.record),
    "previous": _previous,
    "annexIV": _annex_iv,
}

FIELDS: frozenset[str] = frozenset(_FIELD_BUILDERS)

# ``version`` as an identifier (not a member like ``x.version`` or part of a word).
_VERSION_REF = re.compile(r"(?<![\w.])version\b")
_MEMBER = re.compile(r"\s*\.\s*([A-Za-z_]\w*)|\s*\[\s*(?:\"([^\"\\]*)\"|'([^'\\]*)')\s*\]")


# Maps with fixed keys: a rule naming ``version.modelCard.limitations`` gets only
# that key of the card (each converted value costs about a microsecond).
FIXED_MAPS: dict[str, frozenset[str]] = {
    "modelCard": frozenset(CARD_FIELDS),
    "previous": frozenset(_previous(Subject({}, None))),
    "model": frozenset({"uri", "name", "registry", "team"}),
    "trainingCodeRef": frozenset({"repository", "commit", "path"}),
    "annexIV": frozenset({"complete", "gaps", "missing"}),
}

# What a rule reads: field -> the keys of it read (None: all of it).
Reads = Mapping[str, frozenset[str] | None]


def _member(rule: str, at: int) -> tuple[str, int] | None:
    m = _MEMBER.match(rule, at)
    return (m.group(1) or m.group(2) or m.group(3) or "", m.end()) if m else None


def referenced_fields(rule: str) -> dict[str, frozenset[str] | None] | None:
    """The fields of ``version`` a rule reads (with the keys it reads of the
    fixed-key maps), or None when that cannot be told from the text (``version``
    passed whole, or the word inside a string): then the rule gets every field.
    Conservative by construction: any use that is not ``version.<name>`` or
    ``version["<name>"]`` means "all", and a fixed map used other than as
    ``version.<map>.<key>`` is given whole."""
    reads: dict[str, frozenset[str] | None] = {}
    for match in _VERSION_REF.finditer(rule):
        found = _member(rule, match.end())
        if found is None:
            return None
        name, end = found
        key = _member(rule, end) if name in FIXED_MAPS else None
        if key is None or name not in FIXED_MAPS:
            reads[name] = None
        elif name not in reads or reads[name] is not None:
            reads[name] = (reads.get(name) or frozenset()) | {key[0]}
    return reads


def merge_reads(parts: Iterable[Reads | None]) -> dict[str, frozenset[str] | None] | None:
    """What several rules read together (None if any reads everything)."""
    merged: dict[str, frozenset[str] | None] = {}
    for part in parts:
        if part is None:
            return None
        for name, keys in part.items():
            if name in merged and (merged[name] is None or keys is None):
                merged[name] = None
            else:
                merged[name] = (merged.get(name) or frozenset()) | (keys or frozenset()) if keys else None
    return merged


def build_activation(subject: Subject, reads: Reads | None = None) -> dict[str, Any]:
    """The ``version`` map a rule sees, limited to what ``reads`` names (None: everything)."""
    if reads is None:
        return {name: build(subject) for name, build in _FIELD_BUILDERS.items()}
    activation = {}
    for name, keys in reads.items():
        build = _FIELD_BUILDERS.get(name)
        if build is None:
            continue
        value = build(subject)
        activation[name] = value if keys is None else {k: value[k] for k in keys if k in value}
    return activation


# --- judging ----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Violation:
    policy: str
    severity: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"policy": self.policy, "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class Evaluation:
    """The verdict on one version: compliant unless an error-severity policy is violated
    (warnings are reported, never make a version non-compliant)."""

    violations: tuple[Violation, ...] = ()

    @property
    def compliant(self) -> bool:
        return not any(v.severity == "error" for v in self.violations)

    @property
    def errors(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == "error")


COMPLIANT = Evaluation()


def cel_error_message(exc: BaseException) -> str:
    """A CEL runtime error as a user reads it (KeyError's repr-of-a-key is not)."""
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0]!r}" if exc.args else "no such key"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if len(text) > 300 else text


def subjects_of_model(records: Iterable[Record], team: str | None, tier: str | None = None) -> list[Subject]:
    """Subjects for every version of one model, each knowing the version before it.
    ``records`` must be in version order."""
    subjects = []
    previous: Record | None = None
    for r in records:
        subjects.append(Subject(r, r.get("team") or team, previous, tier=tier))
        previous = r
    return subjects
