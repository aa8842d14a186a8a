"""The one CSV writer of every download (compliance reports, the audit export,
the inventory), on the HTTP routes and the CLI alike.

A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a
tab or carriage return, which some strip first) as a formula: a model,
endpoint or principal named ``=HYPERLINK(...)`` would be live in an auditor's
spreadsheet. Such text cells get a leading single quote (OWASP "CSV
Injection"). Numbers written as numbers (an AUC of -0.5, a count) stay numbers:
only text is neutralised, so the same characters in a string, ``"-0.5"``
included, are quoted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell: None is empty, text that could start a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_line(values: Iterable[Any]) -> str:
    """One CSV row (``\\n``-terminated), every cell through ``safe_cell``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([safe_cell(v) for v in values])
    return buffer.getvalue()
