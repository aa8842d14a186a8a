"""The official schemas' verdict on a BOM: a list of error messages, empty when
the document is valid."""

from __future__ import annotations

import json
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

_CYCLONEDX = JsonStrictValidator(SchemaVersion.V1_6)


def cyclonedx_errors(document: dict[str, Any]) -> list[str]:
    """What CycloneDX 1.6's JSON schema (strict: no unknown fields) finds wrong."""
    found = _CYCLONEDX.validate_str(json.dumps(document), all_errors=True)
    return [str(error.data.message) for error in found or ()]  # type: ignore[union-attr]
