"""Words for people: counts with the right plural, for CLI output and messages."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 version``, ``2 versions``, ``0 policies`` (pass ``plural_form`` when
    adding an ``s`` is wrong)."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {word}"
