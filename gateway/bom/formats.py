"""The BOM formats and the one function that picks a format's builder."""

from __future__ import annotations

import enum
from typing import Any

from gateway.bom.cyclonedx import cyclonedx_document
from gateway.bom.facts import BomFacts
from gateway.bom.spdx import spdx_document


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
