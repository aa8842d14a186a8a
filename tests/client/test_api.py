"""``modelgate_client.Client`` against a real ``modelgate serve`` process with
API-key auth and a file:// model store: registration (upload, digest check),
reads, promotions by two principals, policy checks, lineage, pulls whose every
digest is verified, and the errors a user sees (code and message, nothing else)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from modelgate_client import (
    Client,
    ConnectionFailed,
    DigestMismatch,
    ModelgateError,
    PromotionRefused,
    Refused,
    WaitTimedOut,
)
from modelgate_client.results import KeyValues

from tests.client.conftest import KEYS, free_port


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def alice(gateway_url: str) -> Client:
    return Client(gateway_url, api_key=KEYS["alice"])


@pytest.fixture
def bob(gateway_url: str) -> Client:
    return Client(gateway_url, api_key=KEYS["bob"])


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(os.urandom(2_500_000))
    return path


def test_register_uploads_the_file_and_records_everything(
    alice: Client, weights: Path, tmp_path: Path
) -> None:
    card = tmp_path / "CARD.md"
    card.write_text(
        "# fraud\nScores card transactions.\n\n## Intended use\nCards.\n\n## Limitations\nNo wires.\n"
    )
    parent = alice.register("platform", name := unique("fraud"), [weights], metrics={"auc": 0.85})
    v = alice.register(
        "platform",
        name,
        [weights],
        semver="1.1.0",
        metrics={"auc": 0.91, "f1": 0.7},
        params={"lr": 0.01, "depth": 6},
        datasets=["s3://data/fraud/train.parquet"],
        card=card,
        parent=parent.uri,
        tags={"owner": "alice"},
        description="second try",
    )
    assert v.uri == f"mg://platform/{name}/2" and v.stage == "DRAFT" and v.semver == "1.1.0"
    assert v.metrics.to_dict() == {"auc": 0.91, "f1": 0.7}
    assert v.params.to_dict() == {"lr": "0.01", "depth": "6"}
    assert v.tags == {"owner": "alice"} and v.parent == parent.uri and v.description == "second try"
    assert [d.uri for d in v.datasets] == ["s3://data/fraud/train.parquet"]
    assert v.model_card["summary"] == "Scores card transactions."
    assert v.model_card["intendedUse"] == "Cards." and v.model_card["limitations"] == "No wires."
    [file] = v.files
    assert file.path == "model.bin" and file.size == weights.stat().st_size
    assert v.artifact_digest == file.digest
    # what the store holds is the file's bytes (file:// store: read it back)
    assert Path(urlsplit(v.artifact_uri or "").path).read_bytes() == weights.read_bytes()
    assert repr(v).startswith(f"ModelVersion('{v.uri}', stage=DRAFT, semver='1.1.0', metrics={{'auc': 0.91")


def test_show_search_and_notebook_conversions(alice: Client, weights: Path) -> None:
    v = alice.register(
        "platform", name := unique("churn"), [weights], metrics={"auc": 0.88}, params={"lr": 0.1}
    )
    model = alice.show(f"mg://platform/{name}")
    assert model.uri == f"mg://platform/{name}" and model.team == "platform"  # type: ignore[union-attr]
    assert alice.show(v.uri).uri == v.uri
    found = alice.search(name)
    assert [m.uri for m in found] == [f"mg://platform/{name}"] and found.total == 1
    assert [x.uri for x in alice.search(name, versions=True, stages=["DRAFT"])] == [v.uri]
    assert alice.search(name, stages=["PRODUCTION"]).total == 0
    frame = alice.version(v.uri).metrics.to_pandas()
    assert frame.loc["auc", "value"] == 0.88 and list(frame.columns) == ["value"]
    assert alice.version(v.uri).params.to_pandas().loc["lr", "value"] == "0.1"


def test_to_pandas_without_pandas_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pandas(name: str, *args: object, **kwargs: object) -> object:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match="pip install pandas"):
        KeyValues({"auc": 0.9}).to_pandas()


def test_promotion_approved_by_another_principal_is_applied(
    alice: Client, bob: Client, weights: Path
) -> None:
    v = alice.register("platform", unique("ranker"), [weights], metrics={"auc": 0.9})
    request = alice.request_promotion(v.uri, "staging", reason="ready")
    assert request.status == "PENDING" and request.required_approvals == ("TEAM_LEAD",)
    with pytest.raises(Refused) as own:  # separation of duties: FORBIDDEN, a refusal
        alice.approve(request.id)
    assert own.value.code == "FORBIDDEN" and "separation of duties" in own.value.message
    approved = bob.approve(request.id, comment="looks good")
    assert approved.status == "APPLIED" and [a.principal for a in approved.approvals] == ["bob"]
    assert alice.wait_for_promotion(request.id, timeout=5).status == "APPLIED"
    assert alice.version(v.uri).stage == "STAGING"


def test_blocked_rejected_withdrawn_and_timed_out(alice: Client, bob: Client, weights: Path) -> None:
    v = alice.register("platform", unique("scorer"), [weights], metrics={"auc": 0.9})
    # PRODUCTION needs a card with limitations: BLOCKED at once, a refusal naming the policy
    with pytest.raises(PromotionRefused) as blocked:
        alice.promote(v.uri, "PRODUCTION")
    assert blocked.value.code == "BLOCKED" and "production-model-card" in blocked.value.message

    waiting = alice.request_promotion(v.uri, "STAGING")
    with pytest.raises(WaitTimedOut) as timed_out:
        alice.wait_for_promotion(waiting, timeout=0.5, interval=0.1)
    assert timed_out.value.code == "TIMEOUT" and "PENDING" in timed_out.value.message
    with pytest.raises(Refused) as not_theirs:
        bob.withdraw(waiting.id)
    assert not_theirs.value.code == "FORBIDDEN"
    withdrawn = alice.withdraw(waiting.id, reason="wrong version")
    assert withdrawn.status == "REJECTED" and withdrawn.rejection is not None
    assert withdrawn.rejection.principal == "alice" and withdrawn.rejection.comment == "wrong version"

    again = alice.request_promotion(v.uri, "STAGING")
    rejected = bob.reject(again.id, "not yet")
    with pytest.raises(PromotionRefused) as refused:
        alice.wait_for_promotion(rejected)
    assert refused.value.code == "REJECTED" and "bob" in refused.value.message


def test_check_lists_error_violations(alice: Client, weights: Path) -> None:
    good = alice.register("platform", name := unique("check"), [weights], metrics={"auc": 0.95})
    weak = alice.register("platform", name, [weights], metrics={"auc": 0.5})
    bare = alice.register("platform", name, [weights])
    assert alice.check(good.uri).compliant and not alice.check(good.uri).violations
    weak_check = alice.check(weak.uri)
    assert weak_check.compliant and [v.policy for v in weak_check.violations] == ["auc-good-enough"]
    bare_check = alice.check(bare.uri)
    assert not bare_check.compliant and [v.policy for v in bare_check.errors] == ["auc-recorded"]


def test_lineage_and_impact(alice: Client, weights: Path) -> None:
    dataset = f"s3://data/{unique('set')}.parquet"
    base = alice.register(
        "platform", name := unique("lm"), [weights], metrics={"auc": 0.9}, datasets=[dataset]
    )
    tuned = alice.register("platform", name, [weights], metrics={"auc": 0.9}, parent=base.uri)
    graph = alice.lineage(tuned.uri, direction="UPSTREAM")
    relations = {(e.source, e.target) for e in graph.edges} | {(e.target, e.source) for e in graph.edges}
    assert (tuned.uri, base.uri) in relations
    assert [v.uri for v in alice.impact(dataset).versions] == [base.uri, tuned.uri]


def test_pull_verifies_every_digest(alice: Client, weights: Path, tmp_path: Path) -> None:
    v = alice.register("platform", unique("pulled"), [weights], metrics={"auc": 0.9})
    [pulled] = alice.pull(v.uri, tmp_path / "out")
    assert Path(pulled.path).read_bytes() == weights.read_bytes() and pulled.digest == v.files[0].digest
    again = alice.pull(v.uri, tmp_path / "out")  # already there with the right digest: kept
    assert again == [pulled]

    # The stored bytes altered behind the gateway's back (same size): refused, nothing written.
    stored = Path(urlsplit(v.artifact_uri or "").path)
    stored.write_bytes(os.urandom(stored.stat().st_size))
    with pytest.raises(DigestMismatch) as mismatch:
        alice.pull(v.uri, tmp_path / "fresh")
    assert mismatch.value.code == "DIGEST_MISMATCH" and v.files[0].digest in mismatch.value.message
    assert not [p for p in (tmp_path / "fresh").rglob("*") if p.is_file()]


def test_pull_through_httpx_when_a_proxy_applies(
    alice: Client, weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a proxy in the environment downloads go through httpx (which honours
    it) instead of http.client; same checks, same result."""
    from modelgate_client import transfers

    v = alice.register("platform", unique("proxied"), [weights], metrics={"auc": 0.9})
    monkeypatch.setattr(transfers, "_direct", lambda url: False)
    [pulled] = alice.pull(v.uri, tmp_path / "out")
    assert Path(pulled.path).read_bytes() == weights.read_bytes()
    stored = Path(urlsplit(v.artifact_uri or "").path)
    stored.write_bytes(b"x" * stored.stat().st_size)
    with pytest.raises(DigestMismatch):
        alice.pull(v.uri, tmp_path / "again")


def test_directory_registration(alice: Client, tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(100_000))
    (model / "tokenizer" / "vocab.txt").write_text("a b c")
    (model / ".DS_Store").write_text("hidden: left out")
    v = alice.register("platform", unique("dir"), [model], metrics={"auc": 0.9})
    assert sorted(f.path for f in v.files) == ["tokenizer/vocab.txt", "weights.bin"]
    pulled = alice.pull(v.uri, tmp_path / "out")
    assert sorted(Path(p.path).relative_to(tmp_path / "out").as_posix() for p in pulled) == [
        "tokenizer/vocab.txt",
        "weights.bin",
    ]
    assert (tmp_path / "out" / "tokenizer" / "vocab.txt").read_text() == "a b c"
    assert (tmp_path / "out" / "weights.bin").read_bytes() == (model / "weights.bin").read_bytes()
    assert not (tmp_path / "out" / ".DS_Store").exists()


def test_errors_carry_the_gateway_code(gateway_url: str, alice: Client, weights: Path) -> None:
    with pytest.raises(ModelgateError) as absent:
        alice.version("mg://platform/no-such-model/1")
    assert absent.value.code == "NOT_FOUND" and absent.value.exit_code == 2
    with pytest.raises(Refused) as forbidden:  # research's member writing to platform
        Client(gateway_url, api_key=KEYS["rita"]).register("platform", unique("x"), [weights])
    assert forbidden.value.code == "FORBIDDEN"
    with pytest.raises(ModelgateError) as unauthenticated:
        Client(gateway_url, api_key="mg_wrong").search()
    assert unauthenticated.value.code == "UNAUTHENTICATED" and unauthenticated.value.status == 401
    with pytest.raises(ConnectionFailed) as refused:
        Client(f"http://127.0.0.1:{free_port()}").search()
    assert refused.value.code == "CONNECTION_FAILED" and "cannot reach the gateway" in refused.value.message
    with pytest.raises(ModelgateError) as bad_url:
        Client("modelgate.internal:8080")
    assert bad_url.value.code == "BAD_URL"
