"""The MLflow adapter states a version's input signature as ``ModelVersion.input_signature``
(from the run's logged-model history tag, where MLflow clients before 2.14 wrote
the whole MLmodel, signature included), against the real MLflow server;
versioning rules read that field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("mlflow")

from adapters.mlflow import MlflowAdapter
from adapters.mlflow.mapping import logged_input_signatures
from gateway.codec import version_from_dict, version_to_dict
from gateway.governance.evaluation import input_signature
from tests.adapters.contract import unique_name
from tests.adapters.test_mlflow import make_adapter
from tests.servers.mlflow import MlflowTeam


@pytest.fixture
async def adapter(mlflow_url: str) -> AsyncIterator[MlflowAdapter]:
    a = make_adapter(mlflow_url)
    yield a
    await a.aclose()


@pytest.fixture(scope="module")
def team(mlflow_url: str) -> MlflowTeam:
    return MlflowTeam(mlflow_url)


async def test_a_logged_signature_reaches_the_version_and_the_policy_view(
    adapter: MlflowAdapter, team: MlflowTeam
) -> None:
    from mlflow.models import Model
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, Schema

    run_id = team.train(params={"max_depth": "6"})
    signature = ModelSignature(inputs=Schema([ColSpec("double", "amount"), ColSpec("string", "country")]))
    logged = Model(artifact_path="model", run_id=run_id, signature=signature).to_dict()
    # The history as older clients record it: the MLmodel dict, signature included.
    team.client.set_tag(run_id, "mlflow.log-model.history", json.dumps([logged]))
    name = unique_name("signed")
    team.register(name, "s3://contract-bucket/signed/model", run_id=run_id)
    unsigned = unique_name("unsigned")
    team.register(unsigned, "s3://contract-bucket/unsigned/model", run_id=team.train())

    version = await adapter.get_version(name, "1")
    assert version is not None and version.input_signature is not None
    assert json.loads(version.input_signature) == json.loads(signature.to_dict()["inputs"])
    assert version_from_dict(version_to_dict(version)).input_signature == version.input_signature
    assert '"amount"' in input_signature(version_to_dict(version))
    bare = await adapter.get_version(unsigned, "1")
    assert bare is not None and bare.input_signature is None
    assert input_signature(version_to_dict(bare)) == ""


def test_the_history_entry_of_the_versions_own_logged_model_wins() -> None:
    history = json.dumps(
        [
            {"model_id": "m-a", "signature": {"inputs": '[{"name": "a"}]'}},
            {"model_id": "m-b", "signature": {"inputs": '[{"name": "b"}]'}},
            {"model_id": "m-c"},  # logged without a signature
        ]
    )
    found = logged_input_signatures(history)
    assert found == (("m-a", '[{"name": "a"}]'), ("m-b", '[{"name": "b"}]'))
    assert logged_input_signatures("not json") == () and logged_input_signatures(None) == ()


@pytest.mark.filterwarnings("ignore::UserWarning:mlflow.*")  # pyfunc logging hints
async def test_an_mlflow3_logged_model_signature_is_read_from_its_mlmodel(
    adapter: MlflowAdapter, team: MlflowTeam, mlflow_url: str
) -> None:
    """MLflow 3 ``log_model(name=...)`` makes a LoggedModel: its signature is in the
    model's own ``MLmodel`` file and nowhere on the run."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    class Scorer(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: object, model_input: pd.DataFrame, params: object = None) -> object:
            return model_input["amount"] * 0.0

    frame = pd.DataFrame({"amount": [1.0, 2.5], "country": ["de", "fr"]})
    signature = infer_signature(frame, frame["amount"])
    run_id = team.train()
    mlflow.set_tracking_uri(mlflow_url)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name="model", python_model=Scorer(), signature=signature)
    assert info.model_uri.startswith("models:/m-")  # the MLflow 3 way, not runs:/
    assert "mlflow.log-model.history" not in team.client.get_run(run_id).data.tags
    name = unique_name("mlflow3signed")
    team.register(name, info.model_uri, run_id=run_id)

    version = await adapter.get_version(name, "1")
    assert version is not None and version.input_signature is not None
    assert json.loads(version.input_signature) == json.loads(signature.to_dict()["inputs"])
    assert '"country"' in input_signature(version_to_dict(version))
    listed = (await adapter.list_versions(name)).items
    assert [v.input_signature for v in listed] == [version.input_signature]
