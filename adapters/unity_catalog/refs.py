"""Unity Catalog's own model references: MLflow's ``models:/`` URIs with a
three-level name, as ``mlflow.<flavor>.load_model`` takes them against a ``uc:``
or ``databricks-uc`` registry: ``models:/<catalog>.<schema>.<model>/<version>``
(a version) and ``models:/<catalog>.<schema>.<model>`` (the model).

A registry claims one only in its configured catalog (and schema, if set), and
firmly: the three-level name says which catalog, where a bare MLflow name does
not. ``@alias`` references move with the alias and stay unresolved, as MLflow's do.
"""

from __future__ import annotations

from adapters.base import ReferenceMatch
from gateway.config import RegistrySettings

SCHEME = "models:/"


class UnityCatalogReferences:
    """``ReferenceParser`` for three-level ``models:/`` URIs."""

    def is_reference(self, text: str) -> bool:
        if not text.startswith(SCHEME):
            return False
        name = text[len(SCHEME) :].split("/", 1)[0].split("@", 1)[0]
        parts = name.split(".")
        return len(parts) == 3 and all(parts)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        if not self.is_reference(text) or "@" in text:
            return None
        tokens = text[len(SCHEME) :].split("/")
        if len(tokens) > 2 or (len(tokens) == 2 and not tokens[1].isdigit()):
            return None
        catalog, schema, _ = tokens[0].split(".")
        if catalog != registry.options.get("catalog"):
            return None
        if registry.options.get("schema") not in (None, schema):
            return None
        return ReferenceMatch(model_name=tokens[0], version=tokens[1] if len(tokens) == 2 else None)
