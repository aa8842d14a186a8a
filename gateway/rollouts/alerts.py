"""The signed outbound alert a rolled-back rollout sends.

Signed like Standard Webhooks (the scheme MLflow's webhooks use too, so
receivers can reuse a verifier): headers ``webhook-id``, ``webhook-timestamp``
(unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256(secret,
"{id}.{timestamp}.{body}")>``. Sent once; a failed delivery is recorded in the
audit log by the caller, never retried blindly and never blocking a rollback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

SIGNATURE_VERSION = "v1"


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether a delivery carries a valid signature (for receivers and tests)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    expected = signature(secret, lowered.get("webhook-id", ""), lowered.get("webhook-timestamp", ""), body)
    offered = lowered.get("webhook-signature", "").split(" ")
    return any(hmac.compare_digest(expected.encode(), o.encode()) for o in offered if o)


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    detail: str


class AlertSender:
    def __init__(self, url: str | None, secret: str | None, timeout: float = 10.0):
        self.url = url
        self.secret = secret
        self.timeout = timeout

    async def send(self, event: str, payload: Mapping[str, Any]) -> Delivery | None:
        """POST ``{"type": event, "data": payload}``; None when no webhook is configured."""
        if not self.url or not self.secret:
            return None
        body = json.dumps({"type": event, "data": payload}, sort_keys=True, default=str).encode()
        delivery_id = f"msg_{uuid.uuid4().hex}"
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": signature(self.secret, delivery_id, timestamp, body),
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Delivery(False, f"{type(exc).__name__}: {exc}")
        if response.status_code >= 300:
            return Delivery(False, f"HTTP {response.status_code}")
        return Delivery(True, f"HTTP {response.status_code}")
