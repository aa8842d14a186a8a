"""The ``ReferenceParser`` contract, checked without a server: what every kind
whose factory declares the capability must do with references.

A kind states its real reference shapes in a ``ReferenceShapes`` (from its
``refs.py`` docstring and the registry's own documentation): a registry
configured as ``options``, references of its own with the ``ReferenceMatch``
each must give, and ``foreign`` references (the same kind's into another
registry, or another kind's) that must give None. The checks:

- each own reference is recognised (``is_reference``) and parses to exactly its match;
- each foreign one parses to None;
- no input raises, malformed or truncated: every prefix of every reference
  given, and a fixed list of broken strings, go through both methods.

``AdapterContract.test_factory_parses_references_to_its_versions`` adds the
live half for subjects that seed a version: the reference to a version the
registry really holds names that version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.protocol import ReferenceMatch, ReferenceParser
from gateway.config import RegistrySettings

# Strings no parser may raise on: empty, blank, bare schemes, separators out of
# place, bad escapes, control characters, very long input.
MALFORMED = (
    "",
    " ",
    "\n",
    "\x00",
    "/",
    "//",
    ":",
    "::",
    "@",
    "#",
    "%",
    "%zz",
    "?",
    "a" * 10_000,
    "models:/",
    "models://",
    "models:/@",
    "models:/a/",
    "models:/a/b/c/d",
    "arn:",
    "arn:aws:sagemaker:::",
    "arn:aws:sagemaker:r:1:model-package/",
    "projects//locations//models/",
    "projects/p/locations/l/models/@",
    "/subscriptions//resourceGroups//providers/Microsoft.MachineLearningServices/workspaces//models/",
    "azureml:",
    "azureml::",
    "azureml://registries//models/",
    "model-registry://",
    "model-registry:////",
    "model-registry://%zz/%",
    "wandb-artifact:///",
    "wandb-artifact:////:",
    "wandb-artifact:///a/b/c:d:e",
    "hf://",
    "hf://@",
    "hf://a",
    "https://huggingface.co/",
    "https://huggingface.co/a/b/tree/",
    "git@host:",
    "file:///repo.git:",
    "@v1.0.0",
    "churn@v",
    "churn@v1",
    "x@v1.0.0@v1.0.0",
)


@dataclass(frozen=True)
class ReferenceShapes:
    """A kind's reference shapes, for one registry of that kind."""

    kind: str
    options: Mapping[str, Any]
    own: Mapping[str, ReferenceMatch]  # reference -> the match it must give
    foreign: tuple[str, ...] = ()  # references that must give None
    # References that have this kind's shape but name no version or model this
    # registry can resolve (an alias that moves): recognised, parse to None.
    unresolvable: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def registry(self) -> RegistrySettings:
        return RegistrySettings(id=f"{self.kind}-refs", kind=self.kind, options=dict(self.options))


def check_own_references(parser: ReferenceParser, shapes: ReferenceShapes) -> None:
    registry = shapes.registry()
    assert shapes.own, f"{shapes.kind}: give at least one reference of the kind's own"
    for text, expected in shapes.own.items():
        assert parser.is_reference(text), f"{shapes.kind}: {text!r} is not recognised as a reference"
        assert parser.parse_reference(text, registry) == expected, f"{shapes.kind}: {text!r}"


def check_foreign_references(parser: ReferenceParser, shapes: ReferenceShapes) -> None:
    registry = shapes.registry()
    for text in shapes.foreign:
        assert parser.parse_reference(text, registry) is None, f"{shapes.kind} claimed {text!r}"
    for text in shapes.unresolvable:
        assert parser.is_reference(text), f"{shapes.kind}: {text!r} has the kind's shape"
        assert parser.parse_reference(text, registry) is None, f"{shapes.kind} resolved {text!r}"


def check_malformed_input_never_raises(parser: ReferenceParser, shapes: ReferenceShapes) -> None:
    registry = shapes.registry()
    given = [*shapes.own, *shapes.foreign, *shapes.unresolvable]
    prefixes = {text[:end] for text in given for end in range(len(text) + 1)}
    for text in [*MALFORMED, *sorted(prefixes)]:
        assert isinstance(parser.is_reference(text), bool)
        match = parser.parse_reference(text, registry)
        assert match is None or isinstance(match, ReferenceMatch)
