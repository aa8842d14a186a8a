"""Reading a model card file for ``registerModelVersion``'s ``modelCard``.

Two forms:

- JSON: an object with any of the card's fields, in camelCase (``intendedUse``)
  or snake_case (``intended_use``);
- Markdown: the text before the first ``##`` heading is the summary; each ``##``
  section whose heading names a field (``## Intended use``, ``## Limitations``,
  ``## Training data``, ``## Evaluation``, ``## Bias assessment``,
  ``## Warnings``) fills it. Other sections are left out.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from modelgate_client.errors import ModelgateError

FIELDS = (
    "summary",
    "intendedUse",
    "limitations",
    "trainingDataSummary",
    "evaluation",
    "biasAssessment",
    "warnings",
)
HEADINGS = {
    "summary": "summary",
    "intended use": "intendedUse",
    "intended uses": "intendedUse",
    "limitations": "limitations",
    "training data": "trainingDataSummary",
    "training data summary": "trainingDataSummary",
    "evaluation": "evaluation",
    "bias assessment": "biasAssessment",
    "bias": "biasAssessment",
    "warnings": "warnings",
}
HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(r.title() for r in rest)


def read_model_card(path: str | os.PathLike[str]) -> dict[str, str]:
    """The card's fields found in ``path`` (see the module docstring)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelgateError("BAD_USER_INPUT", f"cannot read the model card {file}: {exc.strerror}") from None
    if file.suffix.lower() == ".json":
        return _from_json(file, text)
    return _from_markdown(text)


def _from_json(file: Path, text: str) -> dict[str, str]:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ModelgateError("BAD_USER_INPUT", f"the model card {file} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ModelgateError("BAD_USER_INPUT", f"the model card {file} must be a JSON object")
    card: dict[str, str] = {}
    for key, value in raw.items():
        name = _camel(str(key))
        if name not in FIELDS:
            raise ModelgateError(
                "BAD_USER_INPUT", f"the model card {file} has no field {key!r} (fields: {', '.join(FIELDS)})"
            )
        if value is not None:
            card[name] = str(value)
    return card


def _from_markdown(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {"summary": []}
    current: str | None = "summary"
    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            current = HEADINGS.get(match.group(1).strip().lower().rstrip(":"))
            if current is not None:
                sections.setdefault(current, [])
            continue
        if current is not None:
            if current == "summary" and line.startswith("# "):
                continue  # the title is the model's name, not its summary
            sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items() if "\n".join(v).strip()}
