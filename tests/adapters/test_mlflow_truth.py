"""What modelgate states about a real MLflow 3.x server (``tests/servers/mlflow.py``),
driven the way teams drive it, with MLflow's own client:

- both ways of stating a stage (aliases and legacy ``transition-stage``) in the
  default mapping, the alias winning where they disagree;
- a PRODUCTION write-through leaves exactly one production version, whichever
  way the previous one was promoted;
- two production versions are reported (a built-in warning, a search facet);
- a well-kept MLflow model (documented tags, a logged model with its files, git
  run tags) passes the shipped policies and is promoted to PRODUCTION.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("mlflow")  # a test dependency: it starts the real server
from mlflow.exceptions import MlflowException

from adapters.base import RetryPolicy
from adapters.mlflow import MlflowAdapter, MlflowOptions
from adapters.protocol import PromotionContext
from gateway.auth.principal import Principal
from gateway.domain import Stage
from gateway.runtime import Gateway
from tests.adapters.contract import unique_name
from tests.servers.mlflow import LoggedDataset, MlflowTeam
from tests.support import data_of, gql, make_settings

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.*:FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:mlflow.*"),  # pyfunc logging hints
]

REGISTRY = "mlflow-truth"
FAST_RETRY = RetryPolicy(attempts=3, deadline_seconds=5.0, initial_wait=0.05, max_wait=0.2)
SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies.yaml"

ALICE = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"fraud"}))
BOB = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"fraud"}))
CAROL = Principal("carol", frozenset({"LEGAL"}))
DAVE = Principal("dave", frozenset({"SECURITY"}))


@pytest.fixture(scope="module")
def team(mlflow_url: str) -> MlflowTeam:
    return MlflowTeam(mlflow_url)


@pytest.fixture
async def adapter(mlflow_url: str) -> AsyncIterator[MlflowAdapter]:
    a = MlflowAdapter(REGISTRY, MlflowOptions(url=mlflow_url), retry=FAST_RETRY)
    yield a
    await a.aclose()


@pytest.fixture(autouse=True, scope="module")
def _quiet_mlflow_logs() -> Iterator[None]:
    import logging

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def model_with(team: MlflowTeam, prefix: str, versions: int) -> str:
    name = unique_name(prefix)
    for i in range(1, versions + 1):
        team.register(name, f"s3://b/{prefix}/{i}")
    return name


async def stages_of(adapter: MlflowAdapter, name: str) -> dict[str, tuple[Stage, str | None]]:
    page = await adapter.list_versions(name)
    return {v.version: (v.stage, v.native_stage) for v in page.items}


def alias_holder(team: MlflowTeam, name: str, alias: str) -> str | None:
    try:
        return str(team.client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


# --- 1. both ways of stating a stage ---------------------------------------------------


async def test_the_default_mapping_honours_legacy_stages(adapter: MlflowAdapter, team: MlflowTeam) -> None:
    name = model_with(team, "legacyread", 4)
    c = team.client
    c.transition_model_version_stage(name, "1", "Production")  # the design brief's own example
    c.transition_model_version_stage(name, "2", "Staging")
    c.set_registered_model_alias(name, "challenger", "3")
    c.transition_model_version_stage(name, "3", "Production")  # alias and stage disagree
    c.set_registered_model_alias(name, "champion", "4")
    c.transition_model_version_stage(name, "4", "Production")  # they agree
    assert await stages_of(adapter, name) == {
        "1": (Stage.PRODUCTION, "Production"),
        "2": (Stage.STAGING, "Staging"),
        "3": (Stage.STAGING, "challenger; stage Production"),  # the alias wins, both shown
        "4": (Stage.PRODUCTION, "champion; stage Production"),
    }
    detail = await adapter.get_version(name, "1")
    assert detail is not None and detail.stage is Stage.PRODUCTION  # the detail read agrees


# --- 2. a PRODUCTION write-through leaves one production version ----------------------------


async def test_promotion_moves_the_production_alias_the_model_uses(
    adapter: MlflowAdapter, team: MlflowTeam
) -> None:
    name = model_with(team, "champ", 2)
    team.client.set_registered_model_alias(name, "champion", "1")
    v2 = await adapter.get_version(name, "2")
    assert v2 is not None

    promoted = await adapter.set_stage(v2, Stage.PRODUCTION, PromotionContext("alice"))

    assert (promoted.stage, promoted.native_stage) == (Stage.PRODUCTION, "champion")
    assert alias_holder(team, name, "champion") == "2"  # models:/name@champion serves v2 now
    assert alias_holder(team, name, "production") is None  # no second production alias made up
    assert await stages_of(adapter, name) == {
        "1": (Stage.DRAFT, None),
        "2": (Stage.PRODUCTION, "champion"),
    }


async def test_promotion_moves_every_production_alias_in_use(
    adapter: MlflowAdapter, team: MlflowTeam
) -> None:
    name = model_with(team, "twoalias", 3)
    team.client.set_registered_model_alias(name, "production", "1")
    team.client.set_registered_model_alias(name, "champion", "3")
    v2 = await adapter.get_version(name, "2")
    assert v2 is not None

    await adapter.set_stage(v2, Stage.PRODUCTION, PromotionContext("alice"))

    assert (alias_holder(team, name, "production"), alias_holder(team, name, "champion")) == ("2", "2")
    stages = await stages_of(adapter, name)
    assert [v for v, (stage, _) in stages.items() if stage is Stage.PRODUCTION] == ["2"]


async def test_promotion_demotes_a_legacy_production_version(
    adapter: MlflowAdapter, team: MlflowTeam
) -> None:
    name = model_with(team, "legacydemote", 2)
    team.client.transition_model_version_stage(name, "1", "Production")
    v2 = await adapter.get_version(name, "2")
    assert v2 is not None

    promoted = await adapter.set_stage(v2, Stage.PRODUCTION, PromotionContext("alice"))

    assert promoted.stage is Stage.PRODUCTION
    assert team.client.get_model_version(name, "1").current_stage == "Archived"  # archive_existing_versions
    assert team.client.get_model_version(name, "2").current_stage == "Production"
    assert alias_holder(team, name, "production") == "2"
    assert await stages_of(adapter, name) == {
        "1": (Stage.ARCHIVED, "Archived"),
        "2": (Stage.PRODUCTION, "production; stage Production"),
    }


async def test_leaving_production_clears_the_legacy_stage_too(
    adapter: MlflowAdapter, team: MlflowTeam
) -> None:
    """A version moved to Production with transition-stage, demoted through modelgate,
    must not go on reading (and serving as models:/name/Production) PRODUCTION."""
    name = model_with(team, "legacyleave", 1)
    team.client.transition_model_version_stage(name, "1", "Production")
    v1 = await adapter.get_version(name, "1")
    assert v1 is not None and v1.stage is Stage.PRODUCTION

    drafted = await adapter.set_stage(v1, Stage.DRAFT, PromotionContext("alice"))
    assert (drafted.stage, team.client.get_model_version(name, "1").current_stage) == (Stage.DRAFT, "None")
    archived = await adapter.set_stage(drafted, Stage.ARCHIVED, PromotionContext("alice"))
    assert archived.stage is Stage.ARCHIVED


async def test_stages_mode_always_archives_the_previous_production_version(
    mlflow_url: str, team: MlflowTeam
) -> None:
    name = model_with(team, "stagesmode", 2)
    team.client.transition_model_version_stage(name, "1", "Production")
    legacy = MlflowAdapter(REGISTRY, MlflowOptions(url=mlflow_url, stage_mapping="stages"), retry=FAST_RETRY)
    try:
        v2 = await legacy.get_version(name, "2")
        assert v2 is not None
        await legacy.set_stage(
            v2, Stage.PRODUCTION, PromotionContext("alice")
        )  # archive_existing_versions is off
        assert await stages_of(legacy, name) == {
            "1": (Stage.ARCHIVED, "Archived"),
            "2": (Stage.PRODUCTION, "Production"),
        }
    finally:
        await legacy.aclose()


# --- through the gateway: detection, governance, the shipped policies ---------------------------


@pytest.fixture
async def gateway(mlflow_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = make_settings(
        f"sqlite:///{tmp_path}/index.db",
        tmp_path,
        registries=[{"id": REGISTRY, "kind": "mlflow", "team": "fraud", "url": mlflow_url}],
        governance={"policies": str(SHIPPED_POLICIES)},
    )
    gw = await Gateway.open(settings)
    # The session's MLflow server is shared: each test refreshes its own models instead
    # of a full sync, so record the registry as synced (else every answer says SYNCING).
    await gw.index.record_sync(REGISTRY, healthy=True, synced=True)
    try:
        yield gw
    finally:
        await gw.aclose()


async def refresh(gw: Gateway, name: str) -> None:
    await gw.sync.refresh_model(REGISTRY, name)


async def graphql(gw: Gateway, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    from gateway.server import create_app

    app = create_app(gw.settings, gateway=gw, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        return data_of(await gql(client, query, variables))


MULTIPLE = """
query($name: String!) {
  models(query: $name, filter: { multipleProduction: true }) {
    totalCount facets { conflicts { value count } } edges { node { name } }
  }
  versions(query: $name, filter: { multipleProduction: true }) { edges { node { version } } }
}
"""


async def test_two_production_versions_are_reported(gateway: Gateway, team: MlflowTeam) -> None:
    name = model_with(team, "doubleprod", 3)
    team.client.set_registered_model_alias(name, "champion", "1")
    team.client.transition_model_version_stage(name, "2", "Production")  # the other way
    await refresh(gateway, name)

    uris = [f"mg://{REGISTRY}/{name}/{v}" for v in ("1", "2", "3")]
    stored = await gateway.governance.stored_compliance(uris)
    flagged = {
        uri.rsplit("/", 1)[1]: [v for v in s.violations if v.policy == "modelgate.multiple-production"]
        for uri, s in stored.items()
    }
    assert [v for v, found in sorted(flagged.items()) if found] == ["1", "2"]
    warning = flagged["1"][0]
    assert warning.severity == "warning" and "(1, 2)" in warning.message

    data = await graphql(gateway, MULTIPLE, {"name": name})
    assert data["models"]["totalCount"] == 1
    assert data["models"]["edges"][0]["node"]["name"] == name
    assert data["models"]["facets"]["conflicts"] == [{"value": "multipleProduction", "count": 1}]
    assert sorted(e["node"]["version"] for e in data["versions"]["edges"]) == ["1", "2"]

    # Promoting one of them again through modelgate leaves one: the report clears.
    v3 = await gateway.index.get_version(uris[2])
    assert v3 is not None
    await gateway.adapters[REGISTRY].set_stage(v3, Stage.PRODUCTION, PromotionContext("alice"))
    await refresh(gateway, name)
    stored = await gateway.governance.stored_compliance(uris)
    assert not any(v.policy == "modelgate.multiple-production" for s in stored.values() for v in s.violations)
    data = await graphql(gateway, MULTIPLE, {"name": name})
    assert data["models"]["totalCount"] == 0 and data["models"]["facets"]["conflicts"] == []
    stages = {uri: (await gateway.index.get_version(uri)) for uri in uris}
    assert [u for u, v in stages.items() if v is not None and v.stage is Stage.PRODUCTION] == [uris[2]]


async def test_leaving_production_needs_the_shipped_approval(gateway: Gateway, team: MlflowTeam) -> None:
    name = model_with(team, "leaveprod", 1)
    team.client.set_registered_model_alias(name, "champion", "1")
    await refresh(gateway, name)
    uri = f"mg://{REGISTRY}/{name}/1"

    request = await gateway.governance.promotions.request(ALICE, uri, Stage.ARCHIVED, "retired")

    assert (request.status.value, request.missing_roles) == ("PENDING", ("TEAM_LEAD",))
    assert alias_holder(team, name, "champion") == "1"  # nothing applied yet
    applied = await gateway.governance.promotions.approve(BOB, request.id, "retire it")
    assert applied.status.value == "APPLIED"
    assert alias_holder(team, name, "champion") is None
    indexed = await gateway.index.get_version(uri)
    assert indexed is not None and indexed.stage is Stage.ARCHIVED


def log_well_kept_model(team: MlflowTeam, url: str, name: str) -> str:
    """A model as a careful team leaves it: a git-tracked training run with its
    training data, a logged pyfunc model (MLmodel, requirements.txt, signature)
    and the documented version tags. Returns the version."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    run_id = team.train(
        params={"max_depth": "6"},
        metrics={"auc": 0.93},
        datasets=[LoggedDataset("tx-2026q3", "s3://fraud-data/tx/2026q3.parquet", "training")],
        tags={
            "mlflow.source.git.repoURL": "https://git.example.com/fraud/train",
            "mlflow.source.git.commit": "9f2c1e7a4b",
            "mlflow.source.name": "train.py",
        },
    )

    class Scorer(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input["amount"] * 0.0

    frame = pd.DataFrame({"amount": [1.0, 2.5]})
    mlflow.set_tracking_uri(url)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=Scorer(),
            pip_requirements=["pandas==2.2.3", "scikit-learn==1.5.2"],
            signature=infer_signature(frame, frame["amount"]),
        )
    return team.register(
        name,
        info.model_uri,
        run_id=run_id,
        tags={
            "modelgate.semver": "1.4.0",
            "model_card.intended_use": "Scoring card-not-present transactions",
            "model_card.limitations": "Not calibrated for merchant categories unseen in training",
            "model_card.evaluation": "AUC 0.93 on the 2026Q3 holdout",
            "model_card.bias_assessment": "False-positive rates within 2% across regions",
        },
    )


async def test_a_well_kept_mlflow_model_passes_the_shipped_policies(
    gateway: Gateway, team: MlflowTeam, mlflow_url: str
) -> None:
    name = unique_name("wellkept")
    version = log_well_kept_model(team, mlflow_url, name)
    await refresh(gateway, name)
    uri = f"mg://{REGISTRY}/{name}/{version}"
    indexed = await gateway.index.get_version(uri)
    assert indexed is not None
    assert indexed.semver == "1.4.0"
    assert indexed.model_card.intended_use == "Scoring card-not-present transactions"
    assert indexed.model_card.evaluation == "AUC 0.93 on the 2026Q3 holdout"
    assert indexed.training_code is not None
    assert (indexed.training_code.repository, indexed.training_code.commit, indexed.training_code.path) == (
        "https://git.example.com/fraud/train",
        "9f2c1e7a4b",
        "train.py",
    )
    assert indexed.environment is not None  # read from the model's own files
    assert "scikit-learn==1.5.2" in indexed.environment and indexed.environment.startswith("python=")
    assert "inputs" in indexed.native["signature"]

    as_production = await gateway.governance.evaluate(indexed, Stage.PRODUCTION)
    assert as_production.violations == ()  # not even a warning

    promotions = gateway.governance.promotions
    request = await promotions.request(ALICE, uri, Stage.PRODUCTION, "Q3 launch")
    assert request.status.value == "PENDING", request.violations
    await promotions.approve(BOB, request.id)
    await promotions.approve(CAROL, request.id)
    applied = await promotions.approve(DAVE, request.id)
    assert applied.status.value == "APPLIED", applied.error
    assert alias_holder(team, name, "production") == version


async def test_a_model_without_the_conventions_is_blocked_with_reasons(
    gateway: Gateway, team: MlflowTeam
) -> None:
    """The counterpart: the same promotion of a bare version names every rule it fails."""
    name = model_with(team, "bare", 1)
    await refresh(gateway, name)
    request = await gateway.governance.promotions.request(
        ALICE, f"mg://{REGISTRY}/{name}/1", Stage.PRODUCTION
    )
    assert request.status.value == "BLOCKED"
    assert {v.policy for v in request.violations if v.severity == "error"} == {
        "production-model-card",
        "training-data-recorded",
        "training-code-recorded",
        "production-semver",
    }
