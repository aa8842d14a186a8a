"""The model store's throughput: a large file through the gateway against boto3
straight to the same S3 server, and a download by signed URL against one
streamed through the gateway.

    .venv/bin/python bench/artifacts.py                 # 1 GiB
    .venv/bin/python bench/artifacts.py --size-mib 256

One moto S3 server (``moto_server``) and one real ``modelgate serve`` process
(SQLite catalogue, ``[artifacts] url = "s3://…"`` on that server). In one run,
side by side, on the same bytes:

- upload: ``PUT /artifacts/...`` (streamed from disk by httpx) against boto3's
  ``upload_file`` (multipart, 8 MiB parts, its default 10 threads);
- download: ``GET /artifacts/...`` through the gateway against boto3's
  ``get_object`` read as one stream (and ``download_file``'s parallel ranged
  GETs, which moto serves slowly: it reads the object for every range); each
  written to disk and hashed;
- download by the URL ``ModelVersion.download`` hands out (signed by the store,
  fetched by httpx) against the gateway's route (what ``download`` answers with
  ``presigned_seconds = 0``).

For each gateway phase the server's added peak RSS is measured: its VmHWM is
reset (``/proc/<pid>/clear_refs``) before the phase and read after it. Every
download is checked against the upload's sha256. Times vary with the machine
and with moto (a Python server that keeps objects in temporary files); the
ratios are the point.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gateway_process import free_port, running_gateway

MIB = 1024 * 1024
CHUNK = 8 * MIB
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    port = free_port()
    command = Path(sys.executable).with_name("moto_server")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(command), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"moto_server did not start: {log.read_text()[-500:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def write_file(path: Path, size: int) -> str:
    """``size`` bytes that do not compress (a model's weights do not either)."""
    digest = hashlib.sha256()
    block = os.urandom(CHUNK)
    with path.open("wb") as out:
        written = 0
        while written < size:
            # Each block differs from the last, cheaply: content addressing sees no repeats.
            piece = (
                hashlib.sha256(written.to_bytes(8, "big")).digest() + block[32 : min(CHUNK, size - written)]
            )
            piece = piece[: min(CHUNK, size - written)]
            out.write(piece)
            digest.update(piece)
            written += len(piece)
    return "sha256:" + digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def memory(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


class Phase:
    """Times a step; for the gateway's steps, its peak RSS above where it started."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.seconds = 0.0
        self.added_rss: int | None = None

    def run(self, step: Callable[[], Any]) -> Any:
        if self.pid is not None:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            before = memory(self.pid)["VmRSS"]
        start = time.perf_counter()
        result = step()
        self.seconds = time.perf_counter() - start
        if self.pid is not None:
            self.added_rss = memory(self.pid)["VmHWM"] - before
        return result


def stream_to(response_of: Callable[[], Any], path: Path) -> str:
    digest = hashlib.sha256()
    with response_of() as response, path.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes(CHUNK):
            out.write(chunk)
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def boto_stream(s3: Any, key: str, path: Path) -> str:
    digest = hashlib.sha256()
    body = s3.get_object(Bucket="bench-models", Key=key)["Body"]
    with path.open("wb") as out:
        for chunk in body.iter_chunks(CHUNK):
            out.write(chunk)
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--log", help="keep the gateway's log in this file")
    args = parser.parse_args()
    size = args.size_mib * MIB
    import boto3
    from boto3.s3.transfer import TransferConfig

    with tempfile.TemporaryDirectory() as tmp_dir, moto_server(Path(tmp_dir) / "moto.log") as s3_url:
        tmp = Path(tmp_dir)
        os.environ.update(CREDENTIALS)
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
        s3.create_bucket(Bucket="bench-models")
        source = tmp / "model.bin"
        print(f"writing {args.size_mib} MiB of test data ...", flush=True)
        digest = write_file(source, size)
        config = tmp / "modelgate.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{tmp}/mg.db"\n\n[artifacts]\nurl = "s3://bench-models/gateway"\n'
            f'endpoint = "{s3_url}"\nregion = "us-east-1"\naccess_key_id_env = "AWS_ACCESS_KEY_ID"\n'
            'secret_access_key_env = "AWS_SECRET_ACCESS_KEY"\npresigned_seconds = 900\n\n'
            '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n'
        )
        rows: list[tuple[str, Phase, str]] = []
        transfer = TransferConfig(multipart_chunksize=CHUNK)
        gateway_log = Path(args.log) if args.log else tmp / "gateway.log"
        with running_gateway(config, log=gateway_log) as (client, process):
            client.timeout = httpx.Timeout(3600)
            baseline = memory(process.pid)["VmRSS"]

            up_gw = Phase(process.pid)
            stored = up_gw.run(
                lambda: client.put("/artifacts/platform/big/model.bin", content=file_chunks(source))
            )
            if stored.status_code != 201:
                raise SystemExit(f"upload failed: {stored.text}\n{gateway_log.read_text()[-3000:]}")
            assert stored.json()["digest"] == digest, stored.text
            rows.append(("upload   gateway PUT /artifacts", up_gw, "ok"))

            up_boto = Phase(None)
            up_boto.run(
                lambda: s3.upload_file(str(source), "bench-models", "direct/model.bin", Config=transfer)
            )
            rows.append(("upload   boto3 upload_file", up_boto, "ok"))

            register = (
                'mutation($u: String!) { registerModelVersion(input: {registry: "platform", '
                'model: "big", artifactUri: $u}) { uri } }'
            )
            client.post("/graphql", json={"query": register, "variables": {"u": stored.json()["uri"]}})
            query = '{ modelVersion(uri: "mg://platform/big/1") { download { url expiresAt } } }'
            signed_url = client.post("/graphql", json={"query": query}).json()["data"]["modelVersion"][
                "download"
            ]
            assert signed_url["expiresAt"] is not None, "the store signs"

            down_gw = Phase(process.pid)
            got = down_gw.run(
                lambda: stream_to(
                    lambda: client.stream("GET", "/artifacts/platform/big/1/model.bin"), tmp / "a"
                )
            )
            rows.append(("download gateway GET /artifacts (streamed)", down_gw, _check(got, digest)))
            (tmp / "a").unlink()

            down_boto = Phase(None)
            got = down_boto.run(lambda: boto_stream(s3, "direct/model.bin", tmp / "b"))
            rows.append(("download boto3 get_object (one stream)", down_boto, _check(got, digest)))
            (tmp / "b").unlink()

            # Ranged GETs in parallel: fast on AWS, slow on moto (each range reads the object).
            ranged = Phase(None)
            ranged.run(
                lambda: s3.download_file("bench-models", "direct/model.bin", str(tmp / "b"), Config=transfer)
            )
            rows.append(
                ("download boto3 download_file (ranges)", ranged, _check(sha256_file(tmp / "b"), digest))
            )
            (tmp / "b").unlink()

            down_signed = Phase(process.pid)
            with httpx.Client(timeout=3600) as plain:
                got = down_signed.run(
                    lambda: stream_to(lambda: plain.stream("GET", signed_url["url"]), tmp / "c")
                )
            rows.append(("download signed URL (the store serves it)", down_signed, _check(got, digest)))
            final_rss = memory(process.pid)["VmRSS"]

    mib = size / MIB
    print(f"\n{args.size_mib} MiB file, moto S3 on loopback, gateway baseline RSS {baseline / MIB:.0f} MiB\n")
    print(f"{'step':<44} {'seconds':>8} {'MiB/s':>8} {'gateway +RSS':>13}  digest")
    for name, phase, status in rows:
        added = "" if phase.added_rss is None else f"{phase.added_rss / MIB:+.0f} MiB"
        print(f"{name:<44} {phase.seconds:8.1f} {mib / phase.seconds:8.1f} {added:>13}  {status}")
    print(
        f"\nupload:   gateway / boto3 = {up_gw.seconds / up_boto.seconds:.2f}x"
        f"\ndownload: gateway / boto3 get_object = {down_gw.seconds / down_boto.seconds:.2f}x"
        f"\ndownload: gateway route / signed URL = {down_gw.seconds / down_signed.seconds:.2f}x"
        f"\ngateway RSS after the run: {final_rss / MIB:.0f} MiB"
    )


def _check(got: str, digest: str) -> str:
    return "ok" if got == digest else f"MISMATCH {got}"


if __name__ == "__main__":
    main()
