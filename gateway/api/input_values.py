"""Argument values a client sends, refused as ``BAD_USER_INPUT`` naming the argument.

- ``DATETIME``: the ``DateTime`` scalar (in place of strawberry's, which takes a
  time without a zone and lets it reach a query, where comparing it with stored
  aware times is a 500). Every DateTime argument, literal or variable, is parsed
  here by ``gateway.domain.parse_instant``, the REST downloads' parser too.
- ``ArgumentValuesRule``: graphql-core's check of literal values, which also
  names the argument (``extensions.field``) of a value a scalar refused as
  ``BAD_USER_INPUT``. A variable's bad value is named by its variable (the
  error is raised before any argument is known; ``gateway.api.errors``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from graphql import ArgumentNode, GraphQLError, ValidationContext, ValuesOfCorrectTypeRule
from strawberry.types.scalar import ScalarDefinition

from gateway.domain import INSTANT_EXAMPLE, parse_instant

BAD_USER_INPUT = "BAD_USER_INPUT"


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise GraphQLError(
            f"DateTime must be an ISO 8601 string such as {INSTANT_EXAMPLE}",
            extensions={"code": BAD_USER_INPUT},
        )
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise GraphQLError(f"DateTime {exc}", extensions={"code": BAD_USER_INPUT}) from None


DATETIME = ScalarDefinition(
    name="DateTime",
    description=f"A date and time in ISO 8601 with a time zone, e.g. {INSTANT_EXAMPLE}.",
    specified_by_url=None,
    serialize=datetime.isoformat,
    parse_value=parse_datetime,
    parse_literal=None,
    origin=datetime,
)


class ArgumentValuesRule(ValuesOfCorrectTypeRule):
    """``ValuesOfCorrectTypeRule`` that puts the argument's name on a refused value."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.argument: ArgumentNode | None = None

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self.argument = node

    def leave_argument(self, *_args: Any) -> None:
        self.argument = None

    def report_error(self, error: GraphQLError) -> None:
        extensions = error.extensions or {}
        if self.argument is not None and extensions.get("code") == BAD_USER_INPUT:
            error = GraphQLError(
                error.message,
                self.argument,
                extensions={**extensions, "field": self.argument.name.value},
            )
        super().report_error(error)
