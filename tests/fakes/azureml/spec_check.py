"""Checks requests and responses against the Azure ML REST spec (``spec/``).

Swagger 2.0 is not JSON Schema: ``allOf`` means inheritance (a child's
``additionalProperties: false`` admits its parents' properties), ``x-nullable``
admits ``null``, and ``$ref`` siblings matter. So each definition is translated
once into a draft-4 schema with ``allOf`` flattened, and ``jsonschema`` validates
against that. Path and query parameters are checked against the operation's
``parameters`` (required, pattern, type, enum); a query parameter the operation
does not declare is a violation too, because a fake that accepts anything cannot
catch a client that sends what Azure would reject or ignore.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema

SPEC_DIR = Path(__file__).parent / "spec"
MAIN = "mfe-models.json"
# The external files mfe.json's refs name, and the local files that hold what is kept of them.
REF_FILES = {
    "types.json": "common-types-v3-types.json",
    "machineLearningServices.json": "parameters.json",
    "registries.json": "parameters.json",
}
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    spec: dict[str, Any]
    path_params: dict[str, str]


class SpecChecker:
    def __init__(self, spec_dir: Path = SPEC_DIR):
        self._files = {
            name: json.loads((spec_dir / name).read_text(encoding="utf-8"))
            for name in {MAIN, *REF_FILES.values()}
        }
        self._schemas: dict[str, Any] = {}
        self._routes: list[tuple[re.Pattern[str], str, str]] = []
        for template, item in self._files[MAIN]["paths"].items():
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            for method in item:
                self._routes.append((re.compile(f"^{regex}$", re.IGNORECASE), method.upper(), template))

    # --- lookups -------------------------------------------------------------

    def operation(self, method: str, path: str) -> Operation | None:
        for regex, route_method, template in self._routes:
            match = regex.match(path)
            if match and route_method == method.upper():
                spec = self._files[MAIN]["paths"][template][method.lower()]
                return Operation(spec["operationId"], method.upper(), template, spec, match.groupdict())
        return None

    def _resolve(self, ref: str, base: str) -> tuple[str, str, Any]:
        """(file, json pointer, node) of a ``$ref`` written in file ``base``."""
        target, _, pointer = ref.partition("#")
        file = REF_FILES[target.rsplit("/", 1)[-1]] if target else base
        node: Any = self._files[file]
        for part in pointer.strip("/").split("/"):
            node = node[part]
        return file, pointer, node

    def _parameters(self, operation: Operation) -> list[dict[str, Any]]:
        params = []
        for param in operation.spec.get("parameters", []):
            if "$ref" in param:
                param = self._resolve(param["$ref"], MAIN)[2]
            params.append(param)
        return params

    # --- JSON Schema translation ----------------------------------------------

    def schema_for(self, ref: str, base: str = MAIN) -> dict[str, Any]:
        """A standalone draft-4 schema for a definition (its dependencies inlined
        under ``definitions``)."""
        key = self._define(ref, base)
        return {"$ref": f"#/definitions/{key}", "definitions": self._schemas}

    def _define(self, ref: str, base: str) -> str:
        file, pointer, node = self._resolve(ref, base)
        key = f"{file}:{pointer}".replace("/", ".")
        if key not in self._schemas:
            self._schemas[key] = {}  # placeholder: definitions may be recursive (ErrorDetail)
            self._schemas[key] = self._translate(node, file)
        return key

    def _translate(self, node: Mapping[str, Any], file: str) -> dict[str, Any]:
        if "$ref" in node:
            schema: dict[str, Any] = {"$ref": f"#/definitions/{self._define(node['$ref'], file)}"}
            return {"anyOf": [schema, {"type": "null"}]} if node.get("x-nullable") else schema
        out: dict[str, Any] = {}
        properties, required = self._flatten(node, file)
        if properties:
            out["properties"] = {name: self._translate(prop, file) for name, prop in properties.items()}
        if required:
            out["required"] = sorted(required)
        for keyword in ("type", "format", "pattern", "enum", "minLength", "maxLength", "minimum", "maximum"):
            if keyword in node:
                out[keyword] = node[keyword]
        if properties and "type" not in out:
            out["type"] = "object"
        if "items" in node:
            out["items"] = self._translate(node["items"], file)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out["additionalProperties"] = self._translate(extra, file)
        elif extra is False:
            out["additionalProperties"] = False
        if node.get("x-nullable"):
            if "type" in out:
                out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out

    def _flatten(self, node: Mapping[str, Any], file: str) -> tuple[dict[str, Any], set[str]]:
        """Own and inherited (``allOf``) properties and required names."""
        properties: dict[str, Any] = {}
        required: set[str] = set()
        for parent in node.get("allOf", ()):
            parent_file, parent_node = file, parent
            if "$ref" in parent:
                parent_file, _, parent_node = self._resolve(parent["$ref"], file)
            inherited, needed = self._flatten(parent_node, parent_file)
            # A parent's property schemas are written relative to the parent's file.
            properties.update({k: _anchor(v, parent_file, file) for k, v in inherited.items()})
            required |= needed
        properties.update(node.get("properties", {}))
        required |= set(node.get("required", ()))
        return properties, required

    # --- checks ----------------------------------------------------------------

    def check_request(
        self, method: str, path: str, query: Mapping[str, list[str]], body: Any
    ) -> tuple[Operation | None, list[str]]:
        operation = self.operation(method, path)
        if operation is None:
            return None, [f"{method} {path}: no such operation in the spec"]
        where = f"{operation.operation_id} request"
        problems: list[str] = []
        declared: set[str] = set()
        for param in self._parameters(operation):
            name, location = param["name"], param["in"]
            if location == "path":
                value = operation.path_params.get(name)
                problems += _check_value(f"{where}: path {name}", value, param)
            elif location == "query":
                declared.add(name)
                values = query.get(name)
                if not values:
                    if param.get("required"):
                        problems.append(f"{where}: query parameter {name} is required")
                    continue
                if len(values) > 1:
                    problems.append(f"{where}: query parameter {name} given {len(values)} times")
                problems += _check_value(f"{where}: query {name}", values[0], param)
            elif location == "body":
                if body is None:
                    if param.get("required"):
                        problems.append(f"{where}: a JSON body is required")
                    continue
                problems += self._validate(f"{where} body", body, param["schema"]["$ref"])
        for name in query:
            if name not in declared:
                problems.append(f"{where}: query parameter {name!r} is not in the operation's parameters")
        return operation, problems

    def check_response(
        self, operation: Operation, status: int, body: Any, headers: Mapping[str, str]
    ) -> list[str]:
        responses = operation.spec["responses"]
        response = responses.get(str(status)) or responses.get("default")
        where = f"{operation.operation_id} response {status}"
        if response is None:
            return [f"{where}: status not in the spec"]
        problems = []
        if "schema" in response:
            problems += self._validate(where, body, response["schema"]["$ref"])
        for name in response.get("headers", {}):
            if name.lower() in {"azure-asyncoperation", "location"} and name.lower() not in {
                h.lower() for h in headers
            }:
                problems.append(f"{where}: header {name} missing")
        return problems

    def _validate(self, where: str, value: Any, ref: str) -> list[str]:
        validator = jsonschema.Draft4Validator(self.schema_for(ref), format_checker=FORMATS)
        return [
            f"{where}: {'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in validator.iter_errors(value)
        ]


def _anchor(node: Any, from_file: str, to_file: str) -> Any:
    """Rewrite relative ``$ref``s of an inherited property so they resolve from ``to_file``."""
    if from_file == to_file or not isinstance(node, dict):
        return node
    out = dict(node)
    if "$ref" in out and out["$ref"].startswith("#"):
        back = next(k for k, v in REF_FILES.items() if v == from_file)
        out["$ref"] = f"{back}{out['$ref']}"
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _anchor(out[key], from_file, to_file)
    return out


def _check_value(where: str, value: str | None, param: Mapping[str, Any]) -> list[str]:
    if value is None:
        return [f"{where} is missing"] if param.get("required") else []
    problems = []
    kind = param.get("type")
    if kind == "integer":
        try:
            int(value)
        except ValueError:
            return [f"{where}: {value!r} is not an integer"]
    if kind == "boolean" and value not in ("true", "false"):
        problems.append(f"{where}: {value!r} is not a boolean")
    if "enum" in param and value not in param["enum"]:
        problems.append(f"{where}: {value!r} is not one of {param['enum']}")
    if "pattern" in param and not re.search(param["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {param['pattern']}")
    if "minLength" in param and len(value) < param["minLength"]:
        problems.append(f"{where}: shorter than {param['minLength']}")
    if "maxLength" in param and len(value) > param["maxLength"]:
        problems.append(f"{where}: longer than {param['maxLength']}")
    return problems
