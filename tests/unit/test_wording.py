"""``gateway.wording`` and ``adapters.toolkit.blocking``: small helpers with a rule each."""

from __future__ import annotations

import threading

from adapters.toolkit.blocking import run_blocking
from gateway.wording import plural


def test_counts_take_the_right_plural() -> None:
    assert plural(1, "version") == "1 version"
    assert plural(0, "version") == "0 versions"
    assert plural(2, "policy", "policies") == "2 policies"
    assert plural(1, "policy", "policies") == "1 policy"


async def test_a_blocking_call_runs_off_the_event_loop_thread() -> None:
    def where(a: int, *, b: int) -> tuple[int, str]:
        return a + b, threading.current_thread().name

    total, thread = await run_blocking(where, 1, b=2)
    assert total == 3 and thread != threading.current_thread().name
