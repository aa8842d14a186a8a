"""The MLflow Model Registry adapter (entry point ``mlflow = "adapters.mlflow:factory"``).

Talks to an MLflow 3.x tracking server's REST API with httpx; the ``mlflow``
package itself is only a test dependency. Options: ``options.MlflowOptions``;
stage mapping and write-through: ``registry``; the REST calls: ``api``; run
details (params, metrics, datasets): ``runs``; incremental sync: ``changes``;
wire-format surprises: ``mapping``; webhook signatures: ``webhooks``.
"""

from __future__ import annotations

from adapters.base import AdapterContext, ReferenceMatch
from adapters.mlflow import refs
from adapters.mlflow.options import MlflowOptions, parse_options, resolve_credentials
from adapters.mlflow.registry import MlflowAdapter
from gateway.config import RegistrySettings


class MlflowFactory:
    kind = "mlflow"
    relative_schemes = refs.RELATIVE_SCHEMES

    def is_reference(self, text: str) -> bool:
        return refs.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        """See ``adapters.mlflow.refs``."""
        return refs.parse_reference(text, registry)

    def validate(self, registry: RegistrySettings) -> None:
        """Check the options offline; secrets are read only by ``create``."""
        parse_options(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> MlflowAdapter:
        options = parse_options(registry)
        credentials = resolve_credentials(registry, context.environ)
        return MlflowAdapter(registry.id, options, credentials)


factory = MlflowFactory()

__all__ = ["MlflowAdapter", "MlflowFactory", "MlflowOptions", "factory"]
