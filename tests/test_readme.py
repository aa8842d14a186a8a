"""The README stays a front page: short, its two commands exactly what CI and the
demo tests run, a page for every registry kind, and links that resolve."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
DEMO = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[demo]' && .venv/bin/modelgate demo"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_it_is_short() -> None:
    assert len(README.splitlines()) <= 250


def test_its_test_command_is_the_one_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    command = ci[-1]  # .ci/run ends with the README's test command, verbatim
    assert command.startswith("python3 -m venv .venv && ")
    assert f"```sh\n{command}\n```" in README


def test_its_demo_command_is_there_verbatim() -> None:
    assert f"```sh\n{DEMO}\n```" in README


def test_every_registry_kind_has_a_row_and_a_page() -> None:
    kinds = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][
        "modelgate.adapters"
    ]
    for kind in kinds:
        (row,) = [line for line in README.splitlines() if line.startswith(f"| `{kind}` |")]
        (page,) = LINK.findall(row)
        assert page.startswith("docs/registries/") and (REPO / page).is_file(), row


def test_every_relative_link_resolves() -> None:
    for target in LINK.findall(README):
        if "://" in target:
            continue
        assert (REPO / target.split("#")[0]).exists(), target
