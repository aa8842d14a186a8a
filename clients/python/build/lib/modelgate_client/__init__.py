"""The light client of a modelgate gateway: ``Client`` for Python, ``mg`` for shells.

    from modelgate_client import Client

    with Client() as mg:                      # MODELGATE_URL, MODELGATE_API_KEY / _TOKEN, or CI OIDC
        v = mg.register("platform", "fraud-detector", ["model.pkl"], metrics={"auc": 0.91})
        mg.promote(v.uri, "STAGING", wait=True)

httpx is imported when a ``Client`` is built, not here, so importing the package is quick.
"""

from modelgate_client.client import Client
from modelgate_client.errors import (
    ConfigurationError,
    ConnectionFailed,
    DigestMismatch,
    ModelgateError,
    PolicyCheckFailed,
    PromotionRefused,
    Refused,
    WaitTimedOut,
)
from modelgate_client.results import (
    Compliance,
    Impact,
    KeyValues,
    LineageGraph,
    Model,
    ModelVersion,
    PromotionRequest,
    PulledFile,
    Rollout,
    SearchResults,
    UploadedFile,
    Violation,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Compliance",
    "ConfigurationError",
    "ConnectionFailed",
    "DigestMismatch",
    "Impact",
    "KeyValues",
    "LineageGraph",
    "Model",
    "ModelVersion",
    "ModelgateError",
    "PolicyCheckFailed",
    "PromotionRefused",
    "PromotionRequest",
    "PulledFile",
    "Refused",
    "Rollout",
    "SearchResults",
    "UploadedFile",
    "Violation",
    "WaitTimedOut",
]
