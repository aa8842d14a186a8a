"""Uploading one large file to S3 (a moto server) three ways, side by side:
boto3's ``put_object`` straight to the bucket, the gateway's ``PUT /artifacts/...``
as before (staging object, then a server-side copy to the content-addressed
key), and the same PUT declaring its sha256 up front (``Content-Digest``:
written straight to the final key, verified at the end). boto3's multipart
``upload_file`` with the gateway's part size and concurrency is printed too:
the same S3 operations the gateway performs, without the extra hop.

    .venv/bin/python bench/upload_declared_digest.py               # 512 MiB, 3 rounds
    .venv/bin/python bench/upload_declared_digest.py --mib 1024 --rounds 1

Each gateway round uploads new random bytes (a known digest would be answered
from the object already there); the client streams from a file in 8 MiB reads.
The client's own sha256 of the file (what a client that does not already know
it pays before a declared upload) is timed apart. Medians are printed, with the
ratio to boto3.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gateway_process import free_port, running_gateway  # noqa: E402
from tests.servers.sagemaker import DUMMY_CREDENTIALS, _moto_server_command  # noqa: E402

READ = 8 * 1024 * 1024


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(READ):
            yield block


def write_random(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(mib):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            out.write(block)
    return base64.b64encode(digest.digest()).decode()


def start_moto() -> tuple[str, subprocess.Popen[bytes]]:
    command = _moto_server_command()
    if command is None:
        raise SystemExit("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            return url, process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("moto_server did not start")


def interleaved(
    cases: dict[str, Callable[[int], Any]], rounds: int, before: Callable[[int], Any]
) -> dict[str, float]:
    """Median seconds of each case, the cases taking turns within each round (a
    shared machine's load then weighs on all of them alike)."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(rounds):
        for name, case in cases.items():
            before(i)
            started = time.perf_counter()
            case(i)
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import boto3
    from boto3.s3.transfer import TransferConfig

    multipart = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stopped: still stop moto and the gateway
    os.environ.update(DUMMY_CREDENTIALS)
    workdir = Path(tempfile.mkdtemp(prefix="modelgate-upload-"))
    moto, moto_process = start_moto()
    try:
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        os.environ["BENCH_KEY_ID"] = os.environ["BENCH_SECRET"] = "testing"
        config = workdir / "gateway.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{workdir}/gateway.db"\n'
            f'[artifacts]\nurl = "s3://{bucket}/store"\nendpoint = "{moto}"\nregion = "us-east-1"\n'
            'access_key_id_env = "BENCH_KEY_ID"\nsecret_access_key_env = "BENCH_SECRET"\n'
            f"max_artifact_bytes = {(args.mib + 1) * 1024 * 1024}\n"
            '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n'
        )
        files = [workdir / f"model-{i}.bin" for i in range(args.rounds)]
        sums: dict[Path, str] = {}

        def fresh(i: int) -> None:  # new bytes each round, written outside the timing
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for o in page.get("Contents", ()):  # moto keeps objects in memory: drop the last round's
                    s3.delete_object(Bucket=bucket, Key=o["Key"])
            for old in files[:i]:
                old.unlink(missing_ok=True)
            sums[files[i]] = write_random(files[i], args.mib)

        def client_sha256(i: int) -> None:
            digest = hashlib.sha256()
            for block in chunks(files[i]):
                digest.update(block)

        def boto(i: int) -> None:
            with files[i].open("rb") as body:
                s3.put_object(Bucket=bucket, Key=f"boto/{i}.bin", Body=body)

        def boto_multipart(i: int) -> None:  # as the AWS CLI uploads: the gateway's part size and concurrency
            s3.upload_file(str(files[i]), bucket, f"boto-mp/{i}.bin", Config=multipart)

        fresh(0)
        started = time.perf_counter()
        client_sha256(0)
        client_hash = time.perf_counter() - started
        with running_gateway(config, cwd=workdir) as (http, _):
            http.timeout = httpx.Timeout(600)

            def put(i: int, headers: dict[str, str]) -> None:
                response = http.put(
                    f"/artifacts/platform/llm/model-{i}.bin", content=chunks(files[i]), headers=headers
                )
                assert response.status_code == 201, response.text

            medians = interleaved(
                {
                    "boto3": boto,
                    "boto3 multipart": boto_multipart,
                    "staged": lambda i: put(i, {}),
                    "declared": lambda i: put(i, {"content-digest": f"sha-256=:{sums[files[i]]}:"}),
                },
                args.rounds,
                fresh,
            )
        theirs, staged, declared = medians["boto3"], medians["staged"], medians["declared"]
        print(f"upload of {args.mib} MiB to moto's S3, median of {args.rounds} (cases interleaved)")
        print(f"  boto3 put_object                      {theirs:6.2f} s")
        print(f"  boto3 upload_file (multipart, 8 MiB)  {medians['boto3 multipart']:6.2f} s")
        print(f"  gateway PUT (staging + copy)          {staged:6.2f} s   ({staged / theirs:.2f}x boto3)")
        print(f"  gateway PUT, Content-Digest declared  {declared:6.2f} s   ({declared / theirs:.2f}x boto3)")
        print(
            f"  (the client's own sha256 of the file: {client_hash:.2f} s, when it does not know it already)"
        )
    finally:
        moto_process.terminate()
        moto_process.wait(timeout=30)


if __name__ == "__main__":
    main()
