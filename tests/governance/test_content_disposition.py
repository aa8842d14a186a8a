"""Download names come from registries: ``content_disposition`` keeps the header
well-formed and Latin-1 whatever a model is called."""

from __future__ import annotations

import urllib.parse

import pytest

from gateway.endpoints.reports import content_disposition


@pytest.mark.parametrize(
    "name",
    [
        'evidence-a"; filename="evil.exe-1.pdf',
        "evidence-modèle-ünïcode-2.pdf",
        "evidence-org/model\r\nX: y-3.html",
    ],
)
def test_a_registry_name_cannot_break_the_header(name: str) -> None:
    value = content_disposition(name)
    value.encode("latin-1")  # starlette sends headers as Latin-1: no 500 on a Unicode name
    assert "\r" not in value and "\n" not in value
    quoted = value.split('filename="', 1)[1].split('"', 1)[0]
    assert all(c.isalnum() or c in "._-" for c in quoted), quoted
    assert value.count('"') == 2  # one quoted name, nothing injected after it
    exact = value.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(exact) == name


def test_inline_and_attachment() -> None:
    assert content_disposition("evidence-m-1.html", inline=True).startswith("inline; ")
    assert (
        content_disposition("audit.csv") == "attachment; filename=\"audit.csv\"; filename*=UTF-8''audit.csv"
    )
