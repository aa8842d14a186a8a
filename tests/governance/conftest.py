"""Governance fixtures: a gateway with a test policy file, principals, helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from adapters.protocol import RegistrationRequest
from gateway.auth.principal import Principal
from gateway.codec import version_from_dict, version_to_dict
from gateway.domain import CodeRef, DatasetRef, ModelCard, ModelVersion, Stage
from gateway.runtime import Gateway
from gateway.store.tables import native_versions as nv
from tests.support import make_settings

POLICIES = """
policies:
  - id: card-complete
    description: Production versions document intended use and limitations
    scope: { stages: [PRODUCTION] }
    rule: 'version.modelCard.intendedUse != "" && version.modelCard.limitations != ""'
    severity: error
  - id: training-data
    scope: { stages: [STAGING, PRODUCTION] }
    rule: 'version.trainingData.exists(d, d.role == "training")'
    severity: error
  - id: min-auc
    description: Platform models keep an AUC of at least 0.8
    scope: { teams: [platform] }
    rule: '!("auc" in version.metrics) || version.metrics["auc"] >= 0.8'
    severity: warning
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD, LEGAL, SECURITY]
  - to: STAGING
    approvals: [TEAM_LEAD]
retention:
  - id: stale-candidates
    older_than_days: 30
    keep_last: 1
"""

# alice works on the platform team; the others approve.
ALICE = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"platform"}))
BOB = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"platform"}))
CAROL = Principal("carol", frozenset({"LEGAL"}))
DAVE = Principal("dave", frozenset({"SECURITY"}))
ERIN = Principal("erin", frozenset({"LEGAL", "SECURITY"}))
AUDITOR = Principal("audrey", frozenset({"auditor"}))
OUTSIDER = Principal("mallory", frozenset({"TEAM_LEAD", "LEGAL"}), frozenset({"research"}))

GOOD_CARD = ModelCard(intended_use="Scoring card payments", limitations="Card-present only")


def write_policies(tmp_path: Path, text: str = POLICIES, name: str = "policies.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def open_gateway(database_url: str, tmp_path: Path, policies: Path | None = None) -> Gateway:
    policy_file = policies or write_policies(tmp_path)
    gw = await Gateway.open(make_settings(database_url, tmp_path, governance={"policies": str(policy_file)}))
    await gw.sync.sync_all(full=True)  # past SYNCING, as a served gateway is
    return gw


@pytest.fixture
async def gov(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway (native registries platform and research) with the test policies."""
    gw = await open_gateway(database_url, tmp_path)
    try:
        yield gw
    finally:
        await gw.aclose()


def complete(**fields: Any) -> dict[str, Any]:
    """Fields of a version that satisfies every test policy."""
    return {
        "artifact_uri": "s3://models/m/model.bin",
        "model_card": GOOD_CARD,
        "training_data": (DatasetRef("s3://data/train/", role="training"),),
        "training_code": CodeRef("https://git.example/m", "abc123"),
        "metrics": {"auc": 0.9},
        **fields,
    }


async def register(
    gw: Gateway, model: str, registry: str = "platform", actor: str = "alice", **fields: Any
) -> ModelVersion:
    fields.setdefault("artifact_uri", f"s3://models/{model}/model.bin")
    version = ModelVersion(registry_id=registry, model_name=model, version="0", **fields)
    return await gw.register_version(registry, RegistrationRequest(model, version, actor))


async def force_stage(gw: Gateway, version: ModelVersion, stage: Stage) -> None:
    """Write a native version's stage straight into its table, past the registry's
    one-PRODUCTION-version rule: what a database from before that rule holds, or a
    hand edit (the only way left to give a native model two PRODUCTION versions)."""
    where = (
        nv.c.registry_id == version.registry_id,
        nv.c.model_name == version.model_name,
        nv.c.version == int(version.version),
    )
    async with gw.database.write() as conn:
        record = (await conn.execute(select(nv.c.record).where(*where))).scalar_one()
        forced = dataclasses.replace(version_from_dict(record), stage=stage, native_stage=stage.value)
        await conn.execute(update(nv).where(*where).values(stage=stage.value, record=version_to_dict(forced)))
