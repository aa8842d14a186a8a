"""``gateway.bom.formats``: the format words of REST and the CLI, their media
types and file suffixes, and a collection BOM's subject."""

from __future__ import annotations

import pytest

from gateway.bom.formats import BomFormat, collection_document
from gateway.domain import Model


@pytest.mark.parametrize(
    ("word", "fmt"),
    [
        ("cyclonedx", BomFormat.CYCLONEDX_1_6),
        (" SPDX ", BomFormat.SPDX_3_0),
        ("CycloneDX", BomFormat.CYCLONEDX_1_6),
    ],
)
def test_a_format_word_names_its_format(word: str, fmt: BomFormat) -> None:
    assert BomFormat.named(word) is fmt


def test_an_unknown_word_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="format must be one of cyclonedx, spdx, got 'pdf'"):
        BomFormat.named("pdf")


def test_media_types_and_suffixes() -> None:
    assert (BomFormat.CYCLONEDX_1_6.media_type, BomFormat.CYCLONEDX_1_6.suffix) == (
        "application/vnd.cyclonedx+json; version=1.6",
        "cdx.json",
    )
    assert (BomFormat.SPDX_3_0.media_type, BomFormat.SPDX_3_0.suffix) == (
        "application/spdx+json",
        "spdx.json",
    )


def test_a_models_collection_has_the_model_as_its_subject() -> None:
    model = Model("platform", "ranker", description="ranks things")
    doc = collection_document([], BomFormat.CYCLONEDX_1_6, name="ranker", model=model)
    subject = doc["metadata"]["component"]
    assert subject == {
        "type": "machine-learning-model",
        "bom-ref": "mg://platform/ranker",
        "group": "platform",
        "name": "ranker",
        "description": "ranks things",
    }
    undescribed = collection_document([], BomFormat.CYCLONEDX_1_6, name="x", model=Model("platform", "x"))
    assert "description" not in undescribed["metadata"]["component"]
    inventory = collection_document([], BomFormat.CYCLONEDX_1_6, name="inventory")
    assert "component" not in inventory.get("metadata", {})
    spdx = collection_document([], BomFormat.SPDX_3_0, name="inventory")
    assert "cyclonedx" not in str(spdx).lower() and "spdx" in str(spdx).lower()
