"""The BOM formats and the one function that picks a format's builder."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from gateway.bom.cyclonedx import cyclonedx_collection, cyclonedx_document
from gateway.bom.facts import BomFacts
from gateway.bom.spdx import spdx_collection, spdx_document
from gateway.domain import Model, utcnow


class BomFormat(enum.Enum):
    """A BOM standard and version; the value is the ``format`` word of REST and the CLI."""

    CYCLONEDX_1_6 = "cyclonedx"
    SPDX_3_0 = "spdx"

    @classmethod
    def named(cls, word: str) -> BomFormat:
        """The format ``word`` names (``cyclonedx`` or ``spdx``); ValueError otherwise."""
        for fmt in cls:
            if fmt.value == word.strip().lower():
                return fmt
        raise ValueError(f"format must be one of {', '.join(f.value for f in cls)}, got {word!r}")

    @property
    def media_type(self) -> str:
        if self is BomFormat.CYCLONEDX_1_6:
            return "application/vnd.cyclonedx+json; version=1.6"
        return "application/spdx+json"

    @property
    def suffix(self) -> str:
        return "cdx.json" if self is BomFormat.CYCLONEDX_1_6 else "spdx.json"


def document(facts: BomFacts, fmt: BomFormat) -> dict[str, Any]:
    """The BOM of ``facts`` in ``fmt``."""
    if fmt is BomFormat.CYCLONEDX_1_6:
        return cyclonedx_document(facts)
    return spdx_document(facts)


def collection_document(
    versions: Sequence[BomFacts], fmt: BomFormat, *, name: str, model: Model | None = None
) -> dict[str, Any]:
    """One BOM of several versions: a model's (``model``, the BOM's subject) or an
    organisation's inventory (no subject)."""
    at = utcnow()
    if fmt is BomFormat.SPDX_3_0:
        return spdx_collection(versions, at, name=name)
    subject = None
    if model is not None:
        subject = {
            "type": "machine-learning-model",
            "bom-ref": model.uri,
            "group": model.registry_id,
            "name": model.name,
            **({"description": model.description} if model.description else {}),
        }
    return cyclonedx_collection(versions, at, subject=subject)
