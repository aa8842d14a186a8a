"""The SageMaker Model Registry adapter (entry point ``sagemaker``, extra ``sagemaker``).

Configuration (one ``[[registries]]`` table)::

    kind = "sagemaker"
    region = "eu-west-1"                       # required
    endpoint_url = "http://127.0.0.1:5000"     # optional: any SageMaker-compatible endpoint
    profile = "ml-readonly"                    # optional: else the standard credential chain
    stage_source = "both"                      # approval | lifecycle | both
    approval_stages = { PendingManualApproval = "DRAFT", Approved = "PRODUCTION", Rejected = "ARCHIVED" }
    lifecycle_stages = { Staging = "STAGING", Production = "PRODUCTION", Archived = "ARCHIVED" }
    lifecycle_stage_status = "Approved"        # StageStatus written with a lifecycle stage
    timeout_seconds = 10                       # per call; a retried read gets twice that
    max_attempts = 4                           # reads only; writes are sent once
    max_concurrency = 8                        # Describe/ListTags calls in flight per page
    lineage = true                             # query SageMaker's lineage API
    lineage_max_depth = 4

See ``adapters.sagemaker.options`` for how the stage tables combine.
"""

from __future__ import annotations

from adapters.base import AdapterContext, ReferenceMatch, ReferenceParser
from adapters.sagemaker import refs
from adapters.sagemaker.options import SageMakerOptions, StageMapping, parse_options
from adapters.sagemaker.registry import SageMakerRegistry
from gateway.config import RegistrySettings


class SageMakerFactory(ReferenceParser):
    kind = "sagemaker"
    case_insensitive_references = True  # package ARNs lowercase the group name

    def is_reference(self, text: str) -> bool:
        return refs.is_reference(text)

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        """See ``adapters.sagemaker.refs``."""
        return refs.parse_reference(text, registry)

    def validate(self, registry: RegistrySettings) -> None:
        """Checks the options only: no credentials are resolved, no call is made."""
        parse_options(registry)

    def create(self, registry: RegistrySettings, context: AdapterContext) -> SageMakerRegistry:
        return SageMakerRegistry(registry.id, parse_options(registry), team=registry.team)


factory = SageMakerFactory()

__all__ = [
    "SageMakerFactory",
    "SageMakerOptions",
    "SageMakerRegistry",
    "StageMapping",
    "factory",
    "parse_options",
]
