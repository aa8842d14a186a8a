"""A fake Hugging Face Hub that the real ``huggingface_hub`` client talks to (``hub.py``)."""

from __future__ import annotations

from tests.fakes.huggingface.hub import FakeHub, RecordedRequest, card_data

__all__ = ["FakeHub", "RecordedRequest", "card_data"]
