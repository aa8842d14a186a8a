"""The client's parts that need no gateway: model card files, which files a
registration uploads, safe pull destinations, the promotion wait's backoff and
deadline (on a clock the test sets), the progress bar's terminal rule, and a
quick import (httpx is not imported until a Client is built)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from modelgate_client import Client, ModelgateError, PromotionRefused, WaitTimedOut
from modelgate_client.credentials import ApiKey, BearerToken, GitHubActionsToken, NoCredentials, jwt_expiry
from modelgate_client.model_card import read_model_card
from modelgate_client.progress import NoProgress, TerminalBar, default_progress
from modelgate_client.results import PromotionRequest
from modelgate_client.transfers import collect_files, safe_destination

from tests.client.conftest import CLIENT_SRC


def test_markdown_model_card(tmp_path: Path) -> None:
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(
        "# fraud-detector\n\nFlags card fraud.\nIn real time.\n\n## Intended use\nCard payments.\n\n"
        "## How to cite\nignored\n\n## Limitations:\nNo wire transfers.\n\n## Bias assessment\nChecked.\n"
    )
    assert read_model_card(card) == {
        "summary": "Flags card fraud.\nIn real time.",
        "intendedUse": "Card payments.",
        "limitations": "No wire transfers.",
        "biasAssessment": "Checked.",
    }


def test_json_model_card_in_either_case(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"intended_use": "x", "limitations": "y", "trainingDataSummary": "z"}))
    assert read_model_card(card) == {"intendedUse": "x", "limitations": "y", "trainingDataSummary": "z"}
    card.write_text(json.dumps({"intendedUsage": "x"}))
    with pytest.raises(ModelgateError, match="no field 'intendedUsage'"):
        read_model_card(card)


def test_collect_files(tmp_path: Path) -> None:
    (tmp_path / "model" / "tok").mkdir(parents=True)
    (tmp_path / "model" / "w.bin").write_bytes(b"w")
    (tmp_path / "model" / "tok" / "v.txt").write_bytes(b"v")
    (tmp_path / "model" / ".git").mkdir()
    (tmp_path / "model" / ".git" / "HEAD").write_bytes(b"ref")
    files, directory = collect_files([tmp_path / "model"])
    assert directory and [f.path for f in files] == ["w.bin", "tok/v.txt"]
    single, directory = collect_files([tmp_path / "model" / "w.bin"])
    assert not directory and [f.path for f in single] == ["w.bin"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "w.bin").write_bytes(b"x")
    with pytest.raises(ModelgateError, match=r"would both be 'w\.bin'"):
        collect_files([tmp_path / "model" / "w.bin", tmp_path / "other" / "w.bin"])


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", "a//b", "a\\..\\b", ""])
def test_pull_never_writes_outside_its_directory(tmp_path: Path, path: str) -> None:
    with pytest.raises(ModelgateError):
        safe_destination(tmp_path, path)


def test_pull_destination(tmp_path: Path) -> None:
    assert safe_destination(tmp_path, "tok/v.txt") == tmp_path / "tok" / "v.txt"


def request(status: str, **extra: Any) -> PromotionRequest:
    return PromotionRequest.from_json(
        {"id": "r1", "versionUri": "mg://p/m/1", "fromStage": "DRAFT", "targetStage": "STAGING",
         "status": status, "requestedBy": "alice", "requiredApprovals": ["TEAM_LEAD"], "approvals": [],
         "violations": [], **extra}
    )  # fmt: skip


class Scripted(Client):
    """A Client whose request lookups answer from a script (no network)."""

    def __init__(self, answers: list[PromotionRequest]):
        self.answers = answers
        self.asked = 0

    def promotion_request(self, request_id: str, uri: str | None = None) -> PromotionRequest:
        self.asked += 1
        return self.answers.pop(0)


def test_wait_backs_off_and_returns_once_applied() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    mg = Scripted([request("PENDING")] * 4 + [request("APPLIED")])
    done = mg.wait_for_promotion(request("PENDING"), timeout=100, interval=1, max_interval=3,
                                 sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert done.status == "APPLIED" and sleeps == [1, 1.5, 2.25, 3, 3]


def test_wait_times_out_with_the_request_open() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    mg = Scripted([request("PENDING")] * 100)
    with pytest.raises(WaitTimedOut) as timed_out:
        mg.wait_for_promotion(request("PENDING"), timeout=10, interval=2, sleep=sleep, clock=lambda: now[0])
    assert now[0] == 10 and "still PENDING after 10 s" in timed_out.value.message
    assert timed_out.value.exit_code == 1


def test_wait_explains_a_refusal() -> None:
    blocked = request("BLOCKED", violations=[{"policy": "card", "severity": "error", "message": "no card"}])
    with pytest.raises(PromotionRefused, match=r"blocked by policy: \[error\] card: no card"):
        Scripted([]).wait_for_promotion(blocked)
    failed = request("FAILED", error="registry down")
    with pytest.raises(PromotionRefused, match="registry down"):
        Scripted([]).wait_for_promotion(failed)


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert isinstance(default_progress(), NoProgress)
    monkeypatch.setattr(sys, "stderr", Tty())
    assert isinstance(default_progress(), TerminalBar)
    out = io.StringIO()
    bar = TerminalBar(out)
    bar.start("model.bin", 4 * 1024 * 1024)
    bar.advance(4 * 1024 * 1024)
    bar.finish()
    assert "model.bin" in out.getvalue() and "100%" in out.getvalue() and "4.0/4.0 MiB" in out.getvalue()


def test_credentials_order() -> None:
    def creds(env: dict[str, str], **given: str) -> Any:
        return Client("http://gw", environ=env, **given).credentials

    github = {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://t/x?v=1", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "r"}
    assert isinstance(creds({}), NoCredentials)
    assert isinstance(creds(github), GitHubActionsToken)
    assert creds(github).url == "http://t/x?v=1&audience=modelgate"
    assert creds({**github, "MODELGATE_AUDIENCE": "a b"}).url.endswith("audience=a%20b")
    assert isinstance(creds({**github, "MODELGATE_TOKEN": "t"}), BearerToken)
    assert creds({"MODELGATE_TOKEN": "t", "MODELGATE_API_KEY": "k"}).headers() == {"x-api-key": "k"}
    assert isinstance(creds({"MODELGATE_API_KEY": "k"}, token="given"), BearerToken)
    assert isinstance(creds({}, api_key="k"), ApiKey)
    with pytest.raises(ModelgateError, match="MODELGATE_URL"):
        Client(environ={})


def test_jwt_expiry() -> None:
    assert jwt_expiry("x.eyJleHAiOjE3MDAwMDAwMDB9.y") == 1700000000
    assert jwt_expiry("not-a-jwt") is None


def test_importing_the_package_does_not_import_httpx() -> None:
    """The import stays quick: httpx (~90 ms) loads when a Client is built."""
    code = "import sys, modelgate_client; print('httpx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(CLIENT_SRC)}, check=True)  # fmt: skip
    assert done.stdout.strip() == "False"


def test_training_code_is_read_from_its_text_or_from_a_github_job() -> None:
    from modelgate_client.client import code_of_ci, code_ref

    assert code_ref("https://github.com/acme/fraud@0123abc#train.py") == {
        "repository": "https://github.com/acme/fraud",
        "commit": "0123abc",
        "path": "train.py",
    }
    assert code_ref("git@github.com:acme/fraud.git@0123abc") == {
        "repository": "git@github.com:acme/fraud.git",
        "commit": "0123abc",
    }
    assert code_ref("https://github.com/acme/fraud") == {"repository": "https://github.com/acme/fraud"}
    job = {
        "GITHUB_REPOSITORY": "acme/fraud",
        "GITHUB_SHA": "feedbeef",
        "GITHUB_SERVER_URL": "https://ghe.acme",
    }
    assert code_of_ci(job) == {"repository": "https://ghe.acme/acme/fraud", "commit": "feedbeef"}
    assert code_of_ci({"GITHUB_REPOSITORY": "acme/fraud"}) is None  # no commit: not a job
