"""CLI commands called in-process with parsed arguments, over settings whose
SQLite database holds the demo catalogue (each command opens it itself)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from gateway.cli import build_parser
from gateway.config import Settings
from gateway.demo import seed_demo
from gateway.runtime import Gateway
from tests.support import make_settings


async def _seed(settings: Settings) -> None:
    gateway = await Gateway.open(settings)
    try:
        await gateway.sync.sync_all(full=True)
        assert await seed_demo(gateway) > 0
    finally:
        await gateway.aclose()


@pytest.fixture
def demo_settings(tmp_path: Path) -> Settings:
    settings = make_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path)
    asyncio.run(_seed(settings))
    return settings


def parse(*argv: str) -> argparse.Namespace:
    """``argv`` as ``modelgate`` parses it."""
    return build_parser().parse_args(list(argv))
