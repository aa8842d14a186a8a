"""GTO's tag grammar and its rules for what is in effect, without GTO itself.

Grammar (``gto/constants.py`` ``tag_re``, GTO 1.10): ``ART@vX.Y.Z`` registers a
version, ``ART@vX.Y.Z!`` deregisters it, ``ART#STAGE#N`` assigns a stage,
``ART#STAGE!#N`` unassigns it, ``ART@deprecated`` deprecates the artifact;
``#N`` may follow any of them and counts tags of the artifact. An artifact
``dir:name`` is spelled ``dir=name`` in a tag. Lightweight tags are ignored,
as GTO ignores them.

Rules (``gto/base.py``, as ``gto show`` applies them by default: sort by
timestamp, one version per stage, every assignment of a version): events are
ordered by tag time; a version is active while its latest registration event
is a registration; an artifact is active while its latest event of all is not
a deprecation; a stage is held by a version while that version's latest event
for the stage is an assignment; of the active versions holding a stage, the one
assigned most recently has it. Tag times have one-second resolution; GTO breaks
ties by listing order, modelgate by the tag's counter, then its name.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_DIRNAME = r"[a-zA-Z0-9-_./]+"
SEMVER = (
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
FULLNAME = f"(?:{_DIRNAME}:)?{_NAME}"
FULLNAME_RE = re.compile(f"^{FULLNAME}$")
VERSION_RE = re.compile(f"^v{SEMVER}$")
TAG_RE = re.compile(
    rf"^(?P<artifact>(?:{_DIRNAME}=)?{_NAME})"
    rf"(?:(?:#(?P<stage>{_NAME})|@(?P<version>v{SEMVER}))(?P<cancel>!?)|@(?P<deprecated>deprecated)|@created)"
    r"(?:#(?P<counter>[0-9]+))?$"
)


class Action(enum.StrEnum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"


def artifact_in_tag(artifact: str) -> str:
    return artifact.replace(":", "=")


@dataclass(frozen=True, slots=True)
class TagRecord:
    """An annotated tag as ``git for-each-ref`` reports it."""

    name: str
    object_id: str  # the tag object
    commit: str  # what it points at
    tagger_name: str
    tagger_email: str
    time: datetime
    message: str


@dataclass(frozen=True, slots=True)
class Event:
    record: TagRecord
    artifact: str
    action: Action
    version: str | None = None
    stage: str | None = None
    counter: int | None = None

    @property
    def order(self) -> tuple[datetime, int, str]:
        return (self.record.time, self.counter or 0, self.record.name)


def parse_event(record: TagRecord) -> Event | None:
    """The GTO event a tag records, or None for a tag outside GTO's grammar."""
    match = TAG_RE.match(record.name)
    if not match:
        return None
    artifact = match["artifact"].replace("=", ":")
    counter = int(match["counter"]) if match["counter"] else None
    cancel = match["cancel"] == "!"
    if match["deprecated"]:
        return Event(record, artifact, Action.DEPRECATE, counter=counter)
    if match["version"]:
        action = Action.DEREGISTER if cancel else Action.REGISTER
        return Event(record, artifact, action, version=match["version"], counter=counter)
    if match["stage"]:
        action = Action.UNASSIGN if cancel else Action.ASSIGN
        return Event(record, artifact, action, stage=match["stage"], counter=counter)
    return None  # ``@created``: GTO parses it but records nothing


@dataclass
class VersionState:
    artifact: str
    version: str  # "v1.2.0", or a commit id for a version known only from stage tags
    commit: str
    registrations: list[Event] = field(default_factory=list)  # registrations and deregistrations
    stage_events: dict[str, list[Event]] = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        return any(e.action is Action.REGISTER for e in self.registrations)

    @property
    def active(self) -> bool:
        if self.registrations:
            return self.registrations[-1].action is Action.REGISTER
        return bool(self.stage_events)

    @property
    def registration(self) -> Event | None:
        return next((e for e in reversed(self.registrations) if e.action is Action.REGISTER), None)

    def held_stages(self) -> dict[str, Event]:
        """Stages whose latest event on this version is an assignment, with that assignment."""
        return {s: ev[-1] for s, ev in self.stage_events.items() if ev and ev[-1].action is Action.ASSIGN}

    def events(self) -> list[Event]:
        every = self.registrations + [e for ev in self.stage_events.values() for e in ev]
        return sorted(every, key=lambda e: e.order)


@dataclass
class ArtifactState:
    name: str
    versions: dict[str, VersionState] = field(default_factory=dict)
    deprecations: list[Event] = field(default_factory=list)
    # stage -> version that has it in effect (GTO's "one version per stage")
    in_effect: dict[str, str] = field(default_factory=dict)
    tags: list[Event] = field(default_factory=list)

    @property
    def active(self) -> bool:
        every = sorted(self.tags, key=lambda e: e.order)
        return bool(every) and every[-1].action is not Action.DEPRECATE

    @property
    def max_counter(self) -> int:
        return max((e.counter or 0 for e in self.tags), default=0)

    @property
    def last_time(self) -> datetime | None:
        return max((e.record.time for e in self.tags), default=None)

    def stages_of(self, version: str) -> list[str]:
        return [stage for stage, holder in self.in_effect.items() if holder == version]

    def version_at(self, commit: str) -> VersionState | None:
        """The registered version at a commit (GTO: one per commit), preferring an active one."""
        found = [v for v in self.versions.values() if v.commit == commit and v.registrations]
        active = [v for v in found if v.active]
        chosen = active or found
        return chosen[-1] if chosen else None


def build_state(records: Iterable[TagRecord]) -> dict[str, ArtifactState]:
    """Every artifact's versions and the stages in effect, by GTO's rules."""
    events = sorted((e for r in records if (e := parse_event(r)) is not None), key=lambda e: e.order)
    artifacts: dict[str, ArtifactState] = {}
    for event in events:
        artifact = artifacts.setdefault(event.artifact, ArtifactState(event.artifact))
        artifact.tags.append(event)
        if event.action is Action.DEPRECATE:
            artifact.deprecations.append(event)
        elif event.version is not None:
            version = artifact.versions.get(event.version)
            if version is None:
                version = artifact.versions[event.version] = VersionState(
                    event.artifact, event.version, event.record.commit
                )
            version.registrations.append(event)
        elif event.stage is not None:
            # GTO: a stage tag belongs to the version registered at its commit, else
            # to an unregistered version named by the commit.
            target = artifact.version_at(event.record.commit)
            if target is None:
                target = artifact.versions.setdefault(
                    event.record.commit,
                    VersionState(event.artifact, event.record.commit, event.record.commit),
                )
            target.stage_events.setdefault(event.stage, []).append(event)
    for artifact in artifacts.values():
        latest: dict[str, tuple[tuple[datetime, int, str], str]] = {}
        for version in artifact.versions.values():
            if not version.active:
                continue
            for stage, assignment in version.held_stages().items():
                if stage not in latest or assignment.order > latest[stage][0]:
                    latest[stage] = (assignment.order, version.version)
        artifact.in_effect = {stage: holder for stage, (_, holder) in latest.items()}
    return artifacts


def stage_tag(artifact: str, stage: str, counter: int, *, cancel: bool = False) -> str:
    return f"{artifact_in_tag(artifact)}#{stage}{'!' if cancel else ''}#{counter}"


def deregister_tag(artifact: str, version: str) -> str:
    return f"{artifact_in_tag(artifact)}@{version}!"
