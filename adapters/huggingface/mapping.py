"""The Hugging Face Hub's vocabulary ↔ modelgate's.

- A model is a model repository, named by its id ``namespace/name``; ``mg://`` URIs
  cannot hold ``/``, so modelgate spells it ``%2F`` (and ``%`` as ``%25``), as for
  Kubeflow.
- A version is a tag matching ``version_tag_pattern`` (default ``v*``) and, with
  ``include_main``, the ``main`` branch; the version id is the ref's name. Its
  artifact is ``hf://<repo>@<commit>``: the revision's exact bytes.
- Card data (the README's YAML, as the Hub returns it at that revision):
  ``base_model`` (one or a list) → ``parent`` (the first, as ``hf://<id>``) and the
  ``base_model`` tag (all of them), so every base is a DERIVED_FROM edge;
  ``datasets`` → training data (``hf://datasets/<id>``, or the URI as given);
  ``model-index`` metrics → metrics by type; ``license``, ``pipeline_tag``,
  ``library_name`` and the card's ``tags`` (``key:value`` split,
  a bare tag → ``true``) → tags.
- Stages are tags too: a version whose commit a production tag (default ``prod``)
  points at is PRODUCTION, a staging tag (``staging``) STAGING, else DRAFT;
  ``native_stage`` is the stage tag's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapters.huggingface.options import MAIN, StageTags
from adapters.toolkit.timestamps import to_utc
from gateway.domain import DatasetRef, Model, ModelVersion, Stage

SCHEME = "hf://"
# The gateway harvests every (comma-separated) value of this tag as DERIVED_FROM.
BASE_MODEL_TAG = "base_model"
MODEL_NATIVE_KEYS = ("id", "author", "sha", "private", "gated", "disabled", "library_name", "pipeline_tag")
Wire = Mapping[str, Any]


def domain_name(repo_id: str) -> str:
    """A repository id as a modelgate name: ``/`` would split an ``mg://`` URI."""
    return repo_id.replace("%", "%25").replace("/", "%2F")


def repo_id_of(name: str) -> str | None:
    """The inverse of ``domain_name``; None for a name that is no escaped repository id."""
    repo = name.replace("%2F", "/").replace("%2f", "/").replace("%25", "%")
    if repo.count("/") != 1 or domain_name(repo) != name:
        return None
    return repo


def hub_reference(repo_id: str, revision: str | None = None) -> str:
    return f"{SCHEME}{repo_id}" + (f"@{revision}" if revision else "")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []


def dataset_uri(name: str) -> str:
    """A card's dataset: a Hub dataset id as ``hf://datasets/<id>``, a URI as given."""
    return name if "://" in name else f"{SCHEME}datasets/{name}"


def base_reference(name: str) -> str:
    """A card's ``base_model``: a Hub repository id as ``hf://<id>``, a reference as given."""
    return name if "://" in name else hub_reference(name)


def card_tags(card: Wire) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in _strings(card.get("tags")):
        key, sep, value = item.partition(":")
        tags[key] = value if sep else "true"
    for key in ("license", "pipeline_tag", "library_name"):
        if values := _strings(card.get(key)):
            tags[key] = ",".join(values)
    if bases := _strings(card.get("base_model")):
        tags[BASE_MODEL_TAG] = ",".join(bases)
    return tags


def card_metrics(model_index: Any) -> dict[str, float]:
    """``model-index[].results[].metrics[]`` by metric type (its name when typeless);
    the same metric on a second dataset is ``<type>@<dataset>``."""
    metrics: dict[str, float] = {}
    for entry in model_index if isinstance(model_index, list) else ():
        for result in (entry.get("results") or []) if isinstance(entry, dict) else ():
            if not isinstance(result, dict):
                continue
            found = result.get("dataset")
            dataset: Wire = found if isinstance(found, dict) else {}
            for metric in result.get("metrics") or []:
                if not isinstance(metric, dict):
                    continue
                key, value = metric.get("type") or metric.get("name"), metric.get("value")
                if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                if key in metrics:
                    key = f"{key}@{dataset.get('name') or dataset.get('type') or 'dataset'}"
                metrics.setdefault(key, float(value))
    return metrics


def _model_tags(wire: Wire) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key in ("pipeline_tag", "library_name"):
        if isinstance(wire.get(key), str) and wire[key]:
            tags[key] = wire[key]
    for tag in wire.get("tags") or ():
        if isinstance(tag, str) and tag.startswith("license:"):
            tags["license"] = tag.removeprefix("license:")
    return tags


def to_model(wire: Wire, registry_id: str, team: str | None = None) -> Model:
    return Model(
        registry_id=registry_id,
        name=domain_name(wire["id"]),
        description=None,  # the Hub has none apart from the README's prose
        team=team,
        tags=_model_tags(wire),
        created_at=to_utc(wire.get("createdAt")),
        updated_at=to_utc(wire.get("lastModified")),
        native={k: wire[k] for k in MODEL_NATIVE_KEYS if k in wire},
    )


def stage_of(commit: str, stage_refs: Mapping[str, list[str]], stages: StageTags) -> tuple[Stage, str | None]:
    """The stage of a version at ``commit``: production tags first, then staging."""
    tags = stage_refs.get(commit, [])
    for stage in (Stage.PRODUCTION, Stage.STAGING):
        for tag in tags:
            if stages.stage_for(tag) is stage:
                return stage, tag
    return Stage.DRAFT, None


def stage_commits(tags: Iterable[Wire], stages: StageTags) -> dict[str, list[str]]:
    """Commit → the stage tags pointing at it."""
    found: dict[str, list[str]] = {}
    for ref in tags:
        if stages.stage_for(ref["name"]) is not None:
            found.setdefault(ref["targetCommit"], []).append(ref["name"])
    return found


def to_version(
    repo_id: str,
    ref: Wire,
    info: Wire,
    stage_refs: Mapping[str, list[str]],
    *,
    registry_id: str,
    stages: StageTags,
    team: str | None = None,
) -> ModelVersion:
    """One version: its ref (``{"name", "ref", "targetCommit"}``), the repository's
    info at that commit, and the stage tags of the repository."""
    commit = ref["targetCommit"]
    found = info.get("cardData")
    card: Wire = found if isinstance(found, dict) else {}
    stage, native_stage = stage_of(commit, stage_refs, stages)
    bases = _strings(card.get("base_model"))
    name = ref["name"]
    semver = name[1:] if name[:1] in "vV" and name[1:2].isdigit() else (name if name[:1].isdigit() else None)
    native: dict[str, Any] = {"ref": ref.get("ref"), "commit": commit, "repoId": repo_id}
    for key in ("private", "gated", "pipeline_tag", "library_name"):
        if key in info:
            native[key] = info[key]
    if card:
        native["cardData"] = dict(card)
    return ModelVersion(
        registry_id=registry_id,
        model_name=domain_name(repo_id),
        version=name,
        stage=stage,
        native_stage=native_stage,
        aliases=tuple(stage_refs.get(commit, [])),
        semver=semver if name != MAIN else None,
        artifact_uri=hub_reference(repo_id, commit),
        training_data=tuple(
            DatasetRef(uri=dataset_uri(d), name=d, role="training") for d in _strings(card.get("datasets"))
        ),
        metrics=card_metrics(card.get("model-index") or info.get("model-index")),
        parent=base_reference(bases[0]) if bases else None,
        tags=card_tags(card),
        team=team,
        created_by=info.get("author") or repo_id.split("/", 1)[0],
        created_at=to_utc(info.get("lastModified")),
        updated_at=to_utc(info.get("lastModified")),
        native=native,
    )
