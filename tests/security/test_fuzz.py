"""Property-based fuzzing of /graphql: queries generated from the schema (random
selections, aliases, arguments of the right and the wrong types, huge numbers,
deep nesting), raw garbage and odd JSON bodies. Whatever arrives, the answer is
a coded 200/400/413, never a 500, a traceback or a masked internal error."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    Undefined,
    get_named_type,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.protocol import RegistrationRequest
from gateway.api.schema import schema
from gateway.domain import DatasetRef, ModelVersion
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.support import make_settings

GRAPHQL = schema._schema
URIS = [
    "mg://platform/fraud",
    "mg://platform/fraud/1",
    "mg://research/ranker/1",
    "mg://x/y/z/w",
    "s3://data/train",
]
ALLOWED_STATUS = {200, 400, 401, 413}


@pytest.fixture(scope="module")
def app_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[asyncio.Runner, httpx.AsyncClient]]:
    """One gateway for every example, on a loop of its own (hypothesis drives a sync test)."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    runner = asyncio.Runner()
    gw: Gateway = runner.run(Gateway.open(make_settings(f"sqlite:///{tmp}/modelgate.db", tmp)))

    async def seed() -> None:
        for model, registry in (("fraud", "platform"), ("ranker", "research")):
            v = ModelVersion(
                registry, model, "0", artifact_uri=f"s3://m/{model}",
                training_data=(DatasetRef("s3://data/train", role="training"),),
                parent="mg://platform/fraud/1" if model == "ranker" else None,
            )  # fmt: skip
            await gw.register_version(registry, RegistrationRequest(model, v, "seed"))

    runner.run(seed())
    app = create_app(gw.settings, gateway=gw, background_sync=False)
    lifespan = app.router.lifespan_context(app)  # entered by hand: it must outlive one run()
    runner.run(lifespan.__aenter__())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fuzz")
    try:
        yield runner, client
    finally:
        runner.run(client.aclose())
        runner.run(lifespan.__aexit__(None, None, None))
        runner.run(gw.aclose())
        runner.close()


# --- documents from the schema ------------------------------------------------------------


def _string(value: str) -> str:
    return json.dumps(value)


def value_for(data: st.DataObject, tp: GraphQLInputType, budget: int = 3) -> str:
    """A GraphQL literal for ``tp``: usually well-typed, sometimes deliberately not."""
    if data.draw(st.integers(0, 9)) == 0:  # the wrong type, or null
        return data.draw(st.sampled_from(["null", "42", '"text"', "true", "[1, 2]", "{a: 1}", "-1", "1e308"]))
    if isinstance(tp, GraphQLNonNull):
        return value_for(data, tp.of_type, budget)
    if isinstance(tp, GraphQLList):
        n = data.draw(st.integers(0, 3 if budget > 0 else 0))
        return "[" + ", ".join(value_for(data, tp.of_type, budget - 1) for _ in range(n)) + "]"
    if isinstance(tp, GraphQLEnumType):
        return data.draw(st.sampled_from([*tp.values, "NOT_A_VALUE"]))
    if isinstance(tp, GraphQLInputObjectType):
        if budget <= 0:
            return "{}"
        names = data.draw(st.lists(st.sampled_from(sorted(tp.fields)), max_size=4, unique=True))
        return "{" + ", ".join(f"{n}: {value_for(data, tp.fields[n].type, budget - 1)}" for n in names) + "}"
    assert isinstance(tp, GraphQLScalarType)
    if tp.name == "Int":
        return str(
            data.draw(st.one_of(st.integers(-5, 200), st.sampled_from([2**31 - 1, 2**31, -(2**40), 10**30])))
        )
    if tp.name == "Float":
        return data.draw(st.sampled_from(["0.5", "-1", "1e308", "3"]))
    if tp.name == "Boolean":
        return data.draw(st.sampled_from(["true", "false"]))
    if tp.name in ("String", "ID"):
        return _string(data.draw(st.one_of(st.sampled_from(URIS), st.text(max_size=30))))
    if tp.name == "DateTime":
        return _string(data.draw(st.sampled_from(["2026-01-01T00:00:00Z", "yesterday", "2026-13-45T99:00"])))
    return _string(data.draw(st.text(max_size=10)))


def arguments(data: st.DataObject, field: Any) -> str:
    args = sorted(field.args)
    if not args:
        return ""
    required = [a for a in args if isinstance(field.args[a].type, GraphQLNonNull)]
    chosen = set(required) | set(data.draw(st.lists(st.sampled_from(args), max_size=3, unique=True)))
    if data.draw(st.integers(0, 9)) == 0 and chosen:
        chosen.discard(sorted(chosen)[0])  # a missing required argument, now and then
    if data.draw(st.integers(0, 19)) == 0:
        chosen.add("noSuchArgument")
    parts = []
    for name in sorted(chosen):
        arg = field.args.get(name)
        parts.append(f"{name}: {value_for(data, arg.type) if arg else '1'}")
    return "(" + ", ".join(parts) + ")" if parts else ""


def selection(data: st.DataObject, tp: Any, depth: int) -> str:
    """A selection set on object/interface type ``tp``."""
    if isinstance(tp, GraphQLUnionType):
        options = tp.types
        return (
            "{ __typename "
            + " ".join(f"... on {o.name} {selection(data, o, depth)}" for o in options[:2])
            + " }"
        )
    fields = sorted(tp.fields)
    leafs = [
        f
        for f in fields
        if not isinstance(
            get_named_type(tp.fields[f].type), GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
        )
    ]
    names = data.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4))
    parts = []
    for i, name in enumerate(names):
        field = tp.fields[name]
        alias = (
            f"a{i}_{name}: "
            if data.draw(st.integers(0, 4)) == 0
            else f"a{i}: "
            if names.count(name) > 1
            else ""
        )
        inner = get_named_type(field.type)
        text = f"{alias}{name}{arguments(data, field)}"
        if isinstance(inner, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            if depth <= 0:
                text += " { __typename }"
            else:
                text += " " + selection(data, inner, depth - 1)
        parts.append(text)
    if isinstance(tp, GraphQLInterfaceType) and data.draw(st.booleans()):
        impl = data.draw(st.sampled_from(GRAPHQL.get_possible_types(tp)))
        parts.append(f"... on {impl.name} {selection(data, impl, depth - 1 if depth else 0)}")
    if not parts and leafs:
        parts.append(leafs[0])
    return "{ " + " ".join(parts) + " }"


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    data = draw(st.data())
    kind = draw(st.integers(0, 19))
    if kind == 0:  # raw garbage
        return {"query": draw(st.text(max_size=200))}
    if kind == 1:  # very deep, to meet the depth limit
        depth = draw(st.integers(10, 40))
        return {
            "query": "{ "
            + "models { edges { node { latestVersion { model { " * depth
            + "uri"
            + " } } } } }" * depth
            + " }"
        }
    root = GRAPHQL.mutation_type if kind == 2 else GRAPHQL.query_type
    depth = draw(st.integers(0, 8))
    keyword = "mutation" if root is GRAPHQL.mutation_type else "query"
    body: dict[str, Any] = {"query": f"{keyword} {selection(data, root, depth)}"}
    if draw(st.integers(0, 4)) == 0:  # variables that do not fit (or are not declared)
        body["variables"] = draw(
            st.dictionaries(
                st.text(max_size=5), st.one_of(st.none(), st.integers(), st.text(max_size=5)), max_size=3
            )
        )
    return body


ODD_BODIES = st.one_of(
    st.binary(max_size=100),
    st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.sampled_from(["query", "variables", "operationName", "extensions", "x"]), children, max_size=4)),
        max_leaves=8,
    )),
)  # fmt: skip


def check(response: httpx.Response) -> None:
    text = response.text
    assert response.status_code in ALLOWED_STATUS, (response.status_code, text[:500])
    assert "Traceback" not in text and 'File "' not in text
    body = response.json()
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    assert "INTERNAL_SERVER_ERROR" not in codes, text[:1000]
    assert all(codes), text[:500]  # every error is coded


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(body=documents())
def test_generated_documents(
    app_client: tuple[asyncio.Runner, httpx.AsyncClient], body: dict[str, Any]
) -> None:
    runner, client = app_client
    check(runner.run(client.post("/graphql", json=body)))


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(content=ODD_BODIES)
def test_odd_bodies(app_client: tuple[asyncio.Runner, httpx.AsyncClient], content: bytes) -> None:
    runner, client = app_client
    check(runner.run(client.post("/graphql", content=content, headers={"content-type": "application/json"})))


# --- hostile variables and bodies, with the process's memory watched ------------------------

VARIABLE_QUERIES = [
    "query($q: String) { models(query: $q) { totalCount edges { node { uri } } } }",
    "query($q: String, $n: Int) { versions(query: $q, first: $n) { totalCount } }",
    "query($f: SearchFilter) { models(filter: $f) { totalCount facets { registry { value } } } }",
    "query($s: SortOrder, $a: String) { models(sort: $s, after: $a) { totalCount } }",
    "query($u: String!) { model(uri: $u) { uri } impact(uri: $u) { totalCount } }",
    "query($t: [TagInput!]) { versions(filter: {tags: $t}) { totalCount } }",
]


def nest(depth: int, leaf: Any, as_object: bool) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


HOSTILE_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.sampled_from([2**31, -(2**63), 10**40, 1e308, -0.0, True]),
    st.text(max_size=40),
    st.sampled_from(["NAM", "DRAF", "PRODUCTON", "mg://platform/fraud", "s3://data/train"]),
    st.builds(lambda n, c: c * n, st.integers(200, 300_000), st.sampled_from(["a", "word ", "[", "\\", "é"])),
    # Nested values up to 500 deep (json.dumps here recurses); raw bodies nest far deeper.
    st.builds(nest, st.integers(2, 500), st.sampled_from([1, "x", None]), st.booleans()),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(
                st.sampled_from(["key", "value", "stages", "stage", "registries", "tags", "x"]),
                children,
                max_size=4,
            ),
        ),
        max_leaves=12,
    ),
)


@st.composite
def hostile_bodies(draw: Any) -> tuple[bytes, dict[str, str]]:
    kind = draw(st.integers(0, 4))
    if kind == 0:  # raw nesting, closed or not
        depth = draw(st.integers(20, 30_000))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        body = opener * depth + (draw(st.sampled_from([b"", b"1"])) + b"]" * depth if opener == b"[" else b"")
        return body, {"content-type": "application/json"}
    if kind == 1:  # a long string literal, or many distinct documents
        text = draw(st.sampled_from(["word ", "x", "[{", '\\"']))
        literal = json.dumps(text * draw(st.integers(100, 150_000)))
        return json.dumps({"query": f"{{ models(query: {literal}) {{ totalCount }} }}"}).encode(), {
            "content-type": "application/json"
        }
    query = draw(st.sampled_from(VARIABLE_QUERIES))
    names = [n for n in ("q", "n", "f", "s", "a", "u", "t") if f"${n}" in query]
    variables = {n: draw(HOSTILE_VALUES) for n in names}
    body: dict[str, Any] = {"query": query, "variables": variables}
    if draw(st.integers(0, 4)) == 0:
        body["operationName"] = draw(st.text(min_size=1, max_size=100))
    return json.dumps(body).encode(), {"content-type": "application/json"}


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_hostile_variables_and_bodies_keep_memory_bounded(
    app_client: tuple[asyncio.Runner, httpx.AsyncClient],
) -> None:
    runner, client = app_client
    before = rss_bytes()

    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(request=hostile_bodies())
    def hostile(request: tuple[bytes, dict[str, str]]) -> None:
        content, headers = request
        response = runner.run(client.post("/graphql", content=content, headers=headers))
        check(response)

    hostile()
    # The app runs in this process: its caches, labels and buffers are what grew, if anything.
    assert rss_bytes() - before < 100 * 1024 * 1024


# --- every DateTime argument and every cursor, found in the schema ---------------------------


@dataclass(frozen=True)
class Site:
    """Where an argument sits: the fields from a root type down to the field that takes
    it (each with the type condition, if any, that reaches it)."""

    keyword: str
    path: tuple[tuple[str | None, str, GraphQLField], ...]  # (type condition, name, field)
    argument: str

    @property
    def type(self) -> GraphQLInputType:
        return self.path[-1][2].args[self.argument].type

    def document(self, value: str, variable: str = "") -> str:
        inner = ""
        for i, (condition, name, field) in reversed(list(enumerate(self.path))):
            last = i == len(self.path) - 1
            given = {a: filler(name, a, arg.type) for a, arg in field.args.items() if _required(arg)}
            if last:
                given[self.argument] = value
            args = "(" + ", ".join(f"{a}: {v}" for a, v in sorted(given.items())) + ")" if given else ""
            composite = isinstance(
                get_named_type(field.type), GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
            )
            selection_text = f" {{ {inner or '__typename'} }}" if composite else ""
            text = f"{name}{args}{selection_text}"
            inner = f"... on {condition} {{ {text} }}" if condition else text
        return f"{self.keyword}{variable} {{ {inner} }}"


def _required(arg: GraphQLArgument) -> bool:
    return isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined


def filler(field: str, name: str, tp: GraphQLInputType) -> str:
    """A valid value for a required argument on the way to a site (a seeded URI for URIs)."""
    named = get_named_type(tp)
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    if isinstance(named, GraphQLInputObjectType):
        return "{}"
    return {
        "Int": "1",
        "Float": "1",
        "Boolean": "true",
        "DateTime": '"2026-01-01T00:00:00Z"',
    }.get(named.name, '"mg://platform/fraud"' if "uri" in name.lower() else '"x"')


def argument_sites(wanted: Callable[[str, GraphQLArgument], bool]) -> list[Site]:
    """Every argument of the schema that ``wanted`` picks, each reached by the shortest
    path from Query (or Mutation, for what only a mutation reaches)."""
    paths: dict[str, tuple[str, tuple[tuple[str | None, str, GraphQLField], ...]]] = {}
    queue: deque[Any] = deque()
    for keyword, root in (("query", GRAPHQL.query_type), ("mutation", GRAPHQL.mutation_type)):
        paths[root.name] = (keyword, ())
        queue.append(root)
    sites = []
    while queue:
        tp = queue.popleft()
        keyword, path = paths[tp.name]
        for name, field in tp.fields.items():
            condition = tp.name if path and get_named_type(path[-1][2].type).name != tp.name else None
            here = (*path, (condition, name, field))
            sites += [Site(keyword, here, a) for a, arg in field.args.items() if wanted(a, arg)]
            inner = get_named_type(field.type)
            reached = (
                inner.types
                if isinstance(inner, GraphQLUnionType)
                else [inner]
                if isinstance(inner, GraphQLObjectType | GraphQLInterfaceType)
                else []
            )
            for target in reached:
                if target.name not in paths:
                    paths[target.name] = (keyword, here)
                    queue.append(target)
    return sites


DATETIME_SITES = argument_sites(lambda _name, arg: get_named_type(arg.type).name == "DateTime")
CURSOR_SITES = argument_sites(lambda name, arg: name == "after" and get_named_type(arg.type).name == "String")


def test_the_sites_are_found_in_the_schema() -> None:
    """The enumeration finds what the schema has today (and anything added later)."""
    datetime_sites = {(s.path[-1][1], s.argument) for s in DATETIME_SITES}
    assert {
        ("auditEvents", "since"),
        ("auditEvents", "until"),
        ("rollback", "asOf"),
        ("versions", "asOf"),
    } <= datetime_sites
    cursor_fields = {".".join(p[1] for p in s.path) for s in CURSOR_SITES}
    assert {
        "models",
        "versions",
        "auditEvents",
        "complianceReport.violations",
        "model.versions",
    } <= cursor_fields


def coded_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The errors' extensions, less the notes that the fixture's registries are still
    SYNCING (its gateway never syncs)."""
    check(response)
    errors = [e["extensions"] for e in response.json().get("errors") or []]
    return [e for e in errors if e["code"] != "REGISTRY_UNAVAILABLE"]


NAIVE_TIMES = st.datetimes().map(lambda d: d.isoformat())
BAD_TIMES = st.one_of(
    NAIVE_TIMES,
    st.sampled_from(["2026-01-01T00:00:00", "2026-01-01", "yesterday", "", "2026-13-45T99:00Z", "1e308"]),
    st.text(max_size=30),
    st.integers(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "at"]), st.integers(), min_size=1, max_size=2),
    st.booleans(),
)


def literal(value: Any) -> str:
    """``value`` as a GraphQL literal."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return json.dumps(value)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(site=st.sampled_from(DATETIME_SITES), value=BAD_TIMES, as_variable=st.booleans())
@example(
    site=next(s for s in DATETIME_SITES if s.argument == "since"),
    value="2026-01-01T00:00:00",
    as_variable=False,
)
def test_every_datetime_argument_refuses_a_bad_time_naming_it(
    app_client: tuple[asyncio.Runner, httpx.AsyncClient], site: Site, value: Any, as_variable: bool
) -> None:
    """A time without a zone, or not a time, in any DateTime argument: BAD_USER_INPUT
    naming the argument (or, given as a variable, the variable), before anything runs."""
    runner, client = app_client
    if as_variable:
        body = {"query": site.document("$t", f"($t: {site.type})"), "variables": {"t": value}}
    else:
        body = {"query": site.document(literal(value))}
    errors = coded_errors(runner.run(client.post("/graphql", json=body)))
    assert errors and all(e["code"] == "BAD_USER_INPUT" for e in errors), (body, errors)
    assert {e.get("field") for e in errors} == {"t" if as_variable else site.argument}, (body, errors)


def _token(state: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


CURSOR_KEYS = ["seq", "name", "order", "uri", "policy", "updated", "rank"]
CURSOR_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 0.5, "x", "mg://platform/fraud"]),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(CURSOR_KEYS), st.integers(), max_size=2),
)
TAMPERED_CURSORS = st.one_of(
    st.builds(_token, CURSOR_LEAVES),  # a list, null, a number, a string
    st.builds(_token, st.dictionaries(st.sampled_from(CURSOR_KEYS), CURSOR_LEAVES, max_size=4)),
    st.text(max_size=40),  # garbage base64
    st.builds(lambda n: base64.urlsafe_b64encode(b"[" * n).decode(), st.integers(1, 100_000)),
)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(site=st.sampled_from(CURSOR_SITES), cursor=TAMPERED_CURSORS)
@example(site=next(s for s in CURSOR_SITES if s.path[-1][1] == "auditEvents"), cursor=_token({"seq": 1e308}))
@example(site=CURSOR_SITES[0], cursor=_token({"name": [1], "uri": {}}))
@example(site=CURSOR_SITES[0], cursor=base64.urlsafe_b64encode(b"[" * 100_000).decode())
def test_every_cursor_argument_refuses_a_tampered_cursor(
    app_client: tuple[asyncio.Runner, httpx.AsyncClient], site: Site, cursor: str
) -> None:
    """A cursor the gateway did not make: a page (if it happens to fit) or BAD_USER_INPUT
    naming ``after``, never INTERNAL_SERVER_ERROR."""
    runner, client = app_client
    body = {"query": site.document(json.dumps(cursor))}
    errors = coded_errors(runner.run(client.post("/graphql", json=body)))
    assert all(e["code"] == "BAD_USER_INPUT" and e.get("field") == "after" for e in errors), (body, errors)


@pytest.mark.parametrize("site", CURSOR_SITES, ids=lambda s: ".".join(p[1] for p in s.path))
def test_every_cursor_site_is_reached(
    app_client: tuple[asyncio.Runner, httpx.AsyncClient], site: Site
) -> None:
    """Each generated document does reach its cursor (else the fuzzing above proves nothing)."""
    runner, client = app_client
    errors = coded_errors(runner.run(client.post("/graphql", json={"query": site.document('"%%%"')})))
    assert [(e["code"], e.get("field")) for e in errors] == [("BAD_USER_INPUT", "after")]
