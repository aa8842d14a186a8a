"""The MLflow adapter's own modules, each on its own: the REST client
(``adapters.mlflow.api``), the run and metric-history readers (``runs``,
``history``), the change tracker (``changes``) against the real MLflow server;
webhook signatures (``webhooks``) and model files (``model_files``) as pure
functions, and the files reader against the server's missing-file answers."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("mlflow")  # a test dependency: it starts the real server

from adapters.mlflow import webhooks
from adapters.mlflow.api import MlflowApi
from adapters.mlflow.changes import ChangeTracker
from adapters.mlflow.history import MetricHistory
from adapters.mlflow.model_files import ModelFileReader, files_from_text, is_logged_model, parse_requirements
from adapters.mlflow.options import Credentials, MlflowOptions
from adapters.mlflow.runs import RunReader
from adapters.protocol import WebhookRejected
from adapters.toolkit.retry import RetryPolicy
from gateway.errors import RegistryNotFound
from tests.servers.mlflow import MlflowTeam

FAST_RETRY = RetryPolicy(attempts=3, deadline_seconds=5.0, initial_wait=0.05, max_wait=0.2)
ABSENT_RUN = "0" * 32


@pytest.fixture(scope="module")
def team(mlflow_url: str) -> MlflowTeam:
    return MlflowTeam(mlflow_url)


@pytest.fixture
async def api(mlflow_url: str) -> AsyncIterator[MlflowApi]:
    client = MlflowApi("mlf", MlflowOptions(url=mlflow_url), Credentials(), retry=FAST_RETRY)
    yield client
    await client.aclose()


def unique(stem: str) -> str:
    return f"mod-{stem}-{uuid.uuid4().hex[:8]}"


async def test_the_client_reads_and_writes_what_mlflow_holds(api: MlflowApi, team: MlflowTeam) -> None:
    name = unique("api")
    team.register(name, "s3://b/model")
    await api.probe()
    assert (await api.get_model(name))["registered_model"]["name"] == name
    await api.set_alias(name, "champion", "1")
    await api.set_version_tag(name, "1", "owner", "ann")
    version = (await api.get_version(name, "1"))["model_version"]
    assert version["aliases"] == ["champion"] and {"key": "owner", "value": "ann"} in version["tags"]
    await api.delete_alias(name, "champion")
    await api.delete_version_tag(name, "1", "owner")
    version = (await api.get_version(name, "1"))["model_version"]
    assert not version.get("aliases") and not version.get("tags")
    with pytest.raises(RegistryNotFound):
        await api.get_model(unique("absent"))


async def test_runs_are_read_once_each_and_a_gone_run_is_none(api: MlflowApi, team: MlflowTeam) -> None:
    runs = [team.train(params={"lr": str(i)}, metrics={"auc": 0.5 + i / 10}) for i in range(3)]
    reader = RunReader("mlf", api.http, FAST_RETRY, concurrency=2)
    found = await reader.details([*runs, runs[0], None, ABSENT_RUN])  # 3 runs: read with one search
    assert set(found) == {*runs, ABSENT_RUN} and found[ABSENT_RUN] is None
    for i, run in enumerate(runs):
        details = found[run]
        assert details is not None and details.params == {"lr": str(i)}
        assert details.metrics == {"auc": pytest.approx(0.5 + i / 10)}
    assert await reader.details([None, ""]) == {}


async def test_metric_history_keeps_the_latest_points_in_step_order(api: MlflowApi, team: MlflowTeam) -> None:
    run = team.train()
    now = int(time.time() * 1000)
    for step in (3, 1, 2, 0):
        team.client.log_metric(run, "loss", 1.0 / (step + 1), timestamp=now + step, step=step)
    history = MetricHistory(api.http, FAST_RETRY, concurrency=2)
    series = await history.read(run, ["loss", "loss", "absent"], limit=3)
    assert list(series) == ["loss"]  # a metric never logged is left out
    assert [p.step for p in series["loss"]] == [1, 2, 3]
    assert series["loss"][-1].value == pytest.approx(0.25) and series["loss"][0].at is not None
    assert await history.read(ABSENT_RUN, ["loss"], limit=3) == {}


async def test_change_tracking_reports_a_new_version_after_a_complete_listing(
    api: MlflowApi, team: MlflowTeam
) -> None:
    name = unique("changes")
    team.register(name, "s3://b/v1")

    async def all_models() -> AsyncIterator[dict[str, Any]]:
        token = None
        while True:
            body = await api.search_models({"max_results": 1000, **({"page_token": token} if token else {})})
            for raw in body.get("registered_models") or ():
                yield raw
            if not (token := body.get("next_page_token")):
                return

    tracker = ChangeTracker(api.http, all_models, full_resync_seconds=3600)
    first = await tracker.changes_since(None)
    assert first.changed is None and first.cursor  # the first pass lists everything
    again = await tracker.changes_since(first.cursor)
    assert again.changed is None  # no listing was observed: the snapshot is incomplete
    listing = [raw async for raw in all_models()]
    tracker.observe_listing(listing, first_page=True, last_page=True)
    team.register(name, "s3://b/v2")
    changes = await tracker.changes_since(first.cursor)
    assert changes.changed is not None and name in changes.changed and changes.deleted == []
    quiet = await tracker.changes_since(changes.cursor)
    assert quiet.changed == []
    assert (await tracker.changes_since("not a cursor")).changed is None


def test_a_delivery_is_verified_by_its_signature_and_time() -> None:
    body, now = b'{"entity": "model_version", "action": "created", "data": {"name": "churn"}}', 1_800_000_000
    headers = {"X-MLflow-Delivery-Id": "d1", "X-MLflow-Timestamp": str(now)}
    signed = {**headers, "X-MLflow-Signature": "v1,old " + webhooks.sign("s3cret", "d1", str(now), body)}
    webhooks.verify_delivery(signed, body, "s3cret", tolerance_seconds=300, now=now + 10)
    refusals = [
        (signed, body, None, now),  # no secret configured
        (headers, body, "s3cret", now),  # unsigned
        (signed, body + b" ", "s3cret", now),  # altered body
        (signed, body, "other", now),  # wrong secret
        (signed, body, "s3cret", now + 301),  # stale
        ({**signed, "X-MLflow-Timestamp": "soon"}, body, "s3cret", now),
    ]
    for sent, payload, secret, at in refusals:
        with pytest.raises(WebhookRejected):
            webhooks.verify_delivery(sent, payload, secret, tolerance_seconds=300, now=at)
    assert webhooks.changed_models(body) == ["churn"]
    assert webhooks.changed_models(b'{"entity": "experiment", "data": {"name": "x"}}') == []
    assert webhooks.changed_models(b"[1]") == [] and webhooks.changed_models(b"{") == []


def test_model_files_give_the_environment_signature_and_flavors() -> None:
    mlmodel = (
        "mlflow_version: 3.1.0\nflavors:\n  python_function: {python_version: 3.11.9}\n  sklearn: {}\n"
        "signature:\n  inputs: '[]'\n  outputs: '[]'\n  other: x\n"
    )
    files = files_from_text(mlmodel, "# pinned\n-r base.txt\nscikit-learn==1.5.0  # ml\n\n")
    assert files is not None and files.environment == "python=3.11.9 scikit-learn==1.5.0"
    assert files.flavors == ("python_function", "sklearn") and files.mlflow_version == "3.1.0"
    assert files.signature == {"inputs": "[]", "outputs": "[]"}
    assert files_from_text("- a list", None) is None and files_from_text("a: [", None) is None
    assert parse_requirements("--index-url x\nnumpy\n") == ["numpy"]
    assert is_logged_model("runs:/abc/model", None) and is_logged_model(
        "s3://b/run/artifacts/m", "s3://b/run/artifacts/"
    )
    assert not is_logged_model("s3://b/elsewhere", "s3://b/run/artifacts") and not is_logged_model(None, None)


async def test_the_file_reader_answers_none_for_a_version_without_model_files(
    mlflow_url: str, team: MlflowTeam
) -> None:
    name = unique("files")
    team.register(name, "s3://no-such-bucket/model")
    reader = ModelFileReader("mlf", mlflow_url, timeout=10)
    try:
        found = await reader.read_many([(name, "1", "s3://no-such-bucket/model")])
        assert found == {(name, "1"): None}
    finally:
        await reader.aclose()
