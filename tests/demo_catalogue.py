"""``demo_gateway``: a gateway on SQLite holding the demo catalogue (``gateway.demo``),
for module tests that need a catalogue with history, lineage and stages but no
registry server. A pytest plugin (``tests/conftest.py``), so any test can take it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.demo import seed_demo
from gateway.runtime import Gateway
from tests.support import make_settings


@pytest.fixture
async def demo_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await Gateway.open(make_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path))
    try:
        await gateway.sync.sync_all(full=True)
        assert await seed_demo(gateway) > 0
        yield gateway
    finally:
        await gateway.aclose()
