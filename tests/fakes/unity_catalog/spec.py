"""The OpenAPI documents the fake validates against: the OSS spec (``all.yaml``),
and in Databricks mode the same with Databricks' model additions merged in
(``databricks.yaml``; SOURCE.md says where each comes from)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from openapi_core import OpenAPI
from openapi_core.configurations import Config

HERE = Path(__file__).parent
OSS_SPEC = HERE / "all.yaml"
DATABRICKS_ADDITIONS = HERE / "databricks.yaml"
BASE_PATH = "/api/2.1/unity-catalog"
SPEC_HOST = "http://localhost:8080"  # the server the spec lists: openapi-core matches on it


@functools.cache
def _oss_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OSS_SPEC.read_text(encoding="utf-8"))
    return document


def document(flavor: str) -> dict[str, Any]:
    """The spec as a dict for ``flavor`` ("oss" or "databricks")."""
    spec = copy.deepcopy(_oss_document())
    if flavor == "oss":
        return spec
    extra = yaml.safe_load(DATABRICKS_ADDITIONS.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    schemas.update(extra["schemas"])
    for name, properties in extra["properties"].items():
        schemas[name]["properties"].update(properties)
    for path, by_method in extra["parameters"].items():
        for method, parameters in by_method.items():
            spec["paths"][path][method].setdefault("parameters", []).extend(parameters)
    spec["paths"].update(extra["paths"])
    return spec


@functools.cache
def openapi(flavor: str) -> OpenAPI:
    # The published file does not pass openapi-spec-validator (one invalid
    # default); the request and response checks themselves are unaffected.
    return OpenAPI.from_dict(document(flavor), config=Config(spec_validator_cls=None))  # type: ignore[arg-type]
