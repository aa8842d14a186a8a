"""A faithful fake of Cloud Monitoring v3 ``projects.timeSeries.list / create``, as
far as canary rollouts on Vertex AI read it. Served by ``FakeVertex`` on its own
port under ``/v3/`` (the adapter's ``monitoring_endpoint`` points there) and
authenticated with the same OAuth tokens.

Built from Google's discovery document ``monitoring.v3.json`` (shipped inside
google-api-python-client): methods are routed by ``flatPath``, undeclared query
parameters and enum values are refused, request bodies are validated against
``CreateTimeSeriesRequest`` and **every response** (``ListTimeSeriesResponse``,
``Empty`` and Google's error body) against the document; violations land in
``FakeVertex.violations``.

What Google documents and the fake implements: a filter names exactly one
``metric.type``, joined by ``AND`` with ``resource.type`` and
``metric.labels.K`` / ``resource.labels.K`` equalities; a read interval is
half-open ``(startTime, endTime]``; an aligner other than ``ALIGN_NONE`` needs
an ``alignmentPeriod`` of at least 60 s, and a cross-series reducer needs an
aligner; ``timeSeries.create`` takes one point per series, written in time
order, a DELTA point's interval must not be empty nor overlap the previous one;
int64 values travel as strings; results list points newest first.

Choices the fake makes: alignment periods end at ``endTime`` and step back by
the period; only ``ALIGN_NONE`` / ``ALIGN_SUM`` and ``REDUCE_NONE`` /
``REDUCE_SUM`` are served (others are ``UNIMPLEMENTED``); a reduced series keeps
only the grouped labels. Google itself refuses ``timeSeries.create`` for
built-in metric types such as ``aiplatform.googleapis.com/…``; the fake accepts
the ones listed in ``BUILT_IN`` with their documented kinds and labels, because
that is how a test plays Vertex publishing its serving metrics.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.fakes.vertex import (
    DISCOVERY_FILE,
    HTTP_STATUS,
    ApiError,
    RequestRecord,
    SchemaBook,
    _methods,
    rfc3339,
)

if TYPE_CHECKING:
    from tests.fakes.vertex import FakeVertex

MONITORING_FILE = DISCOVERY_FILE.parent / "monitoring.v3.json"
SERVED = {"monitoring.projects.timeSeries.list", "monitoring.projects.timeSeries.create"}
# Google's metric list: kind, value type, metric labels, for the monitored resource.
ENDPOINT_LABELS = frozenset({"resource_container", "location", "endpoint_id"})
BUILT_IN = {
    "aiplatform.googleapis.com/prediction/online/response_count": (
        "DELTA",
        "INT64",
        frozenset(
            {"deployed_model_id", "response_code", "spot", "model_display_name", "endpoint_display_name"}
        ),
        "aiplatform.googleapis.com/Endpoint",
    ),
    "aiplatform.googleapis.com/prediction/online/prediction_count": (
        "DELTA",
        "INT64",
        frozenset({"deployed_model_id", "spot", "model_display_name", "endpoint_display_name"}),
        "aiplatform.googleapis.com/Endpoint",
    ),
}
RESOURCE_LABELS = {"aiplatform.googleapis.com/Endpoint": ENDPOINT_LABELS}
DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")
DURATION = re.compile(r"^(\d+)(?:\.\d{1,9})?s$")
TERM = re.compile(r'^(metric\.type|resource\.type|(?:metric|resource)\.labels?\.\w+)\s*=\s*"([^"]*)"$')
MAX_SERIES_PER_CREATE = 200


@functools.cache
def monitoring_document() -> dict[str, Any]:
    return json.loads(MONITORING_FILE.read_text(encoding="utf-8"))


@functools.cache
def monitoring_schemas() -> SchemaBook:
    return SchemaBook(monitoring_document(), status_schema="Status")


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    pattern: re.Pattern[str]
    parameters: Mapping[str, Any]
    request: str | None
    response: str | None


@functools.cache
def monitoring_methods() -> tuple[Method, ...]:
    doc = monitoring_document()
    found = []
    for m in _methods(doc):
        if m["id"] not in SERVED:
            continue
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/:]+)", re.escape("/" + m["flatPath"]))
        params = {**doc["parameters"], **m.get("parameters", {})}
        found.append(
            Method(
                m["id"],
                m["httpMethod"],
                re.compile(f"^{regex}$"),
                {k: v for k, v in params.items() if v.get("location") == "query"},
                (m.get("request") or {}).get("$ref"),
                (m.get("response") or {}).get("$ref"),
            )
        )
    return tuple(found)


def parse_time(text: str, what: str) -> int:
    """An RFC 3339 UTC timestamp as nanoseconds."""
    match = DATETIME.match(text or "")
    if match is None:
        raise ApiError(
            "INVALID_ARGUMENT",
            f"Invalid value at '{what}' (type.googleapis.com/google.protobuf.Timestamp), \"{text}\"",
        )
    seconds = int(datetime.fromisoformat(match[1] + "+00:00").timestamp())
    nanos = int((match[2] or "0").ljust(9, "0"))
    return seconds * 1_000_000_000 + nanos


@dataclass
class StoredSeries:
    metric_type: str
    metric_labels: dict[str, str]
    resource_type: str
    resource_labels: dict[str, str]
    kind: str
    value_type: str
    points: list[tuple[int, int, int]] = field(default_factory=list)  # (start ns, end ns, value)

    def key(self) -> tuple[Any, ...]:
        return (
            self.metric_type,
            tuple(sorted(self.metric_labels.items())),
            self.resource_type,
            tuple(sorted(self.resource_labels.items())),
        )


class FakeMonitoring:
    def __init__(self, vertex: FakeVertex):
        self.vertex = vertex
        self.series: dict[tuple[Any, ...], StoredSeries] = {}

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
        record: RequestRecord,
    ) -> tuple[int, Any, dict[str, str]]:
        api_method: Method | None = None
        try:
            self.vertex._authenticate(headers)
            for candidate in monitoring_methods():
                match = candidate.pattern.match(path)
                if match and candidate.http_method == method:
                    api_method = candidate
                    break
            else:
                raise ApiError("NOT_FOUND", f"The requested URL {path} was not found on this server.")
            self._check_query(api_method, query)
            payload: Any = {}
            if api_method.request:
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    raise ApiError("INVALID_ARGUMENT", "Invalid JSON payload received.") from None
                record.body = payload
                if problems := monitoring_schemas().errors(api_method.request, payload):
                    raise ApiError("INVALID_ARGUMENT", f"Invalid JSON payload received. {problems[0]}")
            project = match["projectsId"]
            if project not in (self.vertex.project_id, self.vertex.project_number):
                raise ApiError(
                    "PERMISSION_DENIED",
                    f"Permission monitoring.timeSeries.list denied (or the resource may not exist): projects/{project}.",
                )
            if api_method.id.endswith(".create"):
                status, answer = 200, self._create(payload)
            else:
                status, answer = 200, self._list(query)
        except ApiError as exc:
            status, answer = HTTP_STATUS[exc.status], exc.body()
        record.status = status
        schema = (api_method.response if api_method else None) if status < 300 else "ErrorEnvelope"
        if schema:
            self.vertex.violations += [
                f"{method} {path} -> {status}: {e}" for e in monitoring_schemas().errors(schema, answer)
            ]
        return status, answer, {}

    @staticmethod
    def _check_query(api_method: Method, query: Mapping[str, str]) -> None:
        for name, value in query.items():
            spec = api_method.parameters.get(name)
            if spec is None:
                raise ApiError(
                    "INVALID_ARGUMENT",
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter.',
                )
            if "enum" in spec and value not in spec["enum"]:
                raise ApiError("INVALID_ARGUMENT", f"Invalid value at '{name}', \"{value}\"")
            if spec.get("format") == "google-duration" and not DURATION.match(value):
                raise ApiError(
                    "INVALID_ARGUMENT", f"Invalid value at '{name}' (google.protobuf.Duration), \"{value}\""
                )
            if spec.get("format") == "int32" and not re.fullmatch(r"-?\d+", value):
                raise ApiError("INVALID_ARGUMENT", f"Invalid value at '{name}' (TYPE_INT32), \"{value}\"")

    # --- timeSeries.create -------------------------------------------------------

    def _create(self, body: Mapping[str, Any]) -> Any:
        wanted = body.get("timeSeries") or []
        if not wanted or len(wanted) > MAX_SERIES_PER_CREATE:
            raise ApiError(
                "INVALID_ARGUMENT", f"Request must contain 1 to {MAX_SERIES_PER_CREATE} time series."
            )
        for ts in wanted:
            metric, resource = ts.get("metric") or {}, ts.get("resource") or {}
            metric_type, resource_type = metric.get("type", ""), resource.get("type", "")
            known = BUILT_IN.get(metric_type)
            if known is None and not metric_type.startswith("custom.googleapis.com/"):
                raise ApiError(
                    "INVALID_ARGUMENT", f"The metric type {metric_type!r} cannot be written by this fake."
                )
            kind = ts.get("metricKind") or (known[0] if known else "GAUGE")
            value_type = ts.get("valueType") or (known[1] if known else "INT64")
            if known is not None:
                labels, resource_of = known[2], known[3]
                if (kind, value_type) != known[:2] or resource_type != resource_of:
                    raise ApiError(
                        "INVALID_ARGUMENT", f"{metric_type} is {known[0]} {known[1]} on {resource_of}."
                    )
                if unknown := set(metric.get("labels") or {}) - labels:
                    raise ApiError(
                        "INVALID_ARGUMENT", f"Unknown metric label(s) {sorted(unknown)} for {metric_type}."
                    )
                if unknown := set(resource.get("labels") or {}) - RESOURCE_LABELS.get(
                    resource_type, frozenset()
                ):
                    raise ApiError(
                        "INVALID_ARGUMENT",
                        f"Unknown resource label(s) {sorted(unknown)} for {resource_type}.",
                    )
            points = ts.get("points") or []
            if len(points) != 1:
                raise ApiError("INVALID_ARGUMENT", "Each time series must contain exactly one point.")
            point = points[0]
            interval = point.get("interval") or {}
            end = parse_time(interval.get("endTime", ""), "interval.end_time")
            start = (
                parse_time(interval["startTime"], "interval.start_time") if interval.get("startTime") else end
            )
            if kind == "DELTA" and start >= end:
                raise ApiError(
                    "INVALID_ARGUMENT", "The start time must be before the end time for a DELTA metric."
                )
            value = point.get("value") or {}
            if value_type != "INT64" or "int64Value" not in value:
                raise ApiError("INVALID_ARGUMENT", "The fake stores INT64 values only (value.int64Value).")
            series = StoredSeries(
                metric_type,
                dict(metric.get("labels") or {}),
                resource_type,
                dict(resource.get("labels") or {}),
                kind,
                value_type,
            )
            stored = self.series.setdefault(series.key(), series)
            if stored.points and (
                end <= stored.points[-1][1] or (kind == "DELTA" and start < stored.points[-1][1])
            ):
                raise ApiError(
                    "INVALID_ARGUMENT",
                    "Points must be written in order. One or more of the points specified had an older start time than the most recent point.",
                )
            stored.points.append((start, end, int(value["int64Value"])))
        return {}

    # --- timeSeries.list ---------------------------------------------------------

    def _list(self, query: Mapping[str, str]) -> Any:
        tests = self._filter(query.get("filter", ""))
        if "interval.endTime" not in query:
            raise ApiError("INVALID_ARGUMENT", "Field interval.endTime had an invalid value: must be set.")
        end = parse_time(query["interval.endTime"], "interval.end_time")
        start = (
            parse_time(query["interval.startTime"], "interval.start_time")
            if "interval.startTime" in query
            else end
        )
        if start > end:
            raise ApiError("INVALID_ARGUMENT", "The start time must be before the end time.")
        aligner = query.get("aggregation.perSeriesAligner", "ALIGN_NONE")
        reducer = query.get("aggregation.crossSeriesReducer", "REDUCE_NONE")
        if aligner not in ("ALIGN_NONE", "ALIGN_SUM") or reducer not in ("REDUCE_NONE", "REDUCE_SUM"):
            raise ApiError(
                "UNIMPLEMENTED", "This fake aligns with ALIGN_SUM and reduces with REDUCE_SUM only."
            )
        if reducer != "REDUCE_NONE" and aligner == "ALIGN_NONE":
            raise ApiError("INVALID_ARGUMENT", "A cross-series reducer requires a per-series aligner.")
        matched = [s for s in self.series.values() if all(t(s) for t in tests)]
        if aligner == "ALIGN_NONE":
            out = [self._render(s, [p for p in s.points if start < p[1] <= end], s.kind) for s in matched]
        else:
            period_text = query.get("aggregation.alignmentPeriod", "")
            match = DURATION.match(period_text)
            if match is None or int(match[1]) < 60:
                raise ApiError("INVALID_ARGUMENT", "The alignment period must be at least 60 seconds.")
            period = int(match[1]) * 1_000_000_000
            aligned = [(s, self._align(s, start, end, period)) for s in matched]
            if reducer == "REDUCE_SUM":
                aligned = self._reduce(aligned, query.get("aggregation.groupByFields", ""))
            out = [self._render(s, pts, "DELTA") for s, pts in aligned]
        out = [s for s in out if s["points"]]
        return self._page(out, query)

    @staticmethod
    def _filter(text: str) -> list[Any]:
        terms = [t.strip() for t in re.split(r"\s+AND\s+", text.strip()) if t.strip()]
        tests = []
        metric_types = 0
        for term in terms:
            match = TERM.match(term)
            if match is None:
                raise ApiError("INVALID_ARGUMENT", f"Could not parse filter {text!r} at {term!r}.")
            name, value = match[1], match[2]
            if name == "metric.type":
                metric_types += 1
                tests.append(lambda s, v=value: s.metric_type == v)
            elif name == "resource.type":
                tests.append(lambda s, v=value: s.resource_type == v)
            elif name.startswith("metric."):
                key = name.split(".", 2)[2]
                tests.append(lambda s, k=key, v=value: s.metric_labels.get(k) == v)
            else:
                key = name.split(".", 2)[2]
                tests.append(lambda s, k=key, v=value: s.resource_labels.get(k) == v)
        if metric_types != 1:
            raise ApiError("INVALID_ARGUMENT", "The filter must specify exactly one metric type.")
        return tests

    @staticmethod
    def _align(s: StoredSeries, start: int, end: int, period: int) -> list[tuple[int, int, int]]:
        """ALIGN_SUM: one point per period ending at ``end``, ``end - period``, … after ``start``."""
        out = []
        t = end
        while t > start:
            total = [v for _, e, v in s.points if t - period < e <= t and start < e <= end]
            if total:
                out.append((t - period, t, sum(total)))
            t -= period
        return out[::-1]

    @staticmethod
    def _reduce(
        aligned: list[tuple[StoredSeries, list[tuple[int, int, int]]]], group_by: str
    ) -> list[tuple[StoredSeries, list[tuple[int, int, int]]]]:
        fields = [f.strip() for f in group_by.split(",") if f.strip()]
        for f in fields:
            if not re.fullmatch(r"(metric|resource)\.labels?\.\w+", f):
                raise ApiError("INVALID_ARGUMENT", f"Invalid group-by field {f!r}.")
        groups: dict[tuple[Any, ...], tuple[StoredSeries, dict[tuple[int, int], int]]] = {}
        for s, points in aligned:
            metric = {
                f.split(".", 2)[2]: s.metric_labels[f.split(".", 2)[2]]
                for f in fields
                if f.startswith("metric.") and f.split(".", 2)[2] in s.metric_labels
            }
            resource = {
                f.split(".", 2)[2]: s.resource_labels[f.split(".", 2)[2]]
                for f in fields
                if f.startswith("resource.") and f.split(".", 2)[2] in s.resource_labels
            }
            head = StoredSeries(s.metric_type, metric, s.resource_type, resource, "DELTA", s.value_type)
            _, sums = groups.setdefault(head.key(), (head, {}))
            for a, b, v in points:
                sums[(a, b)] = sums.get((a, b), 0) + v
        return [(head, [(a, b, v) for (a, b), v in sorted(sums.items())]) for head, sums in groups.values()]

    @staticmethod
    def _render(s: StoredSeries, points: list[tuple[int, int, int]], kind: str) -> dict[str, Any]:
        metric: dict[str, Any] = {"type": s.metric_type}
        if s.metric_labels:
            metric["labels"] = dict(s.metric_labels)
        resource: dict[str, Any] = {"type": s.resource_type}
        if s.resource_labels:
            resource["labels"] = dict(s.resource_labels)
        return {
            "metric": metric,
            "resource": resource,
            "metricKind": kind,
            "valueType": s.value_type,
            "points": [
                {
                    "interval": {"startTime": rfc3339(a), "endTime": rfc3339(b)},
                    "value": {"int64Value": str(v)},
                }
                for a, b, v in reversed(points)  # newest first, as Google lists them
            ],
        }

    @staticmethod
    def _page(series: list[dict[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
        size = int(query.get("pageSize") or 0) or 100_000
        offset = 0
        if token := query.get("pageToken"):
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["o"])
            except (ValueError, KeyError, TypeError):
                raise ApiError("INVALID_ARGUMENT", "Invalid page token.") from None
        page = series[offset : offset + size]
        out: dict[str, Any] = {}
        if page:
            out["timeSeries"] = page
        if offset + size < len(series):
            out["nextPageToken"] = base64.urlsafe_b64encode(
                json.dumps({"o": offset + size}).encode()
            ).decode()
        return out
