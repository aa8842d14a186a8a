"""The ``modelgate`` command takes references by stage or alias wherever it takes a
version URI: ``bom``, ``evidence``, ``show`` and ``lineage``, run as processes over
the demo catalogue (platform/fraud-detector: v5 PRODUCTION, v6 STAGING)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bom.test_delivery import REPO, seeded_config


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_config(tmp_path_factory.mktemp("refs-cli"))


def modelgate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", command, "--config", str(config), *rest],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_bom_of_a_reference_is_the_bom_of_the_version_holding_it(config: Path) -> None:
    done = modelgate(config, "bom", "mg://platform/fraud-detector@production")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["metadata"]["component"]["bom-ref"] == "mg://platform/fraud-detector/5"
    missing = modelgate(config, "bom", "mg://platform/fraud-detector@champion-of-nothing")
    assert missing.returncode == 1
    assert "no version of mg://platform/fraud-detector holds @champion-of-nothing" in missing.stderr


def test_show_and_evidence_resolve_a_stage(config: Path, tmp_path: Path) -> None:
    shown = modelgate(config, "show", "mg://platform/fraud-detector@staging", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["uri"] == "mg://platform/fraud-detector/6"
    out = tmp_path / "pack.html"
    evidence = modelgate(
        config,
        "evidence",
        "mg://platform/fraud-detector@production",
        "--format",
        "html",
        "--output",
        str(out),
    )
    assert evidence.returncode == 0, evidence.stderr
    assert "mg://platform/fraud-detector/5" in out.read_text()
    malformed = modelgate(config, "show", "mg://platform/fraud-detector/5@production")
    assert malformed.returncode == 2 and "malformed modelgate reference" in malformed.stderr


def test_lineage_starts_from_the_version_holding_the_ref(config: Path) -> None:
    done = modelgate(config, "lineage", "mg://platform/fraud-detector@production", "--json")
    assert done.returncode == 0, done.stderr
    assert "mg://platform/fraud-detector/5" in done.stdout
