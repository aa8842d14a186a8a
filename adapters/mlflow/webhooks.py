"""MLflow webhook deliveries (MLflow 3.3+): verify, then say which models changed.

MLflow signs like Standard Webhooks: it sends ``X-MLflow-Delivery-Id`` (a
UUID), ``X-MLflow-Timestamp`` (unix seconds) and, only when the webhook has a
secret, ``X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret,
"{delivery_id}.{timestamp}.{body}")>`` (``mlflow/webhooks/delivery.py``).
The body is ``{"entity", "action", "timestamp", "data": {"name", ...}}``.

Replays inside the tolerance window are accepted: a delivery only makes the
gateway re-read models, which is idempotent, and MLflow itself re-sends the
same delivery id when it retries after a 5xx.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping

from adapters.base import WebhookRejected

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_ID_HEADER = "x-mlflow-delivery-id"
SIGNATURE_VERSION = "v1"
# Entities whose ``data.name`` is a registered model. Prompts are registered models
# too in MLflow's store, but the model search hides them, so the catalogue does too.
MODEL_ENTITIES = {"registered_model", "model_version", "model_version_tag", "model_version_alias"}


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The header value MLflow would send for this delivery."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify_delivery(
    headers: Mapping[str, str],
    body: bytes,
    secret: str | None,
    *,
    tolerance_seconds: float,
    now: float | None = None,
) -> None:
    """Raise ``WebhookRejected`` unless the delivery is signed with ``secret`` and recent."""
    if not secret:
        raise WebhookRejected("no webhook secret is configured for this registry")
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER)
    timestamp = lowered.get(TIMESTAMP_HEADER)
    delivery_id = lowered.get(DELIVERY_ID_HEADER)
    if not signature:
        raise WebhookRejected("unsigned delivery (no X-MLflow-Signature; give the MLflow webhook a secret)")
    if not timestamp or not delivery_id:
        raise WebhookRejected("X-MLflow-Timestamp and X-MLflow-Delivery-Id are required")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected(f"X-MLflow-Timestamp is not unix seconds: {timestamp[:40]!r}") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        raise WebhookRejected(f"delivery timestamp is {int(current - sent_at)} s off (stale or replayed)")
    expected = sign(secret, delivery_id, timestamp, body).encode()
    # Standard Webhooks allows several space-separated signatures (key rotation).
    offered = [s.strip().encode() for s in signature.split(" ") if s.strip()]
    if not any(hmac.compare_digest(expected, s) for s in offered):
        raise WebhookRejected("signature does not match (wrong secret or altered body)")


def changed_models(body: bytes) -> list[str]:
    """Model names a verified delivery is about; ``[]`` for events the catalogue ignores."""
    try:
        payload = json.loads(body)
        entity = payload.get("entity")
        name = (payload.get("data") or {}).get("name")
    except (ValueError, AttributeError):
        log.warning("signed MLflow webhook body is not the expected JSON; ignored")
        return []
    if entity not in MODEL_ENTITIES or not isinstance(name, str) or not name:
        return []
    return [name]
