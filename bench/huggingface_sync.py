"""How long the Hugging Face adapter takes to list an organisation, against the fake Hub.

    .venv/bin/python bench/huggingface_sync.py                  # 40 repositories x 3 version tags
    .venv/bin/python bench/huggingface_sync.py --repos 100 --repeat 7

Seeds the fake Hub (``tests/fakes/huggingface``, served by uvicorn on loopback)
with the real ``huggingface_hub`` client: per repository one README commit per
version, a ``v<i>.0.0`` tag on each and ``prod`` on the first. Then times, each
``--repeat`` times (median reported), with the number of Hub requests:

- a cold full listing (a fresh adapter: every model, every version's card);
- a warm full listing (the same adapter again: a revision's card is cached by
  commit, so only the model pages and each repository's refs are read).

Nothing here is asserted; it prints one line per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from adapters.base import iterate_pages  # noqa: E402
from adapters.huggingface import HuggingFaceRegistry, load_settings  # noqa: E402
from gateway.config import RegistrySettings  # noqa: E402
from tests.fakes.huggingface import FakeHub  # noqa: E402
from tests.servers.huggingface import HubServer, _free_socket  # noqa: E402

ORG = "bench-org"
TOKEN = "hf_bench"


def serve() -> HubServer:
    fake = FakeHub(tokens={TOKEN})
    sock = _free_socket()
    fake.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(fake.app(), log_level="warning", lifespan="off", access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return HubServer(fake, fake.base_url, TOKEN)


def seed(hub: HubServer, repos: int, versions: int) -> None:
    for r in range(repos):
        repo = f"{ORG}/model-{r:04d}"
        for v in range(versions):
            card = {
                "license": "mit",
                "base_model": "meta-llama/Llama-3.1-8B",
                "datasets": [f"{ORG}/data-{v}"],
            }
            commit = hub.publish(repo, card, message=f"v{v}")
            hub.tag(repo, f"v{v + 1}.0.0", commit)
            if v == 0:
                hub.tag(repo, "prod", commit)


async def full_listing(adapter: HuggingFaceRegistry) -> int:
    count = 0
    async for model in iterate_pages(adapter.list_models):
        async for _ in iterate_pages(lambda t, name=model.name: adapter.list_versions(name, t)):
            count += 1
    return count


def adapter_for(hub: HubServer) -> HuggingFaceRegistry:
    registry = RegistrySettings(
        id="hub", kind="huggingface", options={**hub.options(organization=ORG), "include_main": False}
    )
    return HuggingFaceRegistry("hub", load_settings(registry, environ=hub.environ))


async def measure(hub: HubServer, repeat: int) -> None:
    cold: list[float] = []
    warm: list[float] = []
    requests = {"cold": 0, "warm": 0}
    found = 0
    for _ in range(repeat):
        adapter = adapter_for(hub)
        try:
            for label, times in (("cold", cold), ("warm", warm)):
                before = len(hub.fake.requests)
                started = time.perf_counter()
                found = await full_listing(adapter)
                times.append(time.perf_counter() - started)
                requests[label] = len(hub.fake.requests) - before
        finally:
            await adapter.aclose()
    for label, times in (("cold", cold), ("warm", warm)):
        median = statistics.median(times) * 1000
        print(f"{label} full listing: {median:.0f} ms, {requests[label]} requests, {found} versions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=40)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    hub = serve()
    started = time.perf_counter()
    seed(hub, args.repos, args.versions)
    took = time.perf_counter() - started
    print(f"seeded {args.repos} repositories x {args.versions} versions in {took:.1f} s")
    asyncio.run(measure(hub, args.repeat))


if __name__ == "__main__":
    main()
