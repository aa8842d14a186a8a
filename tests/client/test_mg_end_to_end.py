"""``mg`` end to end against a real gateway process, as a CI job runs it: one
version through ``mg register``, ``mg promote --to STAGING --wait`` (in the
background) and ``mg approve`` as another principal, ``mg show``, ``mg pull``
and ``mg check``, with the exit codes a pipeline branches on: 0 done, 1 refused
(blocked, rejected, timed out, digest mismatch, failed check), 2 usage or
connection error. No command ever prints a traceback (``run_mg`` asserts it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from modelgate_client import Client

from tests.client.conftest import CLIENT_SRC, KEYS, free_port, run_mg


def background_mg(*args: str, url: str, key: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env.update({"PYTHONPATH": str(CLIENT_SRC), "MODELGATE_URL": url, "MODELGATE_API_KEY": key})
    return subprocess.Popen(
        [sys.executable, "-m", "modelgate_client", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def pending_request(url: str, uri: str, within: float = 60) -> str:
    """The id of the open request for ``uri``, once the background ``mg promote`` made it."""
    deadline = time.monotonic() + within
    with Client(url, api_key=KEYS["bob"]) as bob:
        while time.monotonic() < deadline:
            found = [r for r in bob.promotion_requests(uri=uri) if r.status == "PENDING"]
            if found:
                return found[0].id
            time.sleep(0.2)
    raise AssertionError(f"no request for {uri} appeared")


def test_one_version_from_register_to_pull(gateway_url: str, tmp_path: Path) -> None:
    alice, bob = KEYS["alice"], KEYS["bob"]
    model = f"fraud-{uuid.uuid4().hex[:6]}"
    weights = tmp_path / "model.pkl"
    weights.write_bytes(os.urandom(1_200_000))
    card = tmp_path / "CARD.md"
    card.write_text("Flags fraud.\n\n## Limitations\nCard payments only.\n")

    registered = run_mg(
        "register", "--registry", "platform", "--model", model, str(weights),
        "--semver", "1.0.0", "--metric", "auc=0.93", "--param", "lr=0.05",
        "--dataset", "s3://data/fraud/2026-12.parquet", "--card", str(card), "--tag", "ci=true",
        url=gateway_url, key=alice,
    )  # fmt: skip
    assert registered.code == 0, registered.err
    uri = registered.out.strip()
    assert uri == f"mg://platform/{model}/1"

    # promote --wait in the background; bob approves meanwhile
    waiting = background_mg("promote", uri, "--to", "STAGING", "--wait", "--timeout", "120", "--poll", "0.2",
                            url=gateway_url, key=alice)  # fmt: skip
    request_id = pending_request(gateway_url, uri)
    own = run_mg("approve", request_id, url=gateway_url, key=alice)
    assert own.code == 1 and "FORBIDDEN" in own.err  # the requester may not approve
    approved = run_mg("approve", request_id, "--comment", "ok", url=gateway_url, key=bob)
    assert approved.code == 0, approved.err
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "APPLIED" in out and "Traceback" not in err

    shown = run_mg("show", uri, "--json", url=gateway_url, key=alice)
    assert shown.code == 0 and json.loads(shown.out)["stage"] == "STAGING"
    by_stage = run_mg("show", f"mg://platform/{model}@staging", "--json", url=gateway_url, key=alice)
    assert by_stage.code == 0, by_stage.err
    assert json.loads(by_stage.out)["uri"] == uri  # the reference answers the concrete version
    no_holder = run_mg("show", f"mg://platform/{model}@production", url=gateway_url, key=alice)
    assert no_holder.code == 2 and "NOT_FOUND" in no_holder.err

    pulled = run_mg("pull", f"mg://platform/{model}@staging", "-o", str(tmp_path / "pulled"),
                    url=gateway_url, key=alice)  # fmt: skip
    assert pulled.code == 0, pulled.err
    assert (tmp_path / "pulled" / "model.pkl").read_bytes() == weights.read_bytes()
    default_dir = run_mg("pull", uri, url=gateway_url, key=alice, cwd=tmp_path)
    assert default_dir.code == 0 and (tmp_path / f"{model}-1" / "model.pkl").is_file()

    checked = run_mg("check", uri, url=gateway_url, key=alice)
    assert checked.code == 0 and "compliant" in checked.out

    searched = run_mg("search", model, "--stage", "STAGING", "--json", url=gateway_url, key=alice)
    assert searched.code == 0 and [m["uri"] for m in json.loads(searched.out)["items"]] == [
        f"mg://platform/{model}"
    ]

    lineage = run_mg("lineage", "s3://data/fraud/2026-12.parquet", "--impact", url=gateway_url, key=alice)
    assert lineage.code == 0 and uri in lineage.out

    # tampered bytes in the store: the pull is refused (exit 1) and writes nothing
    stored = Path(urlsplit(Client(gateway_url, api_key=alice).version(uri).artifact_uri or "").path)
    stored.write_bytes(os.urandom(stored.stat().st_size))
    tampered = run_mg("pull", uri, "-o", str(tmp_path / "tampered"), url=gateway_url, key=alice)
    assert tampered.code == 1 and "DIGEST_MISMATCH" in tampered.err
    assert not (tmp_path / "tampered" / "model.pkl").exists()


def test_refusals_exit_1(gateway_url: str, tmp_path: Path) -> None:
    alice, bob = KEYS["alice"], KEYS["bob"]
    model = f"risk-{uuid.uuid4().hex[:6]}"
    weights = tmp_path / "m.bin"
    weights.write_bytes(b"weights")
    uri = run_mg("register", "--registry", "platform", "--model", model, str(weights), "--metric", "auc=0.9",
                 url=gateway_url, key=alice).out.strip()  # fmt: skip

    blocked = run_mg("promote", uri, "--to", "PRODUCTION", url=gateway_url, key=alice)
    assert blocked.code == 1 and "BLOCKED" in blocked.out and "production-model-card" in blocked.out

    timed_out = run_mg("promote", uri, "--to", "STAGING", "--wait", "--timeout", "1", "--poll", "0.2",
                       url=gateway_url, key=alice)  # fmt: skip
    assert timed_out.code == 1 and "TIMEOUT" in timed_out.err

    request_id = pending_request(gateway_url, uri)
    rejected_wait = background_mg("promote", uri, "--to", "STAGING", "--wait", "--poll", "0.2",
                                  url=gateway_url, key=alice)  # fmt: skip
    out, err = rejected_wait.communicate(timeout=60)
    assert rejected_wait.returncode == 1 and "CONFLICT" in err  # already an open request
    rejected = run_mg("reject", request_id, "--reason", "not this one", url=gateway_url, key=bob)
    assert rejected.code == 0 and "REJECTED" in rejected.out

    again = background_mg(
        "promote", uri, "--to", "STAGING", "--wait", "--poll", "0.2", url=gateway_url, key=alice
    )
    second = pending_request(gateway_url, uri)
    assert run_mg("reject", second, "--reason", "still no", url=gateway_url, key=bob).code == 0
    out, err = again.communicate(timeout=60)
    assert again.returncode == 1 and "REJECTED" in out and "still no" in out

    third = run_mg("promote", uri, "--to", "STAGING", url=gateway_url, key=alice)
    assert third.code == 0 and "PENDING" in third.out
    third_id = third.out.split()[0]
    withdrawn = run_mg("withdraw", third_id, "--reason", "oops", url=gateway_url, key=alice)
    assert withdrawn.code == 0 and "REJECTED" in withdrawn.out

    bare = run_mg("register", "--registry", "platform", "--model", model, str(weights),
                  url=gateway_url, key=alice).out.strip()  # fmt: skip
    failed_check = run_mg("check", bare, url=gateway_url, key=alice)
    assert (
        failed_check.code == 1
        and "auc-recorded" in failed_check.out
        and "POLICY_VIOLATED" in failed_check.err
    )


def test_usage_and_connection_errors_exit_2(gateway_url: str, tmp_path: Path) -> None:
    nothing_there = f"http://127.0.0.1:{free_port()}"
    refused = run_mg("search", url=nothing_there)
    assert refused.code == 2 and "CONNECTION_FAILED" in refused.err
    bad_url = run_mg("search", url="not a url")
    assert bad_url.code == 2 and "BAD_URL" in bad_url.err
    bad_key = run_mg("search", url=gateway_url, key="mg_not-a-key")
    assert bad_key.code == 2 and "UNAUTHENTICATED" in bad_key.err
    absent = run_mg("show", "mg://platform/absent/1", url=gateway_url, key=KEYS["alice"])
    assert absent.code == 2 and "NOT_FOUND" in absent.err
    usage = run_mg("promote", "mg://platform/x/1", url=gateway_url)  # --to missing
    assert usage.code == 2 and "--to" in usage.err
    bad_metric = run_mg(
        "register", "--registry", "p", "--model", "m", "x", "--metric", "auc=high", url=gateway_url
    )
    assert bad_metric.code == 2 and "needs a number" in bad_metric.err
    no_file = run_mg("register", "--registry", "platform", "--model", "m", str(tmp_path / "absent.bin"),
                     url=gateway_url, key=KEYS["alice"])  # fmt: skip
    assert no_file.code == 2 and "no such file" in no_file.err
    helped = run_mg("--help", url=gateway_url)
    assert helped.code == 0 and "register" in helped.out and "Exit codes" in helped.out
