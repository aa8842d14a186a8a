"""Kubeflow's own model references: the ``model-registry://`` storage URIs that
KServe InferenceServices use (served by the registry's storage initializer).

Four shapes, as the initializer parses them (``cmd/csi`` in kubeflow/hub):
``model-registry://<model>``, ``model-registry://<model>/<version>``,
``model-registry://<host>/<model>`` and ``model-registry://<host>/<model>/<version>``.
The first segment is the registry's host only if it equals the host the
registry is configured with; a reference without a host names no server, so it
is *weak* (it holds for the referencing version's own registry, or the only
kubeflow registry).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from adapters.base import ReferenceMatch
from adapters.kubeflow.mapping import domain_name
from gateway.config import RegistrySettings

SCHEME = "model-registry://"


def _hosts(registry: RegistrySettings) -> set[str]:
    url = str(registry.options.get("url") or "")
    parts = urlsplit(url)
    if not parts.hostname:
        return set()
    return {parts.netloc.lower(), parts.hostname.lower()}


class KubeflowReferences:
    """``ReferenceParser`` for ``model-registry://`` URIs."""

    def is_reference(self, text: str) -> bool:
        return text.startswith(SCHEME) and len(text) > len(SCHEME)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        if not self.is_reference(text):
            return None
        path = text[len(SCHEME) :].split("?", 1)[0].split("#", 1)[0]
        tokens = [unquote(t) for t in path.split("/")]
        if not tokens or not all(tokens) or len(tokens) > 3:
            return None
        hosted = len(tokens) >= 2 and tokens[0].lower() in _hosts(registry)
        if hosted:
            tokens = tokens[1:]
        elif len(tokens) == 3:  # a host, but not this registry's
            return None
        model, version = tokens[0], tokens[1] if len(tokens) == 2 else None
        return ReferenceMatch(
            model_name=domain_name(model),
            version=domain_name(version) if version is not None else None,
            weak=not hosted,
        )
