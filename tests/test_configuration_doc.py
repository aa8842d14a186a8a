"""docs/configuration.md against the config model: every key of every section,
of ``[[auth.api_keys]]`` and ``[[auth.workload_issuers]]`` (and their rules), of ``[[registries]]`` and of each installed registry
kind's options is documented with the type and default the code has; no key
is documented that the code does not know; every ``MODELGATE_*`` variable the
code reads is listed; the TOML examples load.

Print the rows the code implies (to start a new kind's table) with
``python -m tests.test_configuration_doc``.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import tomllib
import types
import typing
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from gateway.config import (
    REGISTRY_COMMON_KEYS,
    ApiKeySettings,
    RegistrySettings,
    Settings,
    WorkloadIssuerSettings,
    WorkloadRuleSettings,
    parse_section,
    settings_from_mapping,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"
ROW = re.compile(r"^\| `([a-z0-9_]+)` \| ([^|]+) \| ([^|]+) \|")
# The table a heading introduces: its first backticked span ([server], kind = "mlflow", ...).
HEADING = re.compile(r"^#{2,4} .*?`([^`]+)`")
ENV_VAR = re.compile(r"\bMODELGATE_[A-Z_]+\b")


def _type_text(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type_text(inner)
    if origin in (list, tuple):
        return f"list of {_type_text(typing.get_args(tp)[0])}s"
    if origin is dict:
        return f"table of {_type_text(typing.get_args(tp)[1])}s"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}[tp]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        return "—" if f.default is None else f"`{_toml(f.default)}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{_toml(f.default_factory())}`"
    return "required"


def rows_of(cls: type, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """key -> (type, default) as the documentation spells them."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: (_type_text(hints[f.name]), _default_text(f))
        for f in dataclasses.fields(cls)
        if f.name not in skip
    }


def kind_options() -> dict[str, type]:
    """The options dataclass of every installed registry kind (the entry points):
    the ``*Options`` dataclass of its ``options`` module, or of its package."""
    found: dict[str, type] = {}
    for ep in entry_points(group="modelgate.adapters"):
        package = ep.value.split(":")[0]
        for name in (f"{package}.options", package):
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError:
                continue
            classes = [
                v
                for k, v in vars(module).items()
                if k.endswith("Options") and dataclasses.is_dataclass(v) and v.__module__ == module.__name__
            ]
            if classes:
                found[ep.name] = classes[0]
                break
        else:  # a kind whose keys cannot be found cannot be checked: say so
            raise AssertionError(f"no *Options dataclass for registry kind {ep.name!r} in {package}")
    return found


def expected_tables() -> dict[str, dict[str, tuple[str, str]]]:
    """Every documented table's rows, by the table's heading token."""
    hints = typing.get_type_hints(Settings)
    tables = {
        # [auth] api_keys and workload_issuers are tables of their own, [[auth.api_keys]] ...
        f"[{f.name}]": rows_of(hints[f.name], skip=("api_keys", "workload_issuers"))
        for f in dataclasses.fields(Settings)
        if dataclasses.is_dataclass(hints[f.name])
    }
    tables["[[auth.api_keys]]"] = rows_of(ApiKeySettings)
    tables["[[auth.workload_issuers]]"] = rows_of(WorkloadIssuerSettings, skip=("rules",))
    tables["[[auth.workload_issuers.rules]]"] = rows_of(WorkloadRuleSettings)
    tables["[[registries]]"] = rows_of(RegistrySettings, skip=("options", "key"))
    for kind, options in kind_options().items():
        tables[f'kind = "{kind}"'] = rows_of(options)
    return tables


def documented_tables(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        if heading := HEADING.match(line):
            current = heading.group(1)
        elif (row := ROW.match(line)) and current is not None:
            key, type_text, default = (part.strip() for part in row.groups())
            tables.setdefault(current, {})[key] = (type_text, default)
    return tables


def test_every_config_key_is_documented_with_its_type_and_default() -> None:
    documented = documented_tables(DOC.read_text())
    problems: list[str] = []
    for table, rows in expected_tables().items():
        have = documented.get(table, {})
        for key, (type_text, default) in rows.items():
            if key not in have:
                problems.append(f"{table} {key}: not documented (type {type_text}, default {default})")
            elif have[key] != (type_text, default):
                problems.append(
                    f"{table} {key}: documented as {have[key]}, the code has {(type_text, default)}"
                )
        problems += [f"{table} {key}: documented but not a key" for key in sorted(set(have) - set(rows))]
    assert not problems, "docs/configuration.md is out of step with the code:\n" + "\n".join(problems)


def test_the_check_sees_an_undocumented_key() -> None:
    documented = documented_tables(DOC.read_text())
    del documented["[server]"]["port"]
    expected = expected_tables()
    assert "port" in expected["[server]"] and "port" not in documented["[server]"]


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    text = DOC.read_text()
    sources = [*(ROOT / "gateway").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]
    named = {v for path in sources for v in ENV_VAR.findall(path.read_text())}
    # MODELGATE_<SECTION>_<KEY> overrides: the doc states the rule once, not each name.
    overrides = {
        f"MODELGATE_{table.strip('[]')}_{key}".upper()
        for table, rows in expected_tables().items()
        if table.startswith("[") and not table.startswith("[[")
        for key in rows
    }
    assert "`MODELGATE_<SECTION>_<KEY>`" in text
    assert not sorted(v for v in named - overrides - {"MODELGATE_"} if f"`{v}`" not in text)


def examples() -> Iterator[str]:
    text = DOC.read_text()
    yield from re.findall(r"```toml\n(.*?)```", text, re.DOTALL)


@pytest.mark.parametrize("example", list(examples()))
def test_documented_examples_load(example: str) -> None:
    raw = tomllib.loads(example)
    settings = settings_from_mapping({"registries": [], **raw}, environ={})
    options = kind_options()
    for registry in settings.registries:
        if registry.kind in options:
            parse_section(
                options[registry.kind], registry.options, registry.key, also_known=REGISTRY_COMMON_KEYS
            )


if __name__ == "__main__":  # print the rows the code implies
    for table, rows in expected_tables().items():
        print(f"\n{table}\n| key | type | default | meaning |\n|---|---|---|---|")
        for key, (type_text, default) in rows.items():
            print(f"| `{key}` | {type_text} | {default} | |")
