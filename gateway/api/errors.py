"""How errors leave the GraphQL endpoint: always with ``extensions.code`` and a
request id, never with a stack trace or an internal message."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError, VariableDefinitionNode

from gateway.errors import GatewayError

log = logging.getLogger("modelgate.api")

INTERNAL_MESSAGE = "Internal server error"


def _code_for_graphql_error(error: GraphQLError) -> str:
    message = error.message
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable ") or "got invalid value" in message:
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """The client's view of one error; internal faults are logged and masked."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        formatted["path"] = list(error.path)
    if isinstance(original, GatewayError):
        formatted["message"] = original.message
        extensions = original.as_extensions()
    elif original is None or isinstance(original, GraphQLError):
        # graphql-core's own errors (parse, validation, value coercion) are the client's.
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", _code_for_graphql_error(error))
        if extensions["code"] == "BAD_USER_INPUT" and "field" not in extensions:
            # A variable's value that does not coerce: named by its variable.
            node = error.nodes[0] if error.nodes else None
            if isinstance(node, VariableDefinitionNode):
                extensions["field"] = node.variable.name.value
    else:
        log.error(
            "internal error in GraphQL request %s at %s",
            request_id,
            error.path,
            exc_info=(type(original), original, original.__traceback__),
        )
        formatted["message"] = INTERNAL_MESSAGE
        extensions = {"code": "INTERNAL_SERVER_ERROR"}
    extensions["requestId"] = request_id
    formatted["extensions"] = extensions
    return formatted
