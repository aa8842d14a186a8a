"""The governance commands, without a server: policy check, audit verify and
export, report, retention plan and apply; exit codes 0, 1, 2 as documented."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from adapters.protocol import PromotionContext
from gateway.cli import main
from gateway.domain import ModelCard, Stage
from tests.governance.conftest import POLICIES, complete, register, write_policies
from tests.support import make_settings

CONFIG = """
[storage]
url = "sqlite:///{db}"
artifacts_dir = "{dir}/artifacts"
[governance]
policies = "{policies}"
[[registries]]
id = "platform"
kind = "native"
team = "platform"
[[registries]]
id = "research"
kind = "native"
team = "research"
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """A config and a database holding one compliant and one non-compliant version."""
    db = tmp_path / "mg.db"
    policies = write_policies(tmp_path)
    config = tmp_path / "modelgate.toml"
    config.write_text(CONFIG.format(db=db, dir=tmp_path, policies=policies))

    async def fill() -> None:
        from gateway.runtime import Gateway

        gw = await Gateway.open(
            make_settings(f"sqlite:///{db}", tmp_path, governance={"policies": str(policies)})
        )
        try:
            await register(gw, "fraud", **complete())
            bad = await register(gw, "fraud", **complete(model_card=ModelCard()))
            await gw.adapters["platform"].set_stage(bad, Stage.PRODUCTION, PromotionContext("ops"))
            await gw.sync.refresh_model("platform", "fraud")
        finally:
            await gw.aclose()

    asyncio.run(fill())
    return config, db


def test_policy_check(setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = setup
    assert main(["policy", "check", "--config", str(config)]) == 1  # an error-severity violation
    out = capsys.readouterr().out
    assert "3 policies, 2 promotion rules, 1 retention rules: valid" in out
    assert "mg://platform/fraud/2  error    card-complete" in out
    assert "2 versions checked, 1 non-compliant" in out
    lenient = write_policies(
        tmp_path, POLICIES.replace("severity: error", "severity: warning"), "lenient.yaml"
    )
    assert main(["policy", "check", "--config", str(config), "--policies", str(lenient)]) == 0
    broken = write_policies(
        tmp_path, "policies:\n  - id: typo\n    rule: 'version.metrics[\"auc\" > 1'\n", "b.yaml"
    )
    assert main(["policy", "check", "--config", str(config), "--policies", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "typo" in err and "Syntax error" in err


def test_audit_verify_export_and_tamper(setup: tuple[Path, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config, db = setup
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert "audit log intact" in capsys.readouterr().out
    export = tmp_path / "audit.jsonl"
    assert (
        main(["audit", "export", "--config", str(config), "--format", "jsonl", "--output", str(export)]) == 0
    )
    events = [json.loads(line) for line in export.read_text().splitlines()]
    assert events[0]["action"] == "policy.changed" and "version.registered" in {e["action"] for e in events}
    assert main(["audit", "verify", "--config", str(config), "--file", str(export)]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_events SET principal = 'mallory' WHERE seq = 3")
    capsys.readouterr()
    assert main(["audit", "verify", "--config", str(config)]) == 1
    assert "BROKEN at event #3" in capsys.readouterr().err


def test_report_and_retention(setup: tuple[Path, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config, _ = setup
    out = tmp_path / "report.json"
    assert main(["report", "--config", str(config), "--format", "json", "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert (report["totalVersions"], report["compliantVersions"]) == (2, 1)
    assert [v["policy"] for v in report["violations"]] == ["card-complete"]
    capsys.readouterr()
    assert (
        main(["report", "--config", str(config), "--format", "csv", "--view", "summary", "--team", "x"]) == 0
    )
    assert "total,all,0,0" in capsys.readouterr().out
    assert main(["retention", "plan", "--config", str(config)]) == 0
    assert "0 versions would be archived (dry run: nothing changed)" in capsys.readouterr().out
    assert main(["retention", "apply", "--config", str(config)]) == 0
    assert "0 archive requests, 0 not applied" in capsys.readouterr().out


def test_evidence_pack_from_the_command_line(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = setup
    out = tmp_path / "pack.html"
    args = ["evidence", "mg://platform/fraud/2", "--format", "html", "--output", str(out)]
    assert main([*args, "--config", str(config)]) == 0
    assert "wrote" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert "Evidence pack: fraud v2" in html and "card-complete" in html and "FAIL" in html
    pdf = tmp_path / "pack.pdf"
    assert main(["evidence", "mg://platform/fraud/2", "--output", str(pdf), "--config", str(config)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert main(["evidence", "mg://platform/fraud/9", "--config", str(config)]) == 1
    assert "no version mg://platform/fraud/9" in capsys.readouterr().err
