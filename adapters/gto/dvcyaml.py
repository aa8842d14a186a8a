"""Reading one artifact's part of a large ``dvc.yaml`` without parsing all of it.

A registry repository may declare a hundred artifacts in one ``dvc.yaml`` and
rewrite it at every tagged commit; PyYAML needs ~60-80 ms per such document on
this project's machine (composing alone runs its resolver in Python), which at
hundreds of tagged commits is the whole sync. ``dvc.yaml`` is block-style YAML
in practice, so the top-level keys and the entries of ``artifacts:`` can be cut
apart by indentation and only the parts a version needs are parsed. Anything
the cut cannot be sure of (flow style, anchors and aliases, tabs, several
documents) falls back to parsing the whole file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TOP_KEY = re.compile(r"""(?:"([^"]+)"|'([^']+)'|([^\s"'#:][^:#]*?))\s*:(?:\s|$)""")
UNSURE = re.compile(r"(^|\s)[&*!][\w-]|<<\s*:|^---|^\.\.\.|\t", re.MULTILINE)
# What a version reads besides its own artifact entry.
NEEDED = ("metrics", "params", "stages")


# where each top-level key starts (YAML lets a key's list items sit at its own indentation)
TOP_LINE = re.compile(r"^(?=[^\s#])(?!-(?:\s|$))", re.MULTILINE)


def _unsure(text: str) -> bool:
    """Anchors, aliases, tags, merge keys, tabs or document markers (a cheap test first)."""
    if not any(c in text for c in ("&", "*", "!", "\t", "<<", "---", "...")):
        return False
    return bool(UNSURE.search(text))


def _load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError:
        return None


def _top_blocks(text: str) -> dict[str, str] | None:
    """The document cut at its top-level keys (None: not plain block style)."""
    starts = [m.start() for m in TOP_LINE.finditer(text)]
    if not starts or (text[: starts[0]].strip(" \n#") and not text[: starts[0]].lstrip().startswith("#")):
        return None
    blocks: dict[str, str] = {}
    for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
        match = TOP_KEY.match(text, begin)
        key = next((g for g in match.groups() if g), None) if match else None
        if key is None or key in blocks:
            return None
        blocks[key] = text[begin:end]
    return blocks


def _entry(block: str, name: str) -> str | bool | None:
    """The lines of entry ``name`` in the ``artifacts:`` block; None when absent,
    False when the block is not plain enough to cut."""
    header, _, body = block.partition("\n")
    if header.split(":", 1)[1].split("#", 1)[0].strip():  # ``artifacts: {...}`` inline
        return False
    first = re.search(r"^( +)[^\s#]", body, re.MULTILINE)
    if first is None:
        return None
    indent = first.group(1)
    quoted = re.escape(name)
    head = re.compile(rf"^{indent}(?:\"{quoted}\"|'{quoted}'|{quoted})\s*:(?:[ \t]|$)", re.MULTILINE)
    found = head.search(body)
    if found is None:
        return None
    after = re.compile(rf"^ {{0,{len(indent)}}}(?=[^\s#])(?!-(?:\s|$))", re.MULTILINE).search(
        body, found.end()
    )
    return body[found.start() : after.start() if after else len(body)]


def load_for_artifact(text: str, name: str) -> Any:
    """``dvc.yaml`` reduced to what artifact ``name`` (its short name) needs: its
    entry under ``artifacts:`` and the top-level ``metrics``, ``params`` and
    ``stages``: the same values ``yaml.safe_load`` gives for those keys."""
    if text.lstrip().startswith("{") or _unsure(text):
        return _load(text)
    top = _top_blocks(text)
    if top is None:
        return _load(text)
    reduced: dict[str, Any] = {}
    for key in NEEDED:
        if key in top:
            value = _load(top[key])
            if not isinstance(value, dict):
                return _load(text)
            reduced[key] = value.get(key)
    if "artifacts" not in top:
        return reduced
    entry = _entry(top["artifacts"], name)
    if entry is False:
        return _load(text)
    parsed = _load(f"artifacts:\n{entry}") if entry else {"artifacts": {}}
    if not isinstance(parsed, dict):
        return _load(text)
    reduced["artifacts"] = parsed.get("artifacts") or {}
    return reduced
