"""``adapters.gto.mapping``: GTO and DVC vocabulary read without GTO or DVC."""

from __future__ import annotations

from adapters.gto.mapping import (
    VERSION_REF,
    ArtifactMeta,
    artifact_meta,
    artifact_of,
    declared_artifacts,
    dvc_yaml_path,
    flatten,
    load_yaml,
    merge_files,
    metric_and_param_files,
    metrics_of,
    model_name_of,
    params_of,
    parse_data_file,
    tags_of,
)


def test_names_escape_slashes_and_nested_artifacts_keep_their_directory() -> None:
    assert model_name_of("nlp/churn") == "nlp%2Fchurn" and artifact_of("nlp%2fchurn") == "nlp/churn"
    assert dvc_yaml_path("models/cv:resnet") == "models/cv/dvc.yaml" and dvc_yaml_path("churn") == "dvc.yaml"
    assert VERSION_REF.match("models/cv:resnet@v1.2.0-rc.1")["version"] == "v1.2.0-rc.1"  # type: ignore[index]
    assert VERSION_REF.match("churn@1.2.0") is None


def test_dvc_yaml_is_preferred_to_artifacts_yaml() -> None:
    dvc = {
        "artifacts": {"churn": {"type": "model", "path": "m.pkl", "desc": "from dvc", "labels": ["a=1", "b"]}}
    }
    index = {"churn": {"type": "model", "description": "from gto"}, "other": {"type": "dataset"}}
    meta = artifact_meta("churn", dvc, index)
    assert meta is not None and (meta.description, meta.source, meta.labels) == (
        "from dvc",
        "dvc.yaml",
        ("a=1", "b"),
    )
    assert artifact_meta("other", dvc, index) == ArtifactMeta(type="dataset", source="artifacts.yaml")
    assert artifact_meta("absent", dvc, index) is None
    assert set(declared_artifacts(dvc, index)) == {"churn", "other"}
    assert set(declared_artifacts(dvc, None, "models/cv")) == {"models/cv:churn"}


def test_metric_and_param_files_are_found_where_dvc_looks() -> None:
    dvc = {
        "metrics": ["eval/m.json"],
        "params": ["train.yaml"],
        "stages": {"train": {"metrics": [{"s.json": {}}]}},
    }
    metrics, params = metric_and_param_files("models/cv:resnet", dvc)
    assert metrics == ["models/cv/eval/m.json", "models/cv/s.json"]
    assert params == ["models/cv/params.yaml", "models/cv/train.yaml"]


def test_data_files_parse_by_suffix_and_broken_ones_are_none() -> None:
    assert parse_data_file("p.toml", b"[train]\nlr = 0.1") == {"train": {"lr": 0.1}}
    assert parse_data_file("m.json", b'{"auc": 0.9}') == {"auc": 0.9}
    assert parse_data_file("m.json", b"{broken") is None and parse_data_file("p.yaml", None) is None
    assert load_yaml(b"a: [1, 2") is None and load_yaml(b"") is None


def test_values_flatten_merge_and_split_into_metrics_and_params() -> None:
    assert flatten({"train": {"lr": 0.1, "opt": {"name": "adam"}}}) == {
        "train.lr": 0.1,
        "train.opt.name": "adam",
    }
    merged = merge_files([("a.yaml", {"lr": 0.1}), ("b.yaml", {"lr": 0.2, "auc": 0.9})])
    assert merged == {"lr": 0.1, "b.yaml:lr": 0.2, "auc": 0.9}
    assert metrics_of({"auc": 0.9, "n": 3, "ok": True, "name": "x"}) == {"auc": 0.9, "n": 3.0}
    assert params_of({"lr": "0.1", "layers": [1, 2]}) == {"lr": "0.1", "layers": "[1, 2]"}


def test_labels_and_meta_become_tags() -> None:
    meta = ArtifactMeta(
        labels=("team=nlp", "beta"), meta={"owner": "ann", "extra": {"b": 1, "a": 2}, "none": None}
    )
    assert tags_of(meta) == {
        "team": "nlp",
        "beta": "",
        "owner": "ann",
        "extra": '{"a": 2, "b": 1}',
        "none": "",
    }
    assert tags_of(None) == {}
