"""MLflow's wire format, translated into the domain and back.

Facts this module relies on (checked against MLflow 3.17):

- Empty fields are omitted: no ``tags``, ``aliases``, ``description`` keys at
  all, and an empty search answers ``{}``.
- ``model-versions/search`` never carries ``aliases``; the registered model's
  ``aliases: [{alias, version}]`` is the one reliable source.
- Timestamps are epoch milliseconds; ``user_id`` is often ``""`` and a run's
  ``user_id`` is ``"unknown"`` when the client did not know it.
- A dataset's ``source`` is a JSON *string* whose shape depends on
  ``source_type`` (``{"uri"}`` for s3/local, ``{"url"}`` for http, ``{"path"}``
  or ``{"table_name"}`` for Spark/Delta/Hugging Face, nothing useful for code).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from adapters.conventions import code_of, environment_of, model_card_of, semver_of
from adapters.mlflow.options import MlflowOptions
from adapters.toolkit.errors import error_for_status, retry_after_seconds
from adapters.toolkit.http import ErrorTranslator
from adapters.toolkit.timestamps import to_utc
from gateway.domain import CodeRef, DatasetRef, Model, ModelVersion, Stage, version_uri
from gateway.errors import (
    RegistryError,
)

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
LEGACY_STAGES = {
    "None": Stage.DRAFT,
    "Staging": Stage.STAGING,
    "Production": Stage.PRODUCTION,
    "Archived": Stage.ARCHIVED,
}
STAGE_TO_LEGACY = {stage: word for word, stage in LEGACY_STAGES.items()}
DATASET_CONTEXT_TAG = "mlflow.data.context"
# Keys of a dataset source's JSON that hold where the data lives, most specific first.
DATASET_LOCATION_KEYS = ("uri", "url", "path", "delta_table_name", "table_name")
VALIDATION_CONTEXTS = {"validation", "validate", "eval", "evaluation", "test", "testing"}


def translate_error(registry_id: str) -> ErrorTranslator:
    """MLflow's ``{error_code, message}`` as a coded ``RegistryError`` naming the registry."""

    def translate(response: httpx.Response) -> RegistryError:
        code: str | None = None
        message = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = body.get("error_code") if isinstance(body.get("error_code"), str) else None
            message = str(body.get("message") or "")
        status = response.status_code
        where = f"{response.request.method} {response.request.url.path}"
        text = (
            f"{where} answered {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        )
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        return error_for_status(registry_id, status, text, registry_code=code, retry_after=retry_after)

    return translate


def is_not_found(exc: RegistryError) -> bool:
    """A 404 RESOURCE_DOES_NOT_EXIST (not a 404 from something that is not MLflow)."""
    return exc.status == 404 and exc.extensions.get("registryCode") == NOT_FOUND


def quote_filter_value(value: str) -> str:
    """A filter-string literal. MLflow's parser takes '...' or "..." and has no escapes."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"cannot quote {value!r} in an MLflow filter (it holds both quote characters)")


def path_segment(value: str) -> str:
    return quote(value, safe="")


def tag_map(raw: Any) -> dict[str, str]:
    return {t["key"]: str(t.get("value", "")) for t in raw or () if isinstance(t, dict) and "key" in t}


def alias_map(raw_model: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The registered model's ``aliases: [{alias, version}]`` as version → aliases."""
    by_version: dict[str, list[str]] = {}
    for entry in raw_model.get("aliases") or ():
        by_version.setdefault(str(entry["version"]), []).append(entry["alias"])
    return {v: tuple(sorted(a)) for v, a in by_version.items()}


def model_from_wire(registry_id: str, raw: Mapping[str, Any]) -> Model:
    aliases = {a["alias"]: str(a["version"]) for a in raw.get("aliases") or ()}
    native: dict[str, Any] = {"aliases": aliases}
    if raw.get("user_id"):
        native["user_id"] = raw["user_id"]
    return Model(
        registry_id=registry_id,
        name=raw["name"],
        description=raw.get("description") or None,
        tags=tag_map(raw.get("tags")),
        created_at=to_utc(raw.get("creation_timestamp")),
        updated_at=to_utc(raw.get("last_updated_timestamp")),
        native=native,
    )


def model_fingerprint(raw: Mapping[str, Any]) -> int:
    """What an incremental pass compares: MLflow bumps ``last_updated_timestamp`` for
    new versions, stage transitions and description edits, but not for aliases or
    tags, so those are part of the fingerprint too."""
    aliases = sorted((a["alias"], str(a["version"])) for a in raw.get("aliases") or ())
    tags = sorted(tag_map(raw.get("tags")).items())
    return hash(
        (raw.get("last_updated_timestamp"), raw.get("description") or "", tuple(tags), tuple(aliases))
    )


def derive_stage(
    options: MlflowOptions, aliases: Iterable[str], legacy_stage: str | None, tags: Mapping[str, str]
) -> tuple[Stage, str | None]:
    """The unified stage and MLflow's own words for it.

    Aliases mode (the default) honours both ways MLflow states a stage, because
    teams use both (``transition-stage`` is deprecated but served, and is how
    many runbooks still promote). In order: a production alias, a staging alias
    (serving resolves ``models:/name@alias``, so a version that holds one is live
    whatever else it says), the configured archive tag, then the legacy stage
    (``Staging``, ``Production``, ``Archived``); anything else is DRAFT. When an
    alias or the tag decides and the legacy stage says something too,
    ``nativeStage`` shows both (``champion; stage Staging``), so a disagreement
    is visible. Stages mode reads ``current_stage`` only.
    """
    legacy = legacy_stage or "None"
    if options.stage_mapping == "stages":
        return LEGACY_STAGES.get(legacy, Stage.DRAFT), legacy
    held = set(aliases)
    also = f"; stage {legacy}" if legacy != "None" else ""
    for stage in (Stage.PRODUCTION, Stage.STAGING):
        mapped = [a for a in options.aliases_for(stage) if a in held]
        if mapped:
            return stage, ",".join(mapped) + also
    tag_key, tag_value = options.archived_tag_pair
    if tags.get(tag_key) == tag_value:
        return Stage.ARCHIVED, options.archived_tag + (also if legacy != "Archived" else "")
    if legacy in LEGACY_STAGES and legacy != "None":
        return LEGACY_STAGES[legacy], legacy
    return Stage.DRAFT, None


@dataclass(frozen=True)
class SourceRef:
    """What a version's ``source`` points at besides an artifact location."""

    logged_model_id: str | None = None  # models:/m-<hex>  (MLflow 3 LoggedModel)
    parent_name: str | None = None  # models:/<name>/<version>  (a copied version)
    parent_version: str | None = None


def parse_source(source: str | None) -> SourceRef:
    if not source or not source.startswith("models:/"):
        return SourceRef()
    rest = source[len("models:/") :].strip("/")
    if "/" in rest:
        name, _, version = rest.rpartition("/")
        return SourceRef(parent_name=name, parent_version=version) if version.isdigit() else SourceRef()
    if "@" in rest or not rest:
        return SourceRef()  # models:/name@alias: moves over time, not a fixed parent
    return SourceRef(logged_model_id=rest)


@dataclass(frozen=True)
class RunDetails:
    """What a run contributes to a version: hyperparameters, metrics, datasets, code."""

    run_id: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    datasets: tuple[DatasetRef, ...]
    code: CodeRef | None
    user_id: str | None
    info: Mapping[str, Any]
    model_inputs: tuple[str, ...] = ()
    # Input schemas of the models the run logged, by LoggedModel id ("" when the
    # history names none), in logging order (from ``mlflow.log-model.history``).
    input_signatures: tuple[tuple[str, str], ...] = ()

    def input_signature(self, logged_model_id: str | None) -> str | None:
        """The input schema of the run's model with this id, else of the last one
        it logged with a signature."""
        for model_id, inputs in self.input_signatures:
            if logged_model_id and model_id == logged_model_id:
                return inputs
        return self.input_signatures[-1][1] if self.input_signatures else None


LOGGED_MODELS_TAG = "mlflow.log-model.history"


def logged_input_signatures(history: str | None) -> tuple[tuple[str, str], ...]:
    """(model id, input schema JSON text) of each model in a run's
    ``mlflow.log-model.history`` tag (a JSON list of MLmodel dicts) that has a
    signature; an unreadable tag contributes nothing."""
    try:
        entries = json.loads(history) if history else []
    except ValueError:
        return ()
    found = []
    for entry in entries if isinstance(entries, list) else ():
        signature = entry.get("signature") if isinstance(entry, dict) else None
        inputs = signature.get("inputs") if isinstance(signature, dict) else None
        if isinstance(inputs, str) and inputs:
            found.append((str(entry.get("model_id") or entry.get("model_uuid") or ""), inputs))
    return tuple(found)


def dataset_uri(registry_id: str, dataset: Mapping[str, Any]) -> str:
    """Where the data lives, from the ``source`` JSON; a stable made-up URI otherwise."""
    try:
        source = json.loads(dataset.get("source") or "{}")
    except ValueError:
        source = dataset.get("source")
    if isinstance(source, str) and "://" in source:
        return source
    if isinstance(source, dict):
        for key in DATASET_LOCATION_KEYS:
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    name = path_segment(dataset.get("name") or "dataset")
    digest = dataset.get("digest") or "unknown"
    return f"mlflow-dataset://{registry_id}/{name}@{digest}"


def run_from_wire(registry_id: str, raw: Mapping[str, Any]) -> RunDetails:
    info = raw.get("info") or {}
    data = raw.get("data") or {}
    tags = tag_map(data.get("tags"))
    datasets = []
    for entry in (raw.get("inputs") or {}).get("dataset_inputs") or ():
        dataset = entry.get("dataset") or {}
        role = tag_map(entry.get("tags")).get(DATASET_CONTEXT_TAG)
        datasets.append(
            DatasetRef(
                uri=dataset_uri(registry_id, dataset),
                name=dataset.get("name") or None,
                digest=dataset.get("digest") or None,
                role=role or None,
            )
        )
    # The repository and commit identify the code; ``mlflow.source.name`` is the
    # entry point (a script path, or a notebook), never the repository itself.
    repository = tags.get("mlflow.source.git.repoURL") or tags.get("mlflow.gitRepoURL")
    commit = tags.get("mlflow.source.git.commit")
    path = tags.get("mlflow.source.name") or None
    user = info.get("user_id") or tags.get("mlflow.user")
    model_inputs = tuple(
        m["model_id"] for m in (raw.get("inputs") or {}).get("model_inputs") or () if m.get("model_id")
    )
    return RunDetails(
        run_id=info.get("run_id") or info.get("run_uuid") or "",
        params={p["key"]: str(p.get("value", "")) for p in data.get("params") or ()},
        metrics={m["key"]: float(m["value"]) for m in data.get("metrics") or () if "value" in m},
        datasets=tuple(datasets),
        code=CodeRef(repository, commit, path) if repository or commit or path else None,
        user_id=user if user and user != "unknown" else None,
        info={
            k: info[k]
            for k in ("experiment_id", "run_name", "status", "lifecycle_stage", "artifact_uri")
            if k in info
        },
        model_inputs=model_inputs,
        input_signatures=logged_input_signatures(tags.get(LOGGED_MODELS_TAG)),
    )


@dataclass(frozen=True)
class ModelFiles:
    """What an MLflow model's own files say (``MLmodel``, ``requirements.txt``)."""

    environment: str | None = None  # "python=3.11.9 mlflow==3.17.2 scikit-learn==1.5.1"
    signature: Mapping[str, Any] | None = None  # MLmodel's {inputs, outputs} (JSON text each)
    flavors: tuple[str, ...] = ()
    mlflow_version: str | None = None


def version_from_wire(
    registry_id: str,
    options: MlflowOptions,
    raw: Mapping[str, Any],
    aliases: tuple[str, ...],
    run: RunDetails | None,
    files: ModelFiles | None = None,
    *,
    partial: bool = False,
) -> ModelVersion:
    """One ``model_version`` object as a domain version. ``aliases`` comes from the
    registered model (search results never carry them); ``files`` from the
    model's own files where they were readable. Semver, model card and
    environment follow the documented tags; the environment falls back to the
    model's files. ``partial``: built without the run and files it has (a brief
    listing), so a read completes it through the adapter."""
    tags = tag_map(raw.get("tags"))
    legacy = raw.get("current_stage") or "None"
    stage, native_stage = derive_stage(options, aliases, legacy, tags)
    source = raw.get("source") or None
    ref = parse_source(source)
    run_id = raw.get("run_id") or None
    native: dict[str, Any] = {
        "current_stage": legacy,
        "status": raw.get("status"),
        "run_id": run_id,
    }
    for key in ("status_message", "run_link", "model_id"):
        if raw.get(key):
            native[key] = raw[key]
    logged_model_id = raw.get("model_id") or ref.logged_model_id
    if logged_model_id:
        native["logged_model_id"] = logged_model_id
    if run is not None:
        native["run"] = dict(run.info)
    elif run_id and options.fetch_run_details:
        native["run"] = None  # the run is gone (or not readable): say so rather than guess
    parent = (
        version_uri(registry_id, ref.parent_name, ref.parent_version)
        if ref.parent_name and ref.parent_version
        else None
    )
    environment = environment_of(tags) or (files.environment if files else None)
    code = run.code if run else None
    if code is None or not str(code):  # the run names no repository or commit: the tags may
        code = code_of(tags) or code
    if files is not None:
        if files.signature:
            native["signature"] = dict(files.signature)  # read by the inputSignature helper
        if files.flavors:
            native["flavors"] = list(files.flavors)
        if files.mlflow_version:
            native["mlflow_version"] = files.mlflow_version
    return ModelVersion(
        registry_id=registry_id,
        model_name=raw["name"],
        version=str(raw["version"]),
        stage=stage,
        native_stage=native_stage,
        aliases=aliases,
        description=raw.get("description") or None,
        semver=semver_of(tags),
        artifact_uri=source,
        environment=environment or None,
        model_card=model_card_of(tags),
        training_code=code,
        training_data=run.datasets if run else (),
        hyperparameters=dict(run.params) if run else {},
        metrics=dict(run.metrics) if run else {},
        parent=parent,
        input_signature=_input_signature(files, run, logged_model_id),
        tags=tags,
        created_by=raw.get("user_id") or (run.user_id if run else None),
        created_at=to_utc(raw.get("creation_timestamp")),
        updated_at=to_utc(raw.get("last_updated_timestamp")),
        native=native,
        partial=partial,
    )


def _input_signature(
    files: ModelFiles | None, run: RunDetails | None, logged_model_id: str | None
) -> str | None:
    """The version's own ``MLmodel`` signature first: MLflow 3 keeps a LoggedModel's
    signature there only, not in the run's history tag (which older clients wrote)."""
    inputs = (files.signature or {}).get("inputs") if files else None
    if isinstance(inputs, str) and inputs:
        return inputs
    return run.input_signature(logged_model_id) if run else None


def is_validation(role: str | None) -> bool:
    return (role or "").lower() in VALIDATION_CONTEXTS
