"""The official schemas' verdict on a BOM: a list of error messages, empty when
the document is valid."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from jsonschema import Draft202012Validator

_CYCLONEDX = JsonStrictValidator(SchemaVersion.V1_6)


def cyclonedx_errors(document: dict[str, Any]) -> list[str]:
    """What CycloneDX 1.6's JSON schema (strict: no unknown fields) finds wrong."""
    found = _CYCLONEDX.validate_str(json.dumps(document), all_errors=True)
    return [str(error.data.message) for error in found or ()]  # type: ignore[union-attr]


SPDX_SCHEMA = Path(__file__).parent / "schemas" / "spdx-json-schema-3.0.1.json"
SPDX_SCHEMA_SHA256 = "582c64e809d5b3ef9bd0c4de13a32391b47b0284a3e8d199569fb96f649234b1"


@functools.cache
def _spdx_validator() -> Draft202012Validator:
    schema = json.loads(SPDX_SCHEMA.read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def spdx_errors(document: dict[str, Any]) -> list[str]:
    """What the published SPDX 3.0.1 JSON schema finds wrong (it forbids unknown
    properties on every element of ``@graph``)."""
    # Through JSON text, as a consumer reads it (tuples become lists, keys text).
    return [error.message for error in _spdx_validator().iter_errors(json.loads(json.dumps(document)))]
