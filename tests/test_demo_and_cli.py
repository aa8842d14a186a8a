"""The newcomer's path: `modelgate demo` serves a living catalogue; the CLI behaves."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway import __version__
from gateway.catalogue.index import SearchFilter, SearchQuery
from gateway.demo import seed_demo
from gateway.domain import Stage
from gateway.runtime import Gateway
from gateway.workers import balanced

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(port: int, proc: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "the gateway did not become ready"
        time.sleep(0.3)


def wait_until_synced(port: int, seconds: float) -> None:
    """Ready means the store answers; wait until every registry's first sync is done too."""
    deadline = time.monotonic() + seconds
    while True:
        body = httpx.post(
            f"http://127.0.0.1:{port}/graphql", json={"query": "{ registries { id state } }"}, timeout=10
        ).json()
        if all(r["state"] == "HEALTHY" for r in body["data"]["registries"]):
            return
        assert time.monotonic() < deadline, body
        time.sleep(0.3)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},  # a wide "terminal", so tables do not fold
    )


async def test_demo_data_is_realistic_and_idempotent(gateway: Gateway) -> None:
    added = await seed_demo(gateway)
    assert added >= 30
    page = await gateway.index.search_versions(SearchQuery(None, SearchFilter(), 100, None))
    versions = page.items
    assert page.total == added
    assert {v.stage for v in versions} == set(Stage)
    assert {v.team for v in versions} == {"platform", "research"}
    assert any(v.parent for v in versions)
    assert all(v.metrics and v.training_data and not v.model_card.is_empty() for v in versions)
    assert await seed_demo(gateway) == 0


def test_the_sagemaker_demo_data_is_valid_for_sagemaker_itself() -> None:
    """moto does not check CustomerMetadataProperties; SageMaker does. Every key and
    value the demo writes fits the patterns and lengths of botocore's service model."""
    import botocore.session
    import regex

    from demos.sagemaker import DEMO_SAGEMAKER

    model = botocore.session.get_session().get_service_model("sagemaker")
    rules = {
        name: (regex.compile(shape.metadata["pattern"]), shape.metadata["min"], shape.metadata["max"])
        for name in ("CustomerMetadataKey", "CustomerMetadataValue")
        for shape in [model.shape_for(name)]
    }
    checked = 0
    for _group, _description, packages in DEMO_SAGEMAKER:
        for package in packages:
            for key, value in package.properties.items():
                for text, (pattern, low, high) in zip((key, value), rules.values(), strict=True):
                    assert low <= len(text) <= high and pattern.fullmatch(text), (key, text)
                    checked += 1
    assert checked > 20


def test_version_flag(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"modelgate {__version__}"


def test_sync_command(tmp_path: Path) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    result = run_cli("sync", "--config", "config/modelgate.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "platform: full sync of 0 models" in result.stdout
    assert (tmp_path / "data" / "modelgate.db").exists()


def test_sync_progress_shows_a_failed_registry_as_failed(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens
    config = tmp_path / "modelgate.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path}/gw.db"
artifacts_dir = "{tmp_path}/artifacts"

[[registries]]
id = "platform"
kind = "native"

[[registries]]
id = "dead-mlflow"
kind = "mlflow"
url = "{dead}"
timeout_seconds = 0.5
"""
    )
    result = run_cli("sync", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    # The progress line (stderr) and the summary both say FAILED; the healthy one completed.
    assert "dead-mlflow FAILED" in result.stderr
    assert "dead-mlflow: FAILED: registry dead-mlflow: unreachable" in result.stderr
    assert "platform: full sync of 0 models" in result.stdout


def test_demo_serves_the_catalogue_and_stops_gracefully(tmp_path: Path) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_until_ready(port, proc, 60)
        wait_until_synced(port, 60)
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": "{ models(first: 20) { totalCount edges { node { name latestVersion { stage } } } } }"
            },
            timeout=10,
        )
        body = response.json()
        assert "errors" not in body
        assert body["data"]["models"]["totalCount"] == 12  # 8 native, 2 in Git, 2 in SageMaker
        git = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": '{ registries { id kind } versions(filter: { registries: ["models-git"] }) '
                "{ edges { node { uri stage nativeStage sourceUrl } } } "
                'impact(uri: "mg://platform/churn-predictor/3") { uri } '
                'native: modelVersion(uri: "mg://platform/churn-predictor/3") { sourceUrl } }'
            },
            timeout=10,
        ).json()["data"]
        assert {r["kind"] for r in git["registries"]} == {"NATIVE", "GTO", "SAGEMAKER"}  # three kinds
        stages = {
            e["node"]["uri"]: (e["node"]["stage"], e["node"]["nativeStage"]) for e in git["versions"]["edges"]
        }
        assert stages["mg://models-git/churn-gbm/v1.0.0"] == ("PRODUCTION", "prod")
        # A Git registry links to its repository (the demo's is local); the native one has no other UI.
        links = {e["node"]["sourceUrl"] for e in git["versions"]["edges"]}
        assert len(links) == 1 and links.pop().startswith("file:///")
        assert git["native"] == {"sourceUrl": None}
        # Lineage crosses from a Git tag to the native registry.
        assert "mg://models-git/churn-gbm/v1.0.0" in {v["uri"] for v in git["impact"]}
        assert_sagemaker_is_federated(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert "Federating 3 registry kinds: native, gto, sagemaker." in output, output
    assert "endpoint fraud-detector-live sends 90% to v1 and 10% to v2" in output
    # uvicorn finishes in-flight work, then re-raises SIGTERM so supervisors see it.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


def graphql(port: int, query: str) -> dict:
    body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=20).json()
    assert "errors" not in body, body
    return dict(body["data"])


def assert_sagemaker_is_federated(port: int) -> None:
    """The demo's SageMaker registry (moto, filled with boto3) as the catalogue
    reads it: healthy, the same artifact as a native version, derived from
    native versions, two PRODUCTION versions, and an endpoint's traffic."""
    data = graphql(
        port,
        "{ registries { id kind state versionCount } "
        'copy: lineage(uri: "mg://fraud-sagemaker/fraud-detector-sm/1", depth: 1) '
        "{ edges { source target relation evidence } } "
        'same: impact(uri: "mg://platform/fraud-detector/5") { uri } '
        'derived: impact(uri: "mg://platform/fraud-detector/6") { uri } '
        'churn: impact(uri: "mg://platform/churn-predictor/3") { uri } '
        "conflicts: models(filter: { multipleProduction: true }) { edges { node { uri } } } "
        'v2: modelVersion(uri: "mg://fraud-sagemaker/fraud-detector-sm/2") '
        "{ stage nativeStage semver sourceUrl } "
        'endpoints(registry: "fraud-sagemaker") { name status '
        "traffic { variant percent version { uri } } } }",
    )
    sagemaker = next(r for r in data["registries"] if r["id"] == "fraud-sagemaker")
    assert sagemaker == {"id": "fraud-sagemaker", "kind": "SAGEMAKER", "state": "HEALTHY", "versionCount": 4}
    # ModelDataUrl equals the native version's artifact: the two are one model (SAME_AS).
    same_as = {(e["source"], e["target"]) for e in data["copy"]["edges"] if e["relation"] == "SAME_AS"}
    assert ("mg://fraud-sagemaker/fraud-detector-sm/1", "mg://platform/fraud-detector/5") in same_as
    assert "mg://fraud-sagemaker/fraud-detector-sm/1" in {v["uri"] for v in data["same"]}
    # lineage.parent in CustomerMetadataProperties: derived from native versions.
    assert "mg://fraud-sagemaker/fraud-detector-sm/2" in {v["uri"] for v in data["derived"]}
    assert "mg://fraud-sagemaker/churn-retention-offers/2" in {v["uri"] for v in data["churn"]}
    # Two Approved packages: two PRODUCTION versions, a conflict the catalogue reports.
    assert [e["node"]["uri"] for e in data["conflicts"]["edges"]] == [
        "mg://fraud-sagemaker/fraud-detector-sm"
    ]
    # A local emulator has no AWS console to link to.
    assert data["v2"] == {
        "stage": "PRODUCTION",
        "nativeStage": "Approved",
        "semver": "1.5.0",
        "sourceUrl": None,
    }
    assert data["endpoints"] == [
        {
            "name": "fraud-detector-live",
            "status": "InService",
            "traffic": [
                {
                    "variant": "primary",
                    "percent": 90.0,
                    "version": {"uri": "mg://fraud-sagemaker/fraud-detector-sm/1"},
                },
                {
                    "variant": "canary",
                    "percent": 10.0,
                    "version": {"uri": "mg://fraud-sagemaker/fraud-detector-sm/2"},
                },
            ],
        }
    ]


def test_demo_without_moto_says_how_to_add_it_and_serves_the_other_kinds(tmp_path: Path) -> None:
    """Installed without the ``demo`` extra: moto cannot be imported (here a
    package of that name that refuses to import stands in for its absence)."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    hidden = tmp_path / "no-moto" / "moto"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('moto is not installed')\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "--no-git", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(hidden.parent)},
    )
    try:
        wait_until_ready(port, proc, 60)
        wait_until_synced(port, 60)
        kinds = {r["kind"] for r in graphql(port, "{ registries { kind } }")["registries"]}
        assert kinds == {"NATIVE"}
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert "SageMaker registry left out: the emulator is not installed" in output, output
    assert "pip install 'modelgate[demo]'" in output
    assert "Federating 1 registry kind: native." in output
    assert "Traceback" not in output


def test_search_and_show_commands(tmp_path: Path) -> None:
    import asyncio

    from gateway.config import load_settings

    shutil.copytree(REPO / "config", tmp_path / "config")

    async def seed() -> None:
        import os as _os

        cwd = _os.getcwd()
        _os.chdir(tmp_path)
        try:
            gw = await Gateway.open(load_settings("config/modelgate.toml"))
            try:
                await seed_demo(gw)
            finally:
                await gw.aclose()
        finally:
            _os.chdir(cwd)

    asyncio.run(seed())
    found = run_cli("search", "fraud", "--json", "--config", "config/modelgate.toml", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    body = json.loads(found.stdout)
    assert body["total"] == 1 and body["models"][0]["uri"] == "mg://platform/fraud-detector"
    assert body["models"][0]["latest_version"]["stage"] == "STAGING"
    table = run_cli("search", "--stage", "PRODUCTION", "--config", "config/modelgate.toml", cwd=tmp_path)
    assert table.returncode == 0 and "8 models" in table.stdout and "fraud-detector" in table.stdout
    shown = run_cli(
        "show", "mg://platform/fraud-detector/5", "--json", "--config", "config/modelgate.toml", cwd=tmp_path
    )
    assert shown.returncode == 0 and json.loads(shown.stdout)["stage"] == "PRODUCTION"
    human = run_cli("show", "mg://platform/fraud-detector", "--config", "config/modelgate.toml", cwd=tmp_path)
    assert human.returncode == 0 and "PRODUCTION" in human.stdout and "auc=0.914" in human.stdout
    missing = run_cli("show", "mg://platform/nope", "--config", "config/modelgate.toml", cwd=tmp_path)
    assert missing.returncode == 1 and "not in the catalogue" in missing.stderr
    bad = run_cli("search", "--limit", "0", "--config", "config/modelgate.toml", cwd=tmp_path)
    assert bad.returncode == 2


def listening_processes(port: int) -> set[int]:
    """The processes holding a socket that listens on ``port`` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                found.add(int(entry.name))
        except OSError:
            continue  # exited meanwhile
    return found


def start_workers(command: str, tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """``modelgate COMMAND --workers 2`` on the shipped config, ready to answer."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", command, "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_until_ready(port, proc, 90)
    return proc, port


def wait_for_workers(port: int, seconds: float, message: str, unlike: int | None = None) -> set[int]:
    """The two listening worker processes, once there are two (and ``unlike`` is gone)."""
    deadline = time.monotonic() + seconds
    while len(workers := listening_processes(port)) < 2 or unlike in workers:
        assert time.monotonic() < deadline, message
        time.sleep(0.2)
    return workers


def test_several_workers_share_one_store_and_seed_once(tmp_path: Path) -> None:
    proc, port = start_workers("demo", tmp_path)
    try:
        totals = {
            httpx.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": "{ versions { totalCount } }"}, timeout=10
            ).json()["data"]["versions"]["totalCount"]
            for _ in range(10)  # answered by either worker
        }
        assert totals == {31}  # seeded once, not once per worker
        if balanced():  # each worker listens on its own socket: the kernel spreads connections
            assert len(wait_for_workers(port, 30, "two workers never listened")) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert output.count("this one serves only") == 1, output  # one worker syncs the SQLite store


@pytest.mark.skipif(not balanced(), reason="per-worker SO_REUSEPORT sockets are a Linux feature")
def test_a_dead_worker_is_replaced_and_a_taken_port_is_refused(tmp_path: Path) -> None:
    proc, port = start_workers("serve", tmp_path)
    try:
        victim = max(wait_for_workers(port, 30, "two workers never listened"))  # the second may lag
        os.kill(victim, signal.SIGKILL)
        wait_for_workers(port, 60, "the dead worker was not replaced", unlike=victim)
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200

        taken = run_cli("serve", "--port", str(port), "--workers", "2", cwd=tmp_path)
        assert taken.returncode == 1
        assert f"127.0.0.1:{port}" in taken.stderr and "Traceback" not in taken.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "starting another" in output  # the replacement is logged


def test_demo_with_mlflow_federates_with_lineage_and_a_stage_conflict(
    tmp_path: Path, mlflow_url: str
) -> None:
    """`modelgate demo --with-mlflow` (here filling the session's real MLflow server
    through --mlflow-url, instead of starting a second one): three registries, an
    MLflow version that is a native one's artifact, fine-tunes across registries,
    and the model MLflow holds in production twice (a legacy stage and an alias)."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "demo",
            "--with-mlflow",
            "--mlflow-url",
            mlflow_url,
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )

    def ask(query: str) -> dict:
        body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=20).json()
        assert "errors" not in body, body
        return body["data"]

    try:
        wait_until_ready(port, proc, 90)
        wait_until_synced(port, 90)
        registries = {r["id"]: r for r in ask("{ registries { id kind state versionCount } }")["registries"]}
        assert {r["kind"] for r in registries.values()} == {"NATIVE", "MLFLOW", "GTO", "SAGEMAKER"}
        assert registries["fraud-mlflow"]["versionCount"] >= 4
        linked = ask('{ modelVersion(uri: "mg://fraud-mlflow/fraud-detector-eu/2") { sourceUrl } }')
        # MLflow's own UI: the version's page on the tracking server.
        assert linked["modelVersion"]["sourceUrl"] == f"{mlflow_url}/#/models/fraud-detector-eu/versions/2"
        # The training run's metric history, read live: every epoch, in step order.
        curves = ask(
            '{ v: modelVersion(uri: "mg://fraud-mlflow/fraud-detector-eu/2") { metrics { key value } '
            "all: metricHistory { key points { step value at } } "
            'last: metricHistory(keys: ["val_auc"], limit: 3) { key points { step value } } } '
            'native: modelVersion(uri: "mg://platform/fraud-detector/5") { metricHistory { key } } }'
        )
        series = {s["key"]: s["points"] for s in curves["v"]["all"]}
        assert set(series) == {"val_auc", "train_loss"}
        assert [p["step"] for p in series["val_auc"]] == list(range(8))
        assert series["val_auc"][0]["value"] == 0.861 and series["train_loss"][-1]["value"] == 0.183
        assert all(p["at"] for p in series["val_auc"])
        assert {"key": "val_auc", "value": 0.931} in curves["v"]["metrics"]  # the run's latest value
        assert curves["v"]["last"] == [
            {
                "key": "val_auc",
                "points": [
                    {"step": 5, "value": 0.93},
                    {"step": 6, "value": 0.931},
                    {"step": 7, "value": 0.931},
                ],
            }
        ]
        assert curves["native"]["metricHistory"] == []  # the native registry keeps no history
        too_many = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": '{ modelVersion(uri: "mg://fraud-mlflow/fraud-detector-eu/2") { metricHistory(limit: 0) { key } } }'
            },
            timeout=20,
        ).json()
        assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        eu = ask(
            '{ models(filter: { registries: ["fraud-mlflow"], multipleProduction: true }) '
            "{ edges { node { uri } } facets { conflicts { value count } } } }"
        )["models"]
        # The session's MLflow server is shared: other tests' models may be in conflict too.
        assert "mg://fraud-mlflow/fraud-detector-eu" in [e["node"]["uri"] for e in eu["edges"]]
        impact = ask('{ impact(uri: "mg://platform/fraud-detector/5") { uri } }')["impact"]
        assert {"mg://fraud-mlflow/fraud-detector-eu/1", "mg://fraud-mlflow/fraud-detector-eu/2"} <= {
            v["uri"] for v in impact
        }
        distilled = ask('{ impact(uri: "mg://research/llm-summarizer-support/2") { uri } }')["impact"]
        assert "mg://fraud-mlflow/support-summarizer-distilled/1" in {v["uri"] for v in distilled}
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert "registry fraud-mlflow" in output and "Traceback" not in output, output
    assert "Federating 4 registry kinds: native, gto, sagemaker, mlflow." in output
