"""W&B Registry's vocabulary ↔ modelgate's.

- A registry is a project ``wandb-registry-<name>`` of the org entity; a model is
  one of its collections (an ``ArtifactPortfolio``). With ``registry`` configured
  the model name is the collection name; otherwise ``<registry>/<collection>``,
  spelled ``<registry>%2F<collection>`` (``/`` as ``%2F``, ``%`` as ``%25``), as
  docs/uris.md says for names with ``/``.
- A version is a membership of the collection: ``v<N>``, its index in the
  collection (``mg://<registry>/<collection>/v3``). Its artifact carries
  ``description``, ``metadata`` (JSON: kept in ``native``; the modelgate metadata
  conventions are read from it), ``tags`` (labels: tags with an empty value),
  ``digest`` and ``size``.
- ``artifact_uri``: the one reference entry of the artifact's manifest when it
  has exactly one (a reference artifact: ``s3://…``), else the artifact's own
  path ``wandb-artifact:///<org-entity>/wandb-registry-<r>/<collection>:v<N>``.
- Lineage: the run that logged the artifact (``createdBy``): ``config`` →
  hyperparameters, numeric ``summaryMetrics`` → metrics (keys starting with
  ``_`` are W&B's own); the artifacts that run used that are not models →
  training data, each with its digest and the same URI rule.
- Stage: ``StageAliases.stage_of`` (archived tag, production aliases, staging
  aliases); ``nativeStage`` is the deciding aliases, comma-separated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.conventions import code_of, environment_of, model_card_of, semver_of
from adapters.toolkit.timestamps import to_utc
from adapters.wandb.options import StageAliases
from gateway.domain import DatasetRef, Model, ModelVersion

REGISTRY_PREFIX = "wandb-registry-"
Wire = Mapping[str, Any]


def escape(name: str) -> str:
    return name.replace("%", "%25").replace("/", "%2F")


def unescape(name: str) -> str:
    return name.replace("%2F", "/").replace("%2f", "/").replace("%25", "%")


@dataclass(frozen=True)
class CollectionRef:
    """Where a modelgate model lives in W&B."""

    registry: str  # short name, without the wandb-registry- prefix
    collection: str

    @property
    def project(self) -> str:
        return REGISTRY_PREFIX + self.registry


def model_name(registry: str, collection: str, single: str | None) -> str:
    return escape(collection) if single else f"{escape(registry)}%2F{escape(collection)}"


def collection_ref(name: str, single: str | None) -> CollectionRef | None:
    """The registry and collection a modelgate model name names, or None when the
    name cannot be one (a bare ``/``, or no registry part when several are read)."""
    if not name or "/" in name:
        return None
    if single:
        return CollectionRef(single, unescape(name))
    registry, sep, collection = name.partition("%2F")
    if not sep or not registry or not collection:
        return None
    return CollectionRef(unescape(registry), unescape(collection))


def registry_of(project: Wire | None) -> str:
    return str((project or {}).get("name") or "").removeprefix(REGISTRY_PREFIX)


def _labels(tags: Sequence[Wire] | None) -> dict[str, str]:
    return {str(t["name"]): "" for t in tags or () if t and t.get("name")}


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def to_model(node: Wire, registry_id: str, single: str | None, team: str | None) -> Model:
    registry = registry_of(node.get("project"))
    return Model(
        registry_id=registry_id,
        name=model_name(registry, node["name"], single),
        description=node.get("description") or None,
        team=team,
        tags={
            str(e["node"]["name"]): "" for e in (node.get("tags") or {}).get("edges") or () if e.get("node")
        },
        created_at=to_utc(node.get("createdAt")),
        updated_at=to_utc(node.get("updatedAt")),
        native={
            "id": node.get("id"),
            "registry": registry,
            "collection": node["name"],
            "type": (node.get("type") or {}).get("name"),
        },
    )


def artifact_path(entity: str, project: str, name: Any, index: Any) -> str:
    return f"wandb-artifact:///{entity}/{project}/{name}:v{index}"


def single_reference(manifest: Any) -> str | None:
    """The ``ref`` of a manifest whose one entry is a reference, else None."""
    contents = manifest.get("contents") if isinstance(manifest, dict) else None
    if not isinstance(contents, dict) or len(contents) != 1:
        return None
    (entry,) = contents.values()
    ref = entry.get("ref") if isinstance(entry, dict) else None
    return ref if isinstance(ref, str) and ref else None


@dataclass(frozen=True)
class RunDetails:
    """What the run that logged a version says about it."""

    path: str | None = None  # <entity>/<project>/<run>
    created_by: str | None = None
    hyperparameters: Mapping[str, str] | None = None
    metrics: Mapping[str, float] | None = None
    datasets: tuple[DatasetRef, ...] = ()


def run_details(run: Wire | None, dataset_uris: Mapping[str, str]) -> RunDetails:
    """``dataset_uris``: artifact id → its manifest's single reference."""
    if not run or run.get("__typename") != "Run":
        return RunDetails()
    config = _json(run.get("config"))
    params = {
        k: _text(v.get("value") if isinstance(v, dict) and "value" in v else v)
        for k, v in config.items()
        if not k.startswith("_")
    }
    summary = _json(run.get("summaryMetrics"))
    metrics = {
        k: float(v)
        for k, v in summary.items()
        if not k.startswith("_") and isinstance(v, int | float) and not isinstance(v, bool)
    }
    project = run.get("project") or {}
    entity = (project.get("entity") or {}).get("name")
    datasets = []
    for edge in (run.get("artifacts") or {}).get("edges") or ():
        node = edge.get("node") or {}
        if not node or (node.get("artifactType") or {}).get("name") == "model":
            continue
        sequence = node.get("artifactSequence") or {}
        home = sequence.get("project") or {}
        name = f"{sequence.get('name')}:v{node.get('versionIndex')}"
        uri = dataset_uris.get(node["id"]) or artifact_path(
            (home.get("entity") or {}).get("name") or "",
            home.get("name") or "",
            sequence.get("name"),
            node.get("versionIndex"),
        )
        datasets.append(DatasetRef(uri=uri, name=name, digest=node.get("digest") or None, role="training"))
    return RunDetails(
        path=f"{entity}/{project.get('name')}/{run.get('name')}" if entity else None,
        created_by=(run.get("user") or {}).get("username") or None,
        hyperparameters=params,
        metrics=metrics,
        datasets=tuple(datasets),
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def to_version(
    membership: Wire,
    *,
    registry_id: str,
    org_entity: str,
    single: str | None,
    stages: StageAliases,
    team: str | None,
    artifact_uri: str | None = None,
    details: RunDetails | None = None,
) -> ModelVersion:
    collection = membership.get("artifactCollection") or {}
    artifact = membership.get("artifact") or {}
    registry = registry_of(collection.get("project"))
    index = membership.get("versionIndex")
    aliases = tuple(str(a["alias"]) for a in membership.get("aliases") or () if a and a.get("alias"))
    tags = _labels(artifact.get("tags"))
    stage, native_stage = stages.stage_of(aliases, tuple(tags))
    metadata = _json(artifact.get("metadata"))
    flat = {k: v for k, v in metadata.items() if isinstance(v, str)}
    partial = details is None  # a listing without the run's details
    details = details or RunDetails()
    sequence = artifact.get("artifactSequence") or {}
    source_project = sequence.get("project") or {}
    own_path = artifact_path(org_entity, REGISTRY_PREFIX + registry, collection.get("name"), index)
    return ModelVersion(
        registry_id=registry_id,
        model_name=model_name(registry, collection["name"], single),
        version=f"v{index}",
        stage=stage,
        native_stage=native_stage,
        aliases=aliases,
        semver=semver_of(flat),
        description=artifact.get("description") or None,
        artifact_uri=artifact_uri or own_path,
        artifact_digest=artifact.get("digest") or None,
        training_code=code_of(flat),
        environment=environment_of(flat),
        training_data=details.datasets,
        hyperparameters=details.hyperparameters or {},
        metrics=details.metrics or {},
        model_card=model_card_of(flat),
        tags=tags,
        team=team,
        created_by=details.created_by,
        created_at=to_utc(membership.get("createdAt") or artifact.get("createdAt")),
        updated_at=to_utc(artifact.get("updatedAt") or artifact.get("createdAt")),
        native={
            "artifactId": artifact.get("id"),
            "membershipId": membership.get("id"),
            "registry": registry,
            "collection": collection.get("name"),
            "path": own_path,
            "source": artifact_path(
                (source_project.get("entity") or {}).get("name") or "",
                source_project.get("name") or "",
                sequence.get("name"),
                artifact.get("versionIndex"),
            ),
            "type": (artifact.get("artifactType") or {}).get("name"),
            "size": artifact.get("size"),
            "state": artifact.get("state"),
            "metadata": metadata,
            **({"run": details.path} if details.path else {}),
        },
        partial=partial,
    )
