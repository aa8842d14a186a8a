"""Every module of ``gateway/`` and ``adapters/`` has a test that imports it (as
starlette keeps one test module per source module): a module test proves the
module works and runs in milliseconds, where an integration suite only proves
the product does.

A test "imports" a module when it names it (``import m``, ``from m import x``,
``from package import m``) or imports, through a package's re-exports, a name
that module defines (``from adapters.gto import GtoAdapterFactory``). A package
counts when any of its modules does."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

# Modules with nothing of their own to test, each with why.
UNTESTED = {
    "gateway.cli.__main__": "two lines that call gateway.cli.main (run by the CLI tests' subprocesses)",
}


def source_modules() -> list[str]:
    found = []
    for package in ("gateway", "adapters"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:  # alembic's scripts, run by the store's tests
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append(".".join(parts))
    return found


def _imported_by(tree: ast.AST, modules: set[str]) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            if node.module.split(".")[0] not in ("gateway", "adapters"):
                continue
            package = importlib.import_module(node.module)
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:
                    yield f"{node.module}.{alias.name}"
                else:  # a re-exported name: the module that defines it
                    yield getattr(getattr(package, alias.name, None), "__module__", None) or node.module


def modules_imported_by_tests(modules: set[str]) -> set[str]:
    imported: set[str] = set()
    for path in TESTS.rglob("*.py"):
        imported.update(_imported_by(ast.parse(path.read_text()), modules))
    return imported


def test_every_module_has_a_test_that_imports_it() -> None:
    modules = source_modules()
    imported = modules_imported_by_tests(set(modules))
    untested = [
        m
        for m in modules
        if m not in imported and not any(i.startswith(f"{m}.") for i in imported) and m not in UNTESTED
    ]
    assert untested == [], f"modules no test imports (write one, or say why in UNTESTED): {untested}"


def test_the_allow_list_names_only_real_unmodules_imported_by_tests() -> None:
    modules = source_modules()
    imported = modules_imported_by_tests(set(modules))
    stale = [m for m in UNTESTED if m not in modules or m in imported]
    assert stale == [], f"UNTESTED names modules that are gone or now tested: {stale}"
