"""``gateway.governance.reports``: a report's violations page by page, its summary,
and its CSV and JSON downloads; and the current report over a catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.catalogue.index import SearchFilter
from gateway.errors import BadInput
from gateway.governance.reports import (
    VIOLATION_COLUMNS,
    ComplianceGroup,
    ComplianceReport,
    ReportViolation,
    ViolationPage,
    csv_lines,
    current_report,
    json_document,
)
from gateway.runtime import Gateway

AT = datetime(2026, 3, 1, tzinfo=UTC)
VIOLATIONS = [
    ReportViolation(f"mg://r/m/{i}", "r", "team", "m", str(i), "STAGING", "card", "error", f"=HYPERLINK({i})")
    for i in range(5)
]


def report(asked: list[tuple[int, str | None]]) -> ComplianceReport:
    async def violations(first: int, after: str | None) -> ViolationPage:
        asked.append((first, after))
        start = 0 if after is None else int(after) + 1
        items = VIOLATIONS[start : start + first]
        cursors = [str(start + i) for i in range(len(items))]
        return ViolationPage(items, cursors, len(VIOLATIONS), start + first < len(VIOLATIONS))

    return ComplianceReport(
        AT,
        None,
        10,
        5,
        [ComplianceGroup("team", 10, 5)],
        [ComplianceGroup("r", 10, 5)],
        [ComplianceGroup("card", 10, 5)],
        violations,
    )


async def test_every_violation_is_read_page_by_page() -> None:
    asked: list[tuple[int, str | None]] = []
    found = [v async for v in report(asked).all_violations(batch=2)]
    assert found == VIOLATIONS and asked == [(2, None), (2, "1"), (2, "3")]


async def test_csv_has_a_header_a_row_per_violation_and_defuses_formulas() -> None:
    lines = [line async for line in csv_lines(report([]))]
    assert lines[0].strip() == ",".join(VIOLATION_COLUMNS) and len(lines) == 1 + len(VIOLATIONS)
    assert "=HYPERLINK" not in "".join(lines[1:]).replace(
        "'=HYPERLINK", ""
    )  # spreadsheet formulas neutralised
    summary = [line.strip() async for line in csv_lines(report([]), "summary")]
    assert summary == [
        "group,key,versions,compliant",
        "total,all,10,5",
        "team,team,10,5",
        "registry,r,10,5",
        "policy,card,10,5",
    ]
    with pytest.raises(BadInput):
        [line async for line in csv_lines(report([]), "pie-chart")]


async def test_the_json_document_is_the_summary_and_every_violation() -> None:
    document = await json_document(report([]))
    assert (document["totalVersions"], document["compliantVersions"], document["asOf"]) == (10, 5, None)
    assert [v["version"] for v in document["violations"]] == [v.version_uri for v in VIOLATIONS]
    assert document["byPolicy"] == [{"key": "card", "versions": 10, "compliant": 5}]


async def test_the_current_report_counts_the_catalogue_by_team_and_registry(demo_gateway: Gateway) -> None:
    governance = demo_gateway.governance
    built = await current_report(demo_gateway.database, governance.policies, SearchFilter())
    assert built.total_versions > 0 and built.compliant_versions <= built.total_versions
    assert {g.key for g in built.by_registry} == {"platform", "research"}
    assert sum(g.versions for g in built.by_team) == built.total_versions
    narrowed = await current_report(
        demo_gateway.database, governance.policies, SearchFilter(registries=("platform",))
    )
    assert [g.key for g in narrowed.by_registry] == [
        "platform"
    ] and narrowed.total_versions < built.total_versions
