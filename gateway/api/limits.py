"""Limits on what one GraphQL request may ask for, enforced before any resolver runs.

The knobs are the ``[graphql]`` section of the config (``GraphQLSettings``):

``max_tokens`` (5000)
    lexical tokens (and, separately, comments) in a document; enforced by
    graphql-core's parser while it reads, so a huge document costs no more than
    reading that many tokens.
``max_depth`` (12)
    nesting of field selections, fragments expanded. Introspection fields
    (``__schema``, ``__type``) do not count: their depth is bounded by the
    schema, and GraphiQL's own introspection query is deep.
``max_aliases`` (30)
    aliased fields in the document (alias floods repeat an expensive field).
``max_cost`` (50000)
    an estimate of the fields the query resolves: every field costs one per
    time it resolves, and a field with a ``first`` argument multiplies what is
    under it by the requested page size (or the argument's default). Fragments
    are costed once and multiplied, so a "fragment bomb" is refused in linear time.
``max_page_size`` (100)
    the largest ``first`` of a catalogue connection (``check_page_size``).
``timeout_seconds`` (10)
    execution deadline of an operation, query or mutation; past it the answer is
    a ``TIMEOUT`` error. A mutation's write (a root field's resolver) is never
    cut half-way, which would leave its caller not knowing whether it applied:
    the deadline waits for a write that has begun, no write begins past it, and
    a mutation's ``TIMEOUT`` lists in ``extensions.applied`` the fields (response
    keys) whose writes applied. The selections under them are bounded like a
    query's (``guard_mutations``).
``introspection`` (true)
    false refuses ``__schema``/``__type`` and drops the "Did you mean ...?"
    suggestions from validation errors, which would leak the schema anyway.
``max_body_bytes`` (1 MiB)
    enforced by the server before the body is parsed (HTTP 413).
``max_json_depth`` (32)
    nesting of the JSON body, measured before it is decoded (HTTP 400
    ``BAD_REQUEST``; ``gateway.http_budgets``).
``max_search_chars`` (256), ``max_search_terms`` (16)
    a catalogue search string (``models(query:)``, ``versions(query:)``), checked
    before the search runs (``BAD_USER_INPUT``, ``check_search_query``): the token
    limit counts a string literal or a variable as one token whatever its size.
``cache_bytes`` (32 MiB)
    the parse and validation cache, weighed in estimated bytes
    (``gateway.api.document_cache``).

A refused document gets ``extensions.code = "QUERY_TOO_COMPLEX"`` with
``limit`` (which one), ``maximum`` and ``actual``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NoReturn

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLFieldResolver,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValuesOfCorrectTypeRule,
    VariableNode,
    default_field_resolver,
    get_named_type,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from gateway.api.document_cache import CachedDocument, DocumentCache, Shape
from gateway.api.input_values import ArgumentValuesRule
from gateway.catalogue.search import search_terms
from gateway.config import GraphQLSettings
from gateway.errors import BadInput, GatewayError

LIMIT_CODE = "QUERY_TOO_COMPLEX"

# The largest ``first`` a catalogue connection accepts in this request (``check_page_size``).
max_page_size: ContextVar[int] = ContextVar("max_page_size", default=GraphQLSettings().max_page_size)
# The search-string budget of this request: (max_search_chars, max_search_terms).
search_budget: ContextVar[tuple[int, int]] = ContextVar(
    "search_budget", default=(GraphQLSettings().max_search_chars, GraphQLSettings().max_search_terms)
)


class QueryTimeout(GatewayError):
    """The operation ran past ``[graphql] timeout_seconds``."""

    code = "TIMEOUT"


@dataclass
class Deadline:
    """The running request's deadline, and the mutation fields whose writes applied under it."""

    timeout: asyncio.Timeout
    mutation: bool = False
    applied: list[str] = field(default_factory=list)

    def passed(self) -> bool:
        when = self.timeout.when()
        return self.timeout.expired() or (when is not None and when <= asyncio.get_running_loop().time())

    async def expire(self) -> NoReturn:
        """End the operation now, as the deadline does: ``TimeoutError`` at ``deadline``."""
        if not self.timeout.expired():
            self.timeout.reschedule(asyncio.get_running_loop().time())
        await asyncio.get_running_loop().create_future()  # cancelled by the timeout at once
        raise AssertionError("unreachable: the deadline cancels the wait")

    def error(self, seconds: float) -> QueryTimeout:
        if not self.mutation:
            return QueryTimeout(f"the query did not finish within {seconds:g}s; ask for less")
        done = (
            f"the writes of {', '.join(self.applied)} applied (each whole): query them for their result"
            if self.applied
            else "none of its writes applied"
        )
        return QueryTimeout(
            f"the mutation did not finish within {seconds:g}s; {done}", applied=list(self.applied)
        )


# The running request's deadline (``deadline``).
current_deadline: ContextVar[Deadline | None] = ContextVar("current_deadline", default=None)


def guard_mutations(schema: GraphQLSchema) -> None:
    """Put every root mutation field's resolver under ``_whole_write``: the rule holds
    for each mutation the schema has, present and future."""
    if schema.mutation_type is not None:
        for definition in schema.mutation_type.fields.values():
            definition.resolve = _whole_write(definition.resolve or default_field_resolver)


def _whole_write(resolve: GraphQLFieldResolver) -> GraphQLFieldResolver:
    """A write under the deadline: it does not begin once the deadline has passed,
    the deadline waits for it to end once begun, and it is recorded as applied.
    Mutation fields run one after another, so one write at a time holds the deadline."""

    async def write(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        current = current_deadline.get()
        if current is None:  # executed outside the endpoint (no deadline)
            result = resolve(root, info, **args)
            return await result if inspect.isawaitable(result) else result
        if current.passed():
            await current.expire()
        when = current.timeout.when()
        current.timeout.reschedule(None)
        try:
            result = resolve(root, info, **args)
            if inspect.isawaitable(result):
                result = await result
        finally:
            if not current.timeout.expired():
                current.timeout.reschedule(when)
        current.applied.append(str(info.path.key))
        if current.passed():  # the write ended past the deadline: its selection is not read
            await current.expire()
        return result

    return write


def check_search_query(query: str | None) -> str | None:
    """``query`` if within ``[graphql] max_search_chars`` and, as the index tokenises
    it, ``max_search_terms``; else ``BadInput``. Every term is a prefix scan of the
    full-text index: a 900 KB string was seconds of CPU, and the document's token
    limit counts a string (or a variable) as one token whatever its size."""
    if query is None:
        return None
    max_chars, max_terms = search_budget.get()
    if len(query) > max_chars:
        raise BadInput(
            f"search string is {len(query)} characters, more than {max_chars}: search for fewer words",
            field="query",
        )
    if len(terms := search_terms(query)) > max_terms:
        raise BadInput(f"search has {len(terms)} words, more than {max_terms}", field="query")
    return query


def limit_error(limit: str, maximum: int, actual: int, message: str) -> GraphQLError:
    """A coded GraphQL error for a refused document."""
    return GraphQLError(
        message, extensions={"code": LIMIT_CODE, "limit": limit, "maximum": maximum, "actual": actual}
    )


# --- measuring a document -----------------------------------------------------------


class _Measure:
    """Depth and cost of a document in one linear pass (fragments memoised)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]):
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._fragment_memo: dict[str, tuple[int, int]] = {}
        self._visiting: set[str] = set()

    def operation(self, op: OperationDefinitionNode) -> tuple[int, int]:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[op.operation]
        return self.selections(op.selection_set, root)

    def selections(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> tuple[int, int]:
        """(depth, unit cost) of a selection set under ``parent``."""
        if selection_set is None:
            return 0, 0
        depth = cost = 0
        for selection in selection_set.selections or ():
            if isinstance(selection, FieldNode):
                d, c = self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition
                d, c = self.selections(
                    selection.selection_set, self.schema.get_type(cond.name.value) if cond else parent
                )
            elif isinstance(selection, FragmentSpreadNode):
                d, c = self.fragment(selection.name.value)
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            depth, cost = max(depth, d), cost + c
        return depth, cost

    def fragment(self, name: str) -> tuple[int, int]:
        if name in self._fragment_memo:
            return self._fragment_memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self._visiting:
            return 0, 0  # unknown or cyclic: validation refuses it with a clear message
        self._visiting.add(name)
        result = self.selections(
            definition.selection_set, self.schema.get_type(definition.type_condition.name.value)
        )
        self._visiting.discard(name)
        self._fragment_memo[name] = result
        return result

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> tuple[int, int]:
        name = node.name.value
        if name.startswith("__"):
            # Introspection: bounded by the schema and switchable off; costs 1, no depth.
            return 0, 1
        definition = self._definition(parent, name)
        child_type = get_named_type(definition.type) if definition else None
        depth, cost = self.selections(node.selection_set, child_type)
        page = self._page(node, definition)
        return 1 + depth, 1 + page * cost

    @staticmethod
    def _definition(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return parent.fields.get(name)
        return None

    def _page(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """How many times what is under this field resolves: its ``first``, else 1."""
        if definition is None or "first" not in definition.args:
            return 1
        value: Any = None
        for arg in node.arguments or ():
            if arg.name.value != "first":
                continue
            if isinstance(arg.value, IntValueNode):
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                value = self.variables.get(arg.value.name.value)
            break
        else:
            value = definition.args["first"].default_value
        if isinstance(value, bool) or not isinstance(value, int):
            return 1  # null, absent or ill-typed: the resolver's default or a validation error
        return max(value, 0)


def measure(schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any] | None) -> Shape:
    """Depth, aliases and estimated cost of ``document`` (the largest of its operations)."""
    m = _Measure(schema, document, variables or {})
    depth = cost = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            d, c = m.operation(definition)
            depth, cost = max(depth, d), max(cost, c)
    return Shape(depth, _count_aliases(document), cost)


def _count_aliases(document: DocumentNode) -> int:
    count = 0
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode) and node.alias is not None:
            count += 1
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections or ())
    return count


def check_shape(shape: Shape, settings: GraphQLSettings) -> GraphQLError | None:
    """The first limit ``shape`` exceeds, as an error; None when it fits."""
    if shape.depth > settings.max_depth:
        return limit_error(
            "depth",
            settings.max_depth,
            shape.depth,
            f"query depth {shape.depth} exceeds {settings.max_depth}",
        )
    if shape.aliases > settings.max_aliases:
        return limit_error(
            "aliases",
            settings.max_aliases,
            shape.aliases,
            f"query uses {shape.aliases} aliases, more than {settings.max_aliases}",
        )
    if shape.cost > settings.max_cost:
        return limit_error(
            "cost",
            settings.max_cost,
            shape.cost,
            f"query cost {shape.cost} exceeds {settings.max_cost}: ask for smaller pages (first) "
            "or fewer nested lists",
        )
    return None


# --- the extension --------------------------------------------------------------------


class GraphQLLimits:
    """Settings plus the parse and validation cache shared by every request (one
    per schema): keyed by query text, bounded in bytes (``cache_bytes``), and
    holding only documents that parsed, so hostile text cannot grow it."""

    def __init__(self, settings: GraphQLSettings):
        self.settings = settings
        self.cache = DocumentCache(settings.cache_bytes)
        # graphql-core's value check, naming the argument of a refused value.
        specified = [ArgumentValuesRule if r is ValuesOfCorrectTypeRule else r for r in specified_rules]
        rules = [*specified, MaybeNullValidationRule, OneOfInputValidationRule]
        if not settings.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules = tuple(rules)

    def prepare(self, query: str) -> CachedDocument:
        """The cached entry of ``query``, parsed (with the token limit) if new. An
        entry too large to keep is returned all the same, for this request only."""
        entry = self.cache.get(query)
        if entry is None:
            try:
                document = parse(
                    query,
                    max_lexical_tokens=self.settings.max_tokens,
                    max_comments=self.settings.max_tokens,
                )
            except GraphQLError as exc:
                if "Parsing aborted" in exc.message and "tokens" in exc.message:
                    raise limit_error(
                        "tokens",
                        self.settings.max_tokens,
                        self.settings.max_tokens + 1,
                        f"query has more than {self.settings.max_tokens} tokens",
                    ) from None
                raise
            entry = self.cache.put(query, document)
        return entry

    def parse(self, query: str) -> DocumentNode:
        return self.prepare(query).document

    @staticmethod
    def shape(schema: GraphQLSchema, entry: CachedDocument, variables: Mapping[str, Any] | None) -> Shape:
        """``measure``, remembered per integer variables (the only ones that can
        change the cost: page sizes)."""
        key = str(sorted((k, v) for k, v in (variables or {}).items() if isinstance(v, int)))
        shape = entry.shape(key)
        if shape is None:
            shape = measure(schema, entry.document, variables)
            entry.remember_shape(key, shape)
        return shape

    def validate(self, schema: GraphQLSchema, entry: CachedDocument) -> list[GraphQLError]:
        if entry.valid:
            return []
        hide = not self.settings.introspection
        errors = validate(schema, entry.document, self.rules, hide_suggestions=hide)
        entry.valid = not errors
        return list(errors)


class RequestLimits(SchemaExtension):
    """Parses with the token limit, refuses deep, alias-heavy or costly documents
    before validating them, validates (cached), and scopes the page-size limit
    and the deadline to the request. Replaces strawberry's ParserCache and
    ValidationCache, whose caches cannot apply these options."""

    def __init__(self, limits: GraphQLLimits):
        super().__init__()
        self.limits = limits
        self._entry: CachedDocument | None = None

    def on_operation(self) -> Iterator[None]:
        settings = self.limits.settings
        token = max_page_size.set(settings.max_page_size)
        search = search_budget.set((settings.max_search_chars, settings.max_search_terms))
        try:
            yield
        finally:
            search_budget.reset(search)
            max_page_size.reset(token)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            self._entry = self.limits.prepare(context.query)
            context.graphql_document = self._entry.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry = self._entry
        if entry is not None and context.graphql_document is entry.document:
            schema = context.schema._schema
            refused = check_shape(self.limits.shape(schema, entry, context.variables), self.limits.settings)
            context.pre_execution_errors = [refused] if refused else self.limits.validate(schema, entry)
        yield

    def on_execute(self) -> Iterator[None]:
        deadline = current_deadline.get()
        if deadline is not None:  # how a TIMEOUT is told (see the module docstring)
            deadline.mutation = self.execution_context.operation_type.value == "mutation"
        yield


class ExecutorWithoutSuggestions(StrawberryGraphQLCoreExecutionContext):
    """With introspection off, variable coercion must not suggest names either:
    graphql-core's "Did you mean the enum value 'PRODUCTION'?" or "Did you mean
    'stages'?" would tell a client what introspection refuses to."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


@contextlib.asynccontextmanager
async def deadline(seconds: float) -> Any:
    """Bound the request's execution, every operation type; ``QueryTimeout`` when
    it runs out (a mutation's writes: ``guard_mutations``)."""
    current: Deadline | None = None
    try:
        async with asyncio.timeout(seconds) as timeout:
            current = Deadline(timeout)
            token = current_deadline.set(current)
            try:
                yield current
            finally:
                current_deadline.reset(token)
    except TimeoutError:
        assert current is not None
        raise current.error(seconds) from None
