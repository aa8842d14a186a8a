"""``mg pull`` of a large version against downloading the same bytes with curl
and boto3 from the same store, and the import time of ``modelgate_client``.

    .venv/bin/python bench/client_pull.py                     # 1 GiB on a moto S3 server
    .venv/bin/python bench/client_pull.py --store file        # through the gateway's GET route
    .venv/bin/python bench/client_pull.py --size-mib 256 --rounds 3

Setup (not timed): a moto S3 server (``--store s3``, the default) or a local
directory (``--store file``) as the gateway's ``[artifacts]`` store, a gateway
process (``[auth] mode = "none"``), one version of ``--size-mib`` bytes placed
in the store and registered.

Timed, best of ``--rounds`` each, into a fresh directory every round:

- ``mg pull URI -o DIR``: a new process, as a pipeline runs it (one GraphQL
  read for the files, one for the download URL, the streamed GET, sha256 of
  every byte, rename);
- ``curl -o FILE URL`` of the very URL the gateway hands out (a signed S3 URL,
  or the gateway's route for ``file``), no verification;
- ``boto3`` ``download_file`` of the same object (``s3`` only) in one GET, no
  verification (its default, 8 MiB ranges on 10 threads, measures moto: moto
  slices the whole object in Python for every range).

The goal is ``mg pull`` within 1.2x of the faster of the others.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CLIENT_SRC = ROOT / "clients" / "python" / "src"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(CLIENT_SRC))

from bench.gateway_process import free_port  # noqa: E402

MIB = 1024 * 1024


def best_seconds(runs: dict[str, Callable[[Path], None]], rounds: int, scratch: Path) -> dict[str, float]:
    """The best time of each, the rounds interleaved (a, b, c, a, b, c, ...) so that
    a busy spell of a shared machine falls on all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(rounds):
        for name, run in runs.items():
            target = scratch / f"round-{uuid.uuid4().hex[:6]}-{i}"
            target.mkdir()
            started = time.perf_counter()
            run(target)
            samples[name].append(time.perf_counter() - started)
            shutil.rmtree(target)
    return {name: min(times) for name, times in samples.items()}


def write_random(path: Path, size: int) -> None:
    block = os.urandom(8 * MIB)  # repeated blocks: generating 1 GiB of fresh randomness is not the point
    with path.open("wb") as f:
        left = size
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)


def start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=(workdir / "moto.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("moto_server did not start") from None
            time.sleep(0.2)


@contextlib.contextmanager
def gateway(config: Path, workdir: Path) -> Iterator[str]:
    """``modelgate serve`` on a free port, its log in ``workdir/gateway.log`` (printed if setup fails)."""
    import httpx

    port = free_port()
    log = (workdir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the gateway did not start")
            time.sleep(0.2)
        yield url
    except BaseException:
        log.flush()
        sys.stderr.write((workdir / "gateway.log").read_text()[-4000:])
        raise
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def import_time_ms(rounds: int = 15) -> tuple[float, float, float]:
    """``import modelgate_client`` in a fresh interpreter, ``rounds`` times: the
    cumulative time ``-X importtime`` reports (min and median, ms), and the median
    wall time of the import minus an empty interpreter's start (ms). On a shared,
    loaded machine the minimum is the one to read."""
    env = {**os.environ, "PYTHONPATH": str(CLIENT_SRC)}
    cumulative, wall = [], []
    for _ in range(rounds):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import modelgate_client"],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        line = next(ln for ln in done.stderr.splitlines() if ln.rstrip().endswith("| modelgate_client"))
        cumulative.append(int(line.split("|")[1]) / 1000)
        times = []
        for code in ("pass", "import modelgate_client"):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            times.append(time.perf_counter() - started)
        wall.append((times[1] - times[0]) * 1000)
    return min(cumulative), statistics.median(cumulative), statistics.median(wall)


def place_and_register(mg: Any, source: Path, store: str, work: Path, s3: Any) -> Any:
    """Put the file where the store keeps it (``<registry>/<model>/<sha256>/<path>``)
    and register it. Not through the gateway's PUT: under this machine's load a
    1 GiB upload into moto fails now and then, and the upload is not what is measured."""
    from modelgate_client.transfers import file_digest

    digest = file_digest(source)
    key = f"store/platform/big/{digest.removeprefix('sha256:')}/model.bin"
    if store == "s3":
        s3.upload_file(str(source), "models", key)
        uri = f"s3://models/{key}"
    else:
        target = work / key
        target.parent.mkdir(parents=True)
        shutil.copyfile(source, target)
        uri = target.as_uri()
    spec = {"registry": "platform", "model": "big", "artifactUri": uri, "artifactDigest": digest}
    from modelgate_client.documents import REGISTER
    from modelgate_client.results import ModelVersion

    return ModelVersion.from_json(mg.execute(REGISTER, {"input": spec})["registerModelVersion"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["s3", "file"], default="s3")
    args = parser.parse_args()
    size = args.size_mib * MIB

    from modelgate_client import Client

    with tempfile.TemporaryDirectory(prefix="client-pull-") as tmp:
        work = Path(tmp)
        moto = None
        if args.store == "s3":
            import boto3

            moto, moto_url = start_moto(work)
            os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
            s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
            s3.create_bucket(Bucket="models")
            artifacts = (
                f'[artifacts]\nurl = "s3://models/store"\nendpoint = "{moto_url}"\nregion = "us-east-1"\n'
                'access_key_id_env = "AWS_ACCESS_KEY_ID"\nsecret_access_key_env = "AWS_SECRET_ACCESS_KEY"\n'
            )
        else:
            s3 = None
            artifacts = f'[artifacts]\nurl = "file://{work / "store"}"\n'
        config = work / "modelgate.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{work}/mg.db"\n\n{artifacts}\n'
            '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n'
        )
        source = work / "model.bin"
        write_random(source, size)
        try:
            with gateway(config, work) as url:
                mg = Client(url, environ={})
                version = place_and_register(mg, source, args.store, work, s3 if moto else None)
                link = mg.execute(
                    "query($u: String!) { modelVersion(uri: $u) { download { url } } }", {"u": version.uri}
                )["modelVersion"]["download"]["url"]
                env = {**os.environ, "PYTHONPATH": str(CLIENT_SRC), "MODELGATE_URL": url}

                def pull(target: Path) -> None:
                    subprocess.run(
                        [sys.executable, "-m", "modelgate_client", "pull", version.uri, "-o", str(target)],
                        env=env, check=True, stdout=subprocess.DEVNULL,
                    )  # fmt: skip

                def curl(target: Path) -> None:
                    subprocess.run(["curl", "-sSf", "-o", str(target / "model.bin"), link], check=True)

                runs: dict[str, Callable[[Path], None]] = {"mg pull": pull, "curl": curl}
                if args.store == "s3":
                    parts = urlsplit(version.artifact_uri or "")

                    from boto3.s3.transfer import TransferConfig

                    # One GET: moto answers each ranged GET by slicing the whole object in
                    # Python, so boto3's default (8 MiB ranges on 10 threads) measures moto.
                    one_stream = TransferConfig(multipart_threshold=1 << 40, use_threads=False)

                    def boto(target: Path) -> None:
                        s3.download_file(
                            parts.netloc, parts.path.lstrip("/"), str(target / "model.bin"), Config=one_stream
                        )

                    runs["boto3"] = boto
                results = best_seconds(runs, args.rounds, work)
        finally:
            if moto is not None:
                moto.terminate()
                moto.wait(timeout=30)

    print(f"store: {args.store}   size: {args.size_mib} MiB   best of {args.rounds}")
    for name, seconds in results.items():
        print(f"  {name:<8} {seconds:6.2f} s  {args.size_mib / seconds:7.1f} MiB/s")
    for name, seconds in results.items():
        if name != "mg pull":
            print(f"  mg pull / {name}: {results['mg pull'] / seconds:.2f}x   (goal <= 1.2x)")
    best, median, wall = import_time_ms()
    print(
        f"import modelgate_client: {best:.1f} ms best, {median:.1f} ms median (-X importtime, cumulative); "
        f"{wall:.1f} ms median wall time minus an empty interpreter   (goal <= 150 ms)"
    )
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
