"""GraphQL over HTTP (the graphql-over-http spec draft) where strawberry leaves
it to the server: which media type answers, what status a request error gets,
and the spec's rule that a document with several operations needs an
``operationName``.

- ``Accept: application/graphql-response+json`` gets that media type; a
  *request error* (the document does not parse or validate, the variables do
  not coerce, the operation cannot be chosen) is then HTTP 400. With
  ``application/json`` (or no preference) the status stays 200, as clients
  written before the spec expect.
- A request error's body has no ``data`` key, with either media type: the
  GraphQL spec says ``data`` is absent when execution never began.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# Codes of errors raised before execution (format_error assigns them).
REQUEST_ERROR_CODES = frozenset(
    {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", "QUERY_TOO_COMPLEX"}
)


def response_media_type(accept: str | None) -> str:
    """The media type to answer with: ``application/graphql-response+json`` when the
    client accepts it at least as much as ``application/json``, else JSON."""
    weights: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    preferred = weights.get(GRAPHQL_RESPONSE, 0.0)
    return GRAPHQL_RESPONSE if preferred > 0 and preferred >= weights.get(JSON, 0.0) else JSON


def is_request_error(body: dict[str, Any]) -> bool:
    """Whether a processed result failed before execution: no data, and every error
    is a parse, validation or coercion error (none has a path)."""
    errors = body.get("errors") or []
    if body.get("data") is not None or not errors:
        return False
    return all(
        "path" not in e and (e.get("extensions") or {}).get("code") in REQUEST_ERROR_CODES for e in errors
    )


class OperationChoice(SchemaExtension):
    """A document with several operations and no ``operationName`` is a request
    error (GraphQL spec, GetOperation); strawberry would run the first one.
    Runs after ``RequestLimits`` has validated (it must come after it in the
    schema's extensions): a document that is already invalid keeps its errors."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # ``operation_name`` falls back to the first operation's name: ask what was sent.
        asked = getattr(context, "_provided_operation_name", None)
        if document is not None and not asked and not context.pre_execution_errors:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                context.pre_execution_errors = [
                    GraphQLError("Must provide operation name if query contains multiple operations.")
                ]
        yield
