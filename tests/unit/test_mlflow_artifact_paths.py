"""``gateway.mlflow_api.artifacts``: the proxy's paths, listings and source URLs."""

from __future__ import annotations

import pytest

from gateway.artifacts.store import StoredFile
from gateway.errors import BadInput
from gateway.mlflow_api.artifacts import ROUTE, ArtifactProxy, ProxyPath, bad_path, listing, parse_path

FILES = [
    StoredFile("k/MLmodel", "MLmodel", "sha256:a", 10),
    StoredFile("k/data/model.pkl", "data/model.pkl", "sha256:b", 20),
    StoredFile("k/data/deep/x.json", "data/deep/x.json", "sha256:c", 30),
]


def test_parse_path() -> None:
    assert parse_path("") is None
    assert parse_path("platform/churn") is None  # above a version
    assert parse_path("/platform/churn/3/") == ProxyPath("platform", "churn", "3", "")
    assert parse_path("platform/churn/3/data/model.pkl") == ProxyPath(
        "platform", "churn", "3", "data/model.pkl"
    )


@pytest.mark.parametrize("raw", ["platform/churn/3/../secret", "platform/../3/x", "platform/churn/3/.hidden"])
def test_parse_path_refuses_unsafe_segments(raw: str) -> None:
    with pytest.raises(BadInput):
        parse_path(raw)
    assert raw in bad_path(raw).message


def test_listing_gives_direct_children_sorted() -> None:
    assert listing(FILES, "") == [
        {"path": "MLmodel", "is_dir": False, "file_size": 10},
        {"path": "data", "is_dir": True},
    ]
    assert listing(FILES, "data") == [
        {"path": "deep", "is_dir": True},
        {"path": "model.pkl", "is_dir": False, "file_size": 20},
    ]
    assert listing(FILES, "MLmodel") == []  # a file lists nothing
    assert listing(FILES, "absent") == []


def test_source_only_for_native_versions_in_the_store() -> None:
    proxy = ArtifactProxy("http://gw/mlflow", frozenset({"platform"}), "s3://b/p/")
    assert proxy.source("platform", "churn", "3", "s3://b/p/platform/churn/ab/model.bin") == (
        f"http://gw/mlflow{ROUTE}/platform/churn/3"
    )
    assert proxy.source("platform", "churn", "3", "s3://b/p/platform/other/ab/model.bin") is None
    assert proxy.source("platform", "churn", "3", "s3://elsewhere/model.bin") is None
    assert proxy.source("platform", "churn", "3", None) is None
    assert proxy.source("mlflow", "churn", "3", "s3://b/p/mlflow/churn/ab/model.bin") is None
