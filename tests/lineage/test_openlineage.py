"""OpenLineage export: every event validates against the official OpenLineage
JSON Schemas (kept in ``openlineage_spec/``, resolved locally: no network),
every run has a START and a COMPLETE event, dataset names follow the naming
conventions, and the HTTP endpoint and the CLI serve it."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from gateway.cli import main
from gateway.lineage.openlineage import dataset_name
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.lineage.test_graphql import register

# Required keys, from spec/OpenLineage.json (2-0-2) and spec/facets/*.json.
RUN_EVENT_REQUIRED = {"eventTime", "producer", "schemaURL", "run", "job"}
RUN_REQUIRED = {"runId"}
JOB_REQUIRED = {"namespace", "name"}
DATASET_REQUIRED = {"namespace", "name"}
FACET_REQUIRED = {"_producer", "_schemaURL"}
FACET_FIELDS_REQUIRED = {
    "jobType": {"processingType", "integration"},
    "documentation": {"description"},
    "sourceCodeLocation": {"type", "url"},
    "version": {"datasetVersion"},
    "symlinks": {"identifiers"},
}
EVENT_TYPES = {"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"}
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


def check_facets(facets: dict[str, Any]) -> None:
    for name, facet in facets.items():
        missing = (FACET_REQUIRED | FACET_FIELDS_REQUIRED.get(name, set())) - set(facet)
        assert not missing, f"facet {name} lacks {missing}"
        assert URI.match(facet["_producer"]) and facet["_schemaURL"].startswith(
            "https://openlineage.io/spec/"
        )
    for identifier in facets.get("symlinks", {}).get("identifiers", []):
        assert {"namespace", "name", "type"} <= set(identifier)


SPEC = Path(__file__).parent / "openlineage_spec"
_SCHEMAS = {p.stem: json.loads(p.read_text()) for p in SPEC.glob("*.json")}
_REGISTRY = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in _SCHEMAS.values())
_FORMATS = FormatChecker()


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, registry=_REGISTRY, format_checker=_FORMATS)


RUN_EVENT = _validator({"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"})


def validate_against_spec(event: dict[str, Any]) -> None:
    """The event against OpenLineage.json's RunEvent, and each facet against the
    schema its ``_schemaURL`` names (which must be a schema we hold)."""
    errors = [e.message for e in RUN_EVENT.iter_errors(event)]
    assert not errors, errors
    facet_sets = [event["job"].get("facets", {})]
    facet_sets += [d.get("facets", {}) for d in [*event.get("inputs", []), *event.get("outputs", [])]]
    for facets in facet_sets:
        for name, facet in facets.items():
            schema_id = facet["_schemaURL"].split("#", 1)[0]
            schema = next((s for s in _SCHEMAS.values() if s["$id"] == schema_id), None)
            assert schema is not None, f"facet {name}: no schema {schema_id} (not a current facet version?)"
            errors = [e.message for e in _validator(schema).iter_errors({name: facet})]
            assert not errors, (name, errors)


def check_event(event: dict[str, Any]) -> None:
    validate_against_spec(event)
    assert not RUN_EVENT_REQUIRED - set(event), event
    assert event["eventType"] in EVENT_TYPES
    assert URI.match(event["producer"]) and event["schemaURL"].endswith("OpenLineage.json#/$defs/RunEvent")
    assert "T" in event["eventTime"] and ("+" in event["eventTime"] or event["eventTime"].endswith("Z"))
    assert not RUN_REQUIRED - set(event["run"])
    uuid.UUID(event["run"]["runId"])  # a UUID, as the spec's format says
    assert not JOB_REQUIRED - set(event["job"])
    check_facets(event["job"].get("facets", {}))
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        assert not DATASET_REQUIRED - set(dataset), dataset
        assert all(isinstance(dataset[k], str) and dataset[k] for k in DATASET_REQUIRED)
        check_facets(dataset.get("facets", {}))


def check_runs(events: list[dict[str, Any]]) -> None:
    """Each run: exactly one START, then exactly one COMPLETE."""
    by_run: dict[str, list[str]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert by_run and all(types == ["START", "COMPLETE"] for types in by_run.values()), by_run


def test_the_spec_check_can_fail() -> None:
    """The validator rejects what the spec forbids (so a passing export means something)."""
    with pytest.raises(AssertionError):
        validate_against_spec({"eventType": "DONE", "eventTime": "yesterday", "run": {}, "job": {}})
    good_facet = {"_producer": "urn:x", "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/Nope.json"}
    with pytest.raises(AssertionError, match="no schema"):
        validate_against_spec(
            {
                "eventTime": "2026-01-01T00:00:00+00:00",
                "producer": "urn:x",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {"runId": "6f1c3d2e-5b7a-4c8e-9d0f-1a2b3c4d5e6f"},
                "job": {"namespace": "n", "name": "j", "facets": {"documentation": good_facet}},
            }
        )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://acme-data/tx/2026", ("s3://acme-data", "tx/2026")),
        ("gs://bucket/a/b.parquet", ("gs://bucket", "a/b.parquet")),
        ("file:///data/train.csv", ("file", "/data/train.csv")),
        ("https://data.example.com/holdout.csv", ("https://data.example.com", "/holdout.csv")),
        ("mg://platform/fraud/3", ("mg://platform", "fraud/3")),
        ("s3://bucket", ("s3://bucket", "/")),
        ("transactions", ("modelgate", "transactions")),
    ],
)
def test_dataset_names_follow_the_naming_conventions(uri: str, expected: tuple[str, str]) -> None:
    assert dataset_name(uri) == expected


async def populated(client: httpx.AsyncClient) -> tuple[str, str]:
    base = await register(
        client,
        "research",
        "base",
        trainingData=[{"uri": "s3://acme/tx/2026/", "name": "tx"}],
        trainingCode={"repository": "https://git.example.com/fraud/train", "commit": "9f2c1e7"},
        artifactDigest="sha256:" + "a" * 64,
    )
    tuned = await register(
        client,
        "platform",
        "tuned",
        parent=base,
        description="fine-tuned on support tickets",
        trainingData=[{"uri": "s3://acme/support"}, {"uri": "file:///mnt/holdout/", "role": "validation"}],
    )
    return base, tuned


async def test_http_export_as_json_and_json_lines(client: httpx.AsyncClient) -> None:
    _, tuned = await populated(client)
    response = await client.get("/lineage/openlineage", params={"uri": tuned, "direction": "UPSTREAM"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] == []
    events = body["events"]
    for event in events:
        check_event(event)
    check_runs(events)
    complete = [e for e in events if e["eventType"] == "COMPLETE"]
    by_output = {(e["outputs"][0]["namespace"], e["outputs"][0]["name"]): e for e in complete}
    assert set(by_output) == {("mg://research", "base/1"), ("mg://platform", "tuned/1")}
    tuned_event = by_output[("mg://platform", "tuned/1")]
    assert tuned_event["job"] == {**tuned_event["job"], "namespace": "mg://platform", "name": "tuned"}
    assert {(i["namespace"], i["name"]) for i in tuned_event["inputs"]} == {
        ("s3://acme", "support"),
        ("file", "/mnt/holdout"),
        ("mg://research", "base/1"),  # the parent, as a dataset the run consumed
    }
    output = tuned_event["outputs"][0]["facets"]
    assert output["documentation"]["description"] == "fine-tuned on support tickets"
    assert output["version"]["datasetVersion"] == "1"
    base_event = by_output[("mg://research", "base/1")]
    location = base_event["job"]["facets"]["sourceCodeLocation"]
    assert (location["url"], location["version"]) == ("https://git.example.com/fraud/train", "9f2c1e7")
    assert base_event["inputs"] == [
        {"namespace": "s3://acme", "name": "tx/2026", "facets": base_event["inputs"][0]["facets"]}
    ]
    # Stable run ids: exporting twice gives the same runs, so a consumer sees no duplicates.
    again = (await client.get("/lineage/openlineage", params={"uri": tuned, "direction": "UPSTREAM"})).json()
    assert {e["run"]["runId"] for e in again["events"]} == {e["run"]["runId"] for e in events}

    lines = await client.get("/lineage/openlineage", params={"uri": "s3a://acme/tx/2026", "format": "jsonl"})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    parsed = [json.loads(line) for line in lines.text.splitlines()]
    assert {e["outputs"][0]["name"] for e in parsed if e["eventType"] == "COMPLETE"} == {"base/1", "tuned/1"}
    for event in parsed:
        check_event(event)

    missing = await client.get("/lineage/openlineage")
    assert (
        missing.status_code == 400 and missing.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    )
    unknown = await client.get("/lineage/openlineage", params={"uri": "s3://nobody/knows"})
    assert unknown.status_code == 404


def test_cli_prints_events_graph_and_impact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.db"
    config = tmp_path / "modelgate.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{db}"\nartifacts_dir = "{tmp_path / "artifacts"}"\n\n'
        '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n\n'
        '[[registries]]\nid = "research"\nkind = "native"\nteam = "research"\n'
    )

    async def seed() -> tuple[str, str]:
        from gateway.config import load_settings

        gw = await Gateway.open(load_settings(str(config)))
        try:
            app = create_app(gw.settings, gateway=gw, background_sync=False)
            async with (
                LifespanManager(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as app_client,
            ):
                return await populated(app_client)
        finally:
            await gw.aclose()

    base, tuned = asyncio.run(seed())
    assert main(["lineage", tuned, "--openlineage", "--direction", "UPSTREAM", "--config", str(config)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["outputs"][0]["name"] for e in events if e["eventType"] == "COMPLETE"} == {"base/1", "tuned/1"}
    for event in events:
        check_event(event)
    check_runs(events)

    # A model URI exports the runs of its versions (it printed nothing before).
    assert main(["lineage", tuned.rsplit("/", 1)[0], "--openlineage", "--config", str(config)]) == 0
    model_events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["outputs"][0]["name"] for e in model_events if e["eventType"] == "COMPLETE"} >= {"tuned/1"}
    check_runs(model_events)

    assert main(["lineage", "s3a://acme/tx/2026/", "--json", "--config", str(config)]) == 0
    graph = json.loads(capsys.readouterr().out)
    assert {(e["source"], e["relation"]) for e in graph["edges"]} >= {
        (base, "TRAINED_ON"),
        (tuned, "DERIVED_FROM"),
    }

    assert main(["lineage", "s3://acme/tx/2026", "--impact", "--json", "--config", str(config)]) == 0
    impact = json.loads(capsys.readouterr().out)
    assert [v["uri"] for v in impact["versions"]] == [base, tuned]

    # By default people get a tree and a list, not JSON.
    assert main(["lineage", tuned, "--direction", "UPSTREAM", "--config", str(config)]) == 0
    tree = capsys.readouterr().out.splitlines()
    assert tree[0].startswith(f"{tuned} ") and "[model_version, registry platform]" in tree[0]
    assert tree[1] == "  made from:"
    assert any(
        line.strip().startswith(("├─ DERIVED_FROM", "└─ DERIVED_FROM")) and base in line for line in tree
    )
    # The dataset is reached under the parent, indented one level deeper than it.
    parent_line = next(i for i, line in enumerate(tree) if "DERIVED_FROM" in line)
    assert any("TRAINED_ON s3://acme/tx/2026" in line for line in tree[parent_line + 1 :])
    assert main(["lineage", "s3://acme/tx/2026", "--impact", "--config", str(config)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == "2 versions downstream of s3://acme/tx/2026:"
    assert listed[1].strip().startswith(base) and listed[2].strip().startswith(tuned)

    # Impact of a node nobody knows is an error, not an empty success.
    assert main(["lineage", "mg://nope/x/1", "--impact", "--config", str(config)]) == 1
    assert "no version mg://nope/x/1" in capsys.readouterr().err

    assert main(["lineage", "s3://nobody/knows", "--config", str(config)]) == 1
    assert "no lineage node" in capsys.readouterr().err
    assert main(["lineage", tuned, "--depth", "99", "--config", str(config)]) == 2
