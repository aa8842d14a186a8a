"""Options of a ``kind = "sagemaker"`` registry and the stage mapping they define.

SageMaker has two independent words for where a model package stands:

* ``ModelApprovalStatus`` — exactly ``PendingManualApproval``, ``Approved`` or
  ``Rejected``. Deployment pipelines (SageMaker Projects, EventBridge rules)
  commonly deploy on ``Approved``, so writing it is a real promotion.
* ``ModelLifeCycle`` — a free-form ``Stage`` plus a required ``StageStatus``
  (both ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``, so no spaces or underscores).
  AWS suggests Development, QA, PreProduction, Production, Archived.

``stage_source`` picks which of them modelgate reads and writes:

* ``"approval"``: the approval status alone.
* ``"lifecycle"``: ``ModelLifeCycle`` alone; a package without one (or with an
  unmapped stage) is DRAFT.
* ``"both"`` (default): the lifecycle stage wins when the package has one that
  is mapped; otherwise the approval status decides. Writes set both words when
  the target stage has one in each table (PRODUCTION: ``Approved`` and
  lifecycle ``Production``), else the one that exists (STAGING: lifecycle only).

Lifecycle keys are a stage name (``"Production"``) or a stage and status
(``"Production/Rejected"``); the stage-and-status key is more specific and wins.
For writes, the first key (in file order) mapping to the target stage is used;
a key without a status is written with ``lifecycle_stage_status``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config import ConfigError, RegistrySettings, registry_options
from gateway.domain import Stage

APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")
# ModelLifeCycle.Stage / StageStatus pattern from the service model (EntityName).
LIFECYCLE_WORD = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
STAGE_SOURCES = ("approval", "lifecycle", "both")

DEFAULT_APPROVAL_STAGES: dict[str, str] = {
    "PendingManualApproval": "DRAFT",
    "Approved": "PRODUCTION",
    "Rejected": "ARCHIVED",
}
DEFAULT_LIFECYCLE_STAGES: dict[str, str] = {
    "Staging": "STAGING",
    "Production": "PRODUCTION",
    "Archived": "ARCHIVED",
}


@dataclass(frozen=True)
class SageMakerOptions:
    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    # An AWS shared-credentials file (INI) whose ``profile`` section (else
    # ``default``) holds static keys: they replace the whole standard chain, so
    # nothing from the environment is used (a mounted secret, a local emulator).
    credentials_file: str | None = None
    stage_source: str = "both"
    approval_stages: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_APPROVAL_STAGES))
    lifecycle_stages: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LIFECYCLE_STAGES))
    lifecycle_stage_status: str = "Approved"
    timeout_seconds: float = 10.0
    max_attempts: int = 4
    # Describe/ListTags calls in flight at once per listing page (SageMaker
    # throttles per account, and every other tool of the team shares that budget).
    max_concurrency: int = 8
    lineage: bool = True
    lineage_max_depth: int = 4
    # Where CloudWatch (endpoint metrics for canary rollouts) is called; by
    # default ``endpoint_url`` (one local emulator serves both), else AWS's own.
    metrics_endpoint_url: str | None = None


def parse_options(registry: RegistrySettings) -> SageMakerOptions:
    """Validate a registry's options without touching the network; errors name the key."""
    key = registry.key
    options = registry_options(SageMakerOptions, registry)
    if not options.region.strip():
        raise ConfigError(f"{key}.region", "must not be empty")
    if options.endpoint_url is not None and not options.endpoint_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{key}.endpoint_url", f"must be an http:// or https:// URL, got {options.endpoint_url!r}"
        )
    if options.credentials_file is not None:
        static_keys(options, key)  # readable and complete, or the error names the key
    if options.stage_source not in STAGE_SOURCES:
        raise ConfigError(
            f"{key}.stage_source", f"must be one of {', '.join(STAGE_SOURCES)}, got {options.stage_source!r}"
        )
    _check_stage_values(options.approval_stages, f"{key}.approval_stages")
    _check_stage_values(options.lifecycle_stages, f"{key}.lifecycle_stages")
    for status in options.approval_stages:
        if status not in APPROVAL_STATUSES:
            raise ConfigError(
                f"{key}.approval_stages.{status}",
                f"not a SageMaker approval status (known: {', '.join(APPROVAL_STATUSES)})",
            )
    for name in options.lifecycle_stages:
        if not all(LIFECYCLE_WORD.match(part) for part in name.split("/", 1)):
            raise ConfigError(
                f"{key}.lifecycle_stages.{name}",
                "must be STAGE or STAGE/STATUS, each letters, digits and single dashes (SageMaker's pattern)",
            )
    if not LIFECYCLE_WORD.match(options.lifecycle_stage_status):
        raise ConfigError(f"{key}.lifecycle_stage_status", "letters, digits and single dashes only")
    if options.timeout_seconds <= 0:
        raise ConfigError(f"{key}.timeout_seconds", "must be greater than 0")
    if options.max_attempts < 1:
        raise ConfigError(f"{key}.max_attempts", "must be at least 1")
    if options.max_concurrency < 1:
        raise ConfigError(f"{key}.max_concurrency", "must be at least 1")
    if not 1 <= options.lineage_max_depth <= 10:
        raise ConfigError(f"{key}.lineage_max_depth", "must be between 1 and 10 (QueryLineage's limit)")
    return options


CREDENTIAL_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def static_keys(options: SageMakerOptions, key: str = "credentials_file") -> dict[str, str]:
    """The boto3 session arguments ``credentials_file`` holds (``aws_access_key_id``,
    ``aws_secret_access_key``, optionally ``aws_session_token``); ConfigError when
    the file cannot be read or lacks them."""
    import configparser

    where = key if key.endswith("credentials_file") else f"{key}.credentials_file"
    section = options.profile or "default"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(options.credentials_file or "", encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError(where, f"cannot read {options.credentials_file}: {exc.strerror}") from None
    except configparser.Error:
        raise ConfigError(where, f"{options.credentials_file} is not an AWS credentials (INI) file") from None
    if not parser.has_section(section):
        raise ConfigError(where, f"{options.credentials_file} has no [{section}] section")
    keys = {k: v.strip() for k, v in parser.items(section) if k in CREDENTIAL_KEYS and v.strip()}
    if not {"aws_access_key_id", "aws_secret_access_key"} <= set(keys):
        raise ConfigError(where, f"[{section}] needs aws_access_key_id and aws_secret_access_key")
    return keys


def _check_stage_values(table: Mapping[str, Any], key: str) -> None:
    for native, unified in table.items():
        if unified not in Stage.__members__:
            raise ConfigError(
                f"{key}.{native}", f"expected one of {', '.join(Stage.__members__)}, got {unified!r}"
            )


@dataclass(frozen=True)
class StageWrite:
    """What ``UpdateModelPackage`` must change to reach a stage (None: leave as is)."""

    approval_status: str | None = None
    lifecycle_stage: str | None = None
    lifecycle_status: str | None = None


class StageMapping:
    """SageMaker's approval status and ModelLifeCycle <-> the unified stage."""

    def __init__(self, options: SageMakerOptions):
        self.source = options.stage_source
        self.approval = {k: Stage(v) for k, v in options.approval_stages.items()}
        self.lifecycle = {k: Stage(v) for k, v in options.lifecycle_stages.items()}
        self.default_status = options.lifecycle_stage_status

    def _lifecycle_stage(self, lifecycle: Mapping[str, Any] | None) -> Stage | None:
        if not lifecycle or not lifecycle.get("Stage"):
            return None
        specific = f"{lifecycle['Stage']}/{lifecycle.get('StageStatus', '')}"
        return self.lifecycle.get(specific) or self.lifecycle.get(lifecycle["Stage"])

    def read(self, approval: str | None, lifecycle: Mapping[str, Any] | None) -> Stage:
        from_lifecycle = self._lifecycle_stage(lifecycle) if self.source != "approval" else None
        if from_lifecycle is not None:
            return from_lifecycle
        if self.source == "lifecycle":
            return Stage.DRAFT
        return self.approval.get(approval or "", Stage.DRAFT)

    @staticmethod
    def native_words(approval: str | None, lifecycle: Mapping[str, Any] | None) -> str:
        """SageMaker's own words: ``Approved`` or ``Approved/Staging``."""
        words = [approval or "None"]
        if lifecycle and lifecycle.get("Stage"):
            words.append(str(lifecycle["Stage"]))
        return "/".join(words)

    def plan(self, target: Stage, approval: str | None, lifecycle: Mapping[str, Any] | None) -> StageWrite:
        """The change that makes ``read`` answer ``target``; ValueError (with the
        reason) when this mapping cannot express it for this package."""
        write_approval = next((k for k, v in self.approval.items() if v is target), None)
        write_lifecycle = next((k for k, v in self.lifecycle.items() if v is target), None)
        plan = StageWrite()
        if self.source in ("approval", "both") and write_approval and write_approval != approval:
            plan = StageWrite(approval_status=write_approval)
        if self.source in ("lifecycle", "both") and write_lifecycle:
            stage, _, status = write_lifecycle.partition("/")
            current = (lifecycle or {}).get("Stage"), (lifecycle or {}).get("StageStatus")
            wanted = stage, status or self.default_status
            if current != wanted and self._lifecycle_stage(lifecycle) is not target:
                plan = StageWrite(plan.approval_status, *wanted)
        after_lifecycle = (
            {"Stage": plan.lifecycle_stage, "StageStatus": plan.lifecycle_status}
            if plan.lifecycle_stage
            else lifecycle
        )
        reached = self.read(plan.approval_status or approval, after_lifecycle)
        if reached is not target:
            raise ValueError(
                f"cannot express {target.value} for a package at "
                f"{self.native_words(approval, lifecycle)!r} with stage_source={self.source!r}: "
                f"the mapping tables have no {'approval status' if self.source == 'approval' else 'entry'} "
                f"that reads back as {target.value} (it would read {reached.value})"
            )
        return plan
