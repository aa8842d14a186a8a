"""GTO and DVC vocabulary → modelgate's: artifacts, versions, stages, files.

- A model is a GTO artifact: every artifact declared with a ``type`` of
  ``model_types`` and every artifact with a registered version. Its name is
  the artifact name with ``/`` written ``%2F`` (a URI segment may not hold
  ``/``; GTO names never contain ``%``): ``mg://reg/nlp%2Fchurn/v1.2.0``.
  Nested artifacts keep GTO's ``dir:name`` spelling.
- A version is a registered GTO version and keeps its tag's string (``v1.2.0``;
  ``semver`` ``1.2.0``). Metadata (``desc``/``description``, ``labels``,
  ``meta``, ``path``, ``type``) comes from the ``artifacts:`` block of the
  ``dvc.yaml`` beside it (``dir/dvc.yaml`` for ``dir:name``) or GTO's
  ``artifacts.yaml``, at the tagged commit. Labels ``key=value`` become tags
  ``key → value``, other labels tags with an empty value; ``meta`` scalars
  become tags. ``parent`` is ``meta.parent`` or a label ``parent=<ref>``; a
  GTO reference to this repository (``base@v1.0.0``) becomes its ``mg://`` URI.
- Metrics and params are DVC's files at that commit: the ``metrics:`` and
  ``params:`` lists of that ``dvc.yaml``, stage ``metrics`` outputs, and
  ``params.yaml`` beside it, flattened with ``.`` as DVC does. (Read directly:
  ``dvc`` is not a runtime dependency.)
- Stages: of the GTO stages a version has in effect, a production name →
  PRODUCTION, else a staging name → STAGING, else DRAFT; a deregistered version
  or a deprecated artifact → ARCHIVED. ``nativeStage`` is the GTO stage name
  (several, highest first, joined with ``,``), ``deregistered`` or
  ``deprecated``; ``aliases`` the GTO stages held.
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from adapters.gto.options import StageMapping
from adapters.gto.tags import FULLNAME, SEMVER, ArtifactState, Event, VersionState
from gateway.domain import CodeRef, Model, ModelVersion, Stage, version_uri

DVC_YAML = "dvc.yaml"
GTO_INDEX = "artifacts.yaml"
PARAMS_DEFAULT = "params.yaml"
VERSION_REF = re.compile(rf"^(?P<artifact>{FULLNAME})@(?P<version>v{SEMVER})$")


def model_name_of(artifact: str) -> str:
    return artifact.replace("/", "%2F")


def artifact_of(model_name: str) -> str:
    return model_name.replace("%2F", "/").replace("%2f", "/")


def dirname_of(artifact: str) -> str:
    return artifact.rsplit(":", 1)[0] if ":" in artifact else ""


def short_name(artifact: str) -> str:
    return artifact.rsplit(":", 1)[-1]


def dvc_yaml_path(artifact: str) -> str:
    directory = dirname_of(artifact)
    return posixpath.join(directory, DVC_YAML) if directory else DVC_YAML


# libyaml's loader when PyYAML has it: the pure-Python one spends ~150 ms on a
# dvc.yaml of 100 artifacts, which at hundreds of tagged commits is the whole sync.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(blob: bytes | None) -> Any:
    if not blob:
        return None
    text = blob.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):  # JSON is YAML, and far cheaper to parse as JSON
        try:
            return json.loads(text)
        except ValueError:
            pass
    try:
        return yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError:
        return None


@dataclass(frozen=True)
class ArtifactMeta:
    """What ``dvc.yaml`` / ``artifacts.yaml`` say about an artifact at one commit."""

    type: str | None = None
    path: str | None = None
    description: str | None = None
    labels: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None  # the file it came from


def artifact_meta(artifact: str, dvc: Any, index: Any) -> ArtifactMeta | None:
    """The artifact's entry in its ``dvc.yaml`` (preferred, as DVC reads it) or ``artifacts.yaml``."""
    entries = dvc.get("artifacts") if isinstance(dvc, dict) else None
    entry = entries.get(short_name(artifact)) if isinstance(entries, dict) else None
    source = dvc_yaml_path(artifact)
    if not isinstance(entry, dict) and isinstance(index, dict):
        entry, source = index.get(artifact), GTO_INDEX
    if not isinstance(entry, dict):
        return None
    labels = entry.get("labels") or []
    meta = entry.get("meta") or entry.get("custom") or {}
    return ArtifactMeta(
        type=str(entry["type"]) if entry.get("type") is not None else None,
        path=str(entry["path"]) if entry.get("path") is not None else None,
        description=str(entry.get("desc") or entry.get("description") or "") or None,
        labels=tuple(str(label) for label in labels) if isinstance(labels, list) else (),
        meta=meta if isinstance(meta, dict) else {"value": meta},
        source=source,
    )


def declared_artifacts(dvc: Any, index: Any, directory: str = "") -> dict[str, ArtifactMeta]:
    """Every artifact a commit declares (the root ``dvc.yaml`` and ``artifacts.yaml``)."""
    found: dict[str, ArtifactMeta] = {}
    if isinstance(index, dict):
        for name in index:
            if (meta := artifact_meta(str(name), None, index)) is not None:
                found[str(name)] = meta
    entries = dvc.get("artifacts") if isinstance(dvc, dict) else None
    if isinstance(entries, dict):
        for name in entries:
            full = f"{directory}:{name}" if directory else str(name)
            if (meta := artifact_meta(full, dvc, None)) is not None:
                found[full] = meta
    return found


def metric_and_param_files(artifact: str, dvc: Any) -> tuple[list[str], list[str]]:
    """Paths (from the repository root) of the metrics and params files DVC would read."""
    directory = dirname_of(artifact)
    metrics: list[str] = []
    params: list[str] = [PARAMS_DEFAULT]
    if isinstance(dvc, dict):
        for item in dvc.get("metrics") or []:
            if isinstance(item, str):
                metrics.append(item)
        for item in dvc.get("params") or []:
            if isinstance(item, str):
                params.append(item)
        for stage in (dvc.get("stages") or {}).values():
            for item in (stage or {}).get("metrics") or [] if isinstance(stage, dict) else []:
                metrics.extend(
                    [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
                )
    join = (lambda p: posixpath.normpath(posixpath.join(directory, p))) if directory else posixpath.normpath
    return list(dict.fromkeys(join(p) for p in metrics)), list(dict.fromkeys(join(p) for p in params))


def parse_data_file(path: str, blob: bytes | None) -> Any:
    if blob is None:
        return None
    text = blob.decode("utf-8", "replace")
    try:
        if path.endswith(".toml"):
            return tomllib.loads(text)
        if path.endswith(".json"):
            return json.loads(text)
        return load_yaml(blob)
    except ValueError:
        return None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as DVC shows them: ``{"train": {"lr": 0.1}}`` → ``{"train.lr": 0.1}``."""
    if not isinstance(value, dict):
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def merge_files(files: list[tuple[str, Any]]) -> dict[str, Any]:
    """One mapping from several files; a key a later file repeats is kept as ``path:key``."""
    merged: dict[str, Any] = {}
    for path, data in files:
        for key, value in flatten(data).items():
            merged[f"{path}:{key}" if key in merged else key] = value
    return merged


def metrics_of(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def params_of(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def tags_of(meta: ArtifactMeta | None) -> dict[str, str]:
    if meta is None:
        return {}
    tags: dict[str, str] = {}
    for label in meta.labels:
        key, sep, value = label.partition("=")
        tags[key if sep else label] = value if sep else ""
    for key, value in meta.meta.items():
        if isinstance(value, str | int | float | bool) or value is None:
            tags[str(key)] = "" if value is None else str(value)
        else:
            tags[str(key)] = json.dumps(value, sort_keys=True, default=str)
    return tags


def artifact_uri_of(path: str | None, repo: str, commit: str) -> str | None:
    """A path that is a URL stays as it is; a path in the repository becomes
    ``<repo>#<path>@<commit>`` (what ``dvc get <repo> <path> --rev <commit>`` fetches)."""
    if not path:
        return None
    if "://" in path:
        return path
    return f"{repo}#{path}@{commit}"


def stage_of(
    artifact: ArtifactState, version: VersionState, stages: StageMapping
) -> tuple[Stage, str | None, tuple[str, ...]]:
    """The unified stage, GTO's word for it, and the GTO stages the version has in effect."""
    held = sorted(artifact.stages_of(version.version), key=lambda s: (-stages.rank(s), s))
    if not version.active:
        return Stage.ARCHIVED, "deregistered", ()
    if not artifact.active:
        return Stage.ARCHIVED, "deprecated", tuple(held)
    if not held:
        return Stage.DRAFT, None, ()
    top = stages.rank(held[0])
    stage = {2: Stage.PRODUCTION, 1: Stage.STAGING}.get(top, Stage.DRAFT)
    return stage, ",".join(held), tuple(held)


def event_record(event: Event) -> dict[str, Any]:
    record = event.record
    return {
        "tag": record.name,
        "action": event.action.value,
        **({"stage": event.stage} if event.stage else {}),
        "by": record.tagger_name,
        "email": record.tagger_email,
        "at": record.time.isoformat(),
        "message": record.message,
    }


@dataclass(frozen=True)
class CommitFacts:
    """What one commit holds for one artifact: its metadata, metrics, params."""

    meta: ArtifactMeta | None
    metrics: dict[str, float]
    params: dict[str, str]
    parent: str | None


def parent_of(meta: ArtifactMeta | None) -> str | None:
    if meta is None:
        return None
    parent = meta.meta.get("parent")
    if isinstance(parent, str) and parent:
        return parent
    for label in meta.labels:
        if label.startswith("parent="):
            return label[len("parent=") :] or None
    return None


def parent_uri(registry_id: str, repo: str, parent: str | None) -> str | None:
    """A GTO reference to a version of this repository (``base@v1.0.0`` or
    ``<repo>:base@v1.0.0``) as its ``mg://`` URI; any other parent verbatim, for
    the lineage resolver."""
    if not parent:
        return None
    ref = parent[len(repo) + 1 :] if parent.startswith(f"{repo}:") else parent
    match = VERSION_REF.match(ref)
    if match is None:
        return parent
    return version_uri(registry_id, model_name_of(match["artifact"]), match["version"])


def to_version(
    registry_id: str,
    repo: str,
    artifact: ArtifactState,
    version: VersionState,
    facts: CommitFacts,
    stages: StageMapping,
) -> ModelVersion:
    stage, native_stage, held = stage_of(artifact, version, stages)
    registration = version.registration
    events = version.events()
    meta = facts.meta
    native: dict[str, Any] = {
        "artifact": artifact.name,
        "commit": version.commit,
        "repo": repo,
        "stages": list(held),
        "events": [event_record(e) for e in events],
    }
    if registration is not None:
        native["tag"] = registration.record.name
        native["registeredBy"] = registration.record.tagger_name
        native["registeredByEmail"] = registration.record.tagger_email
        native["message"] = registration.record.message
    if meta is not None:
        native.update(
            type=meta.type,
            path=meta.path,
            labels=list(meta.labels),
            meta=dict(meta.meta),
            metaFile=meta.source,
        )
    semver = version.version[1:] if version.version.startswith("v") else None
    return ModelVersion(
        registry_id=registry_id,
        model_name=model_name_of(artifact.name),
        version=version.version,
        stage=stage,
        native_stage=native_stage,
        aliases=held,
        semver=semver,
        description=meta.description if meta else None,
        artifact_uri=artifact_uri_of(meta.path if meta else None, repo, version.commit),
        training_code=CodeRef(repository=repo, commit=version.commit),
        hyperparameters=facts.params,
        metrics=facts.metrics,
        parent=parent_uri(registry_id, repo, facts.parent),
        tags=tags_of(meta),
        created_by=registration.record.tagger_name if registration else None,
        created_at=registration.record.time if registration else (events[0].record.time if events else None),
        updated_at=events[-1].record.time if events else None,
        native=native,
    )


def to_model(
    registry_id: str,
    name: str,
    artifact: ArtifactState | None,
    latest: ModelVersion | None,
    declared: ArtifactMeta | None,
    head_time: Any,
) -> Model:
    """A model from its newest version's metadata, else what the branch head declares."""
    if latest is not None:
        description, tags = latest.description, dict(latest.tags)
        kind = latest.native.get("type")
    else:
        description = declared.description if declared else None
        tags, kind = tags_of(declared), declared.type if declared else None
    times = [e.record.time for e in artifact.tags] if artifact else []
    native: dict[str, Any] = {"artifact": name, "type": kind}
    if artifact is not None:
        native["deprecated"] = not artifact.active
        native["stages"] = dict(artifact.in_effect)
    return Model(
        registry_id=registry_id,
        name=model_name_of(name),
        description=description,
        tags=tags,
        created_at=min(times) if times else head_time,
        updated_at=max(times) if times else head_time,
        native=native,
    )
