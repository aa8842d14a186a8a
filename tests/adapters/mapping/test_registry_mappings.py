"""``adapters.unity_catalog.mapping``, ``adapters.vertex.mapping`` and
``adapters.wandb.mapping``: each registry's wire records in modelgate's vocabulary."""

from __future__ import annotations

from adapters.unity_catalog import mapping as uc
from adapters.unity_catalog.options import AliasMapping
from adapters.vertex import mapping as vertex
from adapters.vertex.options import StageMapping
from adapters.wandb import mapping as wandb
from gateway.domain import Relation, Stage

ALIASES = AliasMapping(production=("champion", "prod"), staging=("challenger",))
STAGES = StageMapping(("prod",), ("staging",), ("lifecycle", "archived"))


def test_unity_catalog_versions_take_their_stage_from_aliases() -> None:
    wire = {
        "catalog_name": "main",
        "schema_name": "ml",
        "model_name": "churn",
        "version": 3,
        "status": "READY",
        "source": "models:/m-abc",
        "run_id": "r1",
        "comment": "",
    }
    version = uc.to_version(wire, registry_id="uc", aliases=["Champion"], mapping=ALIASES)
    assert (version.model_name, version.version, version.stage, version.native_stage) == (
        "main.ml.churn",
        "3",
        Stage.PRODUCTION,
        "Champion",
    )
    assert version.description is None and version.native["aliases"] == ["Champion"]
    oss = uc.to_version(wire, registry_id="uc", aliases=None, mapping=ALIASES)
    assert oss.stage is Stage.DRAFT and oss.native_stage == f"READY ({uc.OSS_NOTE})"
    relations = {(e.relation, e.target.uri) for e in uc.lineage_edges(version, "mlflow")}
    assert relations == {
        (Relation.PRODUCED_BY, "mlflow-run://mlflow/r1"),
        (Relation.SAME_AS, "mlflow-logged-model://mlflow/m-abc"),
    }
    assert uc.alias_names(
        [{"alias_name": "a", "version_num": 1}, {"alias_name": "b", "version_num": 2}], 2
    ) == ["b"]
    assert uc.full_name({"full_name": "x.y.z"}) == "x.y.z"


def test_vertex_versions_read_aliases_then_the_archived_label() -> None:
    base = {
        "name": "projects/p/locations/eu/models/123@2",
        "versionId": "2",
        "metadata": {"modelgate.semver": "v2.0.0"},
        "containerSpec": {"imageUri": "gcr.io/img"},
        "deployedModels": [{"endpoint": "e1", "deployedModelId": "d1"}, {}],
    }
    version = vertex.to_version({**base, "versionAliases": ["default", "prod"]}, "vx", STAGES)
    assert (version.model_name, version.stage, version.native_stage, version.semver) == (
        "123",
        Stage.PRODUCTION,
        "prod",
        "2.0.0",
    )
    assert version.environment == "gcr.io/img" and [d.variant for d in version.deployments] == ["d1"]
    archived = vertex.to_version({**base, "labels": {"lifecycle": "archived"}}, "vx", STAGES)
    assert (archived.stage, archived.native_stage) == (Stage.ARCHIVED, "lifecycle=archived")
    assert vertex.to_version(base, "vx", STAGES).stage is Stage.DRAFT
    assert vertex.model_id_of("odd/name@3") == "name"
    model = vertex.to_model({"name": "projects/p/locations/eu/models/123", "displayName": "Churn"}, "vx")
    assert model.tags == {vertex.DISPLAY_NAME_TAG: "Churn"}


def test_wandb_names_escape_and_name_the_registry_when_several_are_read() -> None:
    assert wandb.model_name("team", "churn/v2", None) == "team%2Fchurn%2Fv2"
    assert wandb.model_name("team", "churn", "team") == "churn"
    ref = wandb.collection_ref("team%2Fchurn%252", None)
    assert ref is not None and (ref.registry, ref.collection, ref.project) == (
        "team",
        "churn%2",
        "wandb-registry-team",
    )
    assert wandb.collection_ref("churn", None) is None and wandb.collection_ref("a/b", "team") is None
    assert wandb.unescape(wandb.escape("a%2Fb/c")) == "a%2Fb/c"
    assert wandb.single_reference({"contents": {"f": {"ref": "s3://b/k"}}}) == "s3://b/k"
    assert wandb.single_reference({"contents": {"f": {"ref": "x"}, "g": {}}}) is None
    assert (
        wandb.artifact_path("org", "wandb-registry-team", "churn", 3)
        == "wandb-artifact:///org/wandb-registry-team/churn:v3"
    )
