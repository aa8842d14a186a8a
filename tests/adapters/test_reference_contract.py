"""Every installed kind whose factory declares ``ReferenceParser`` passes the
reference contract (``tests/adapters/reference_contract.py``) with its real
reference shapes; a kind that declares it without shapes here fails."""

from __future__ import annotations

import pytest

from adapters.azureml import refs as azureml_refs
from adapters.base import load_factories, reference_parser
from adapters.gto.refs import GtoReferences
from adapters.huggingface.refs import HubReferences
from adapters.kubeflow.refs import KubeflowReferences
from adapters.mlflow import refs as mlflow_refs
from adapters.protocol import ReferenceMatch, ReferenceParser
from adapters.sagemaker import refs as sagemaker_refs
from adapters.unity_catalog.refs import UnityCatalogReferences
from adapters.vertex import refs as vertex_refs
from adapters.wandb.refs import WandbReferences
from tests.adapters.reference_contract import (
    ReferenceShapes,
    check_foreign_references,
    check_malformed_input_never_raises,
    check_own_references,
)

ARM = "/subscriptions/sub-1/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices"
REPO = "https://git.example.com/acme/models.git"
SM = "arn:aws:sagemaker:eu-west-1:123456789012"
VX = "projects/acme-ml/locations/europe-west4/models"

SHAPES = {
    shapes.kind: shapes
    for shapes in (
        ReferenceShapes(
            "azureml",
            {
                "subscription_id": "sub-1",
                "resource_group": "rg-ml",
                "workspace": "ws-prod",
                "registry": "shared",
            },
            own={
                f"{ARM}/workspaces/ws-prod/models/churn/versions/3": ReferenceMatch("churn", "3"),
                f"{ARM}/workspaces/WS-PROD/models/churn": ReferenceMatch("churn"),  # Azure folds the scope
                f"{ARM}/registries/shared/models/churn/versions/2": ReferenceMatch("churn", "2"),
                "azureml://registries/shared/models/churn/versions/2": ReferenceMatch("churn", "2"),
                "azureml:churn:3": ReferenceMatch("churn", "3", weak=True),
            },
            foreign=(
                f"{ARM}/workspaces/ws-dev/models/churn/versions/3",
                "/subscriptions/sub-2/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices"
                "/workspaces/ws-prod/models/churn/versions/3",
                "azureml://registries/other/models/churn/versions/2",
                "models:/churn/3",
            ),
        ),
        ReferenceShapes(
            "gto",
            {"repo": REPO},
            own={
                "churn@v1.2.0": ReferenceMatch("churn", "v1.2.0", weak=True),
                f"{REPO}:churn@v1.2.0": ReferenceMatch("churn", "v1.2.0"),
                f"{REPO}:nlp/churn@v2.0.0-rc.1": ReferenceMatch("nlp%2Fchurn", "v2.0.0-rc.1"),
            },
            foreign=("https://git.example.com/acme/other.git:churn@v1.2.0", "churn#prod", "churn@1.2.0"),
        ),
        ReferenceShapes(
            "huggingface",
            {"organization": "acme"},
            own={
                "hf://acme/churn@v1.0": ReferenceMatch("acme%2Fchurn", "v1.0"),
                "https://huggingface.co/acme/churn/tree/main": ReferenceMatch("acme%2Fchurn", "main"),
                "https://hf.co/acme/churn": ReferenceMatch("acme%2Fchurn"),
                "hf://acme/churn@3f2a9c1": ReferenceMatch("acme%2Fchurn"),  # a commit: the model
            },
            foreign=(
                "hf://meta-llama/Llama-3-8B",
                "hf://datasets/acme/churn",
                "https://example.com/acme/churn",
            ),
        ),
        ReferenceShapes(
            "kubeflow",
            {"url": "http://model-registry.kubeflow:8080"},
            own={
                "model-registry://churn/3": ReferenceMatch("churn", "3", weak=True),
                "model-registry://churn": ReferenceMatch("churn", weak=True),
                "model-registry://model-registry.kubeflow:8080/churn/3": ReferenceMatch("churn", "3"),
                "model-registry://model-registry.kubeflow/churn%20v2/1": ReferenceMatch("churn v2", "1"),
            },
            foreign=(
                "model-registry://elsewhere:8080/churn/3",
                "model-registry://a/b/c/d",
                "models:/churn/3",
            ),
        ),
        ReferenceShapes(
            "mlflow",
            {"url": "http://mlflow:5000"},
            own={
                "models:/churn/3": ReferenceMatch("churn", "3", weak=True),
                "models:///churn/12/": ReferenceMatch("churn", "12", weak=True),
            },
            foreign=("runs:/0a1b/model", f"{SM}:model-package/churn/3"),
            unresolvable=("models:/churn@champion", "models:/m-0a1b2c", "models:/churn/latest"),
        ),
        ReferenceShapes(
            "sagemaker",
            {"region": "eu-west-1"},
            own={
                f"{SM}:model-package/churn/3": ReferenceMatch("churn", "3", case_insensitive=True),
                f"{SM}:model-package-group/Churn": ReferenceMatch("Churn", case_insensitive=True),
                "arn:aws-cn:sagemaker:eu-west-1:1:model-package/churn/1": ReferenceMatch(
                    "churn", "1", case_insensitive=True
                ),
            },
            foreign=("arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3", "models:/churn/3"),
            unresolvable=(f"{SM}:model-package/churn",),  # an unversioned package
        ),
        ReferenceShapes(
            "unity_catalog",
            {"catalog": "main", "schema": "ml"},
            own={
                "models:/main.ml.churn/3": ReferenceMatch("main.ml.churn", "3"),
                "models:/main.ml.churn": ReferenceMatch("main.ml.churn"),
            },
            foreign=("models:/dev.ml.churn/3", "models:/main.other.churn/3", "models:/churn/3"),
            unresolvable=("models:/main.ml.churn@champion", "models:/main.ml.churn/latest"),
        ),
        ReferenceShapes(
            "vertex",
            {"project": "acme-ml", "location": "europe-west4"},
            own={
                f"{VX}/123@2": ReferenceMatch("123", "2"),
                f"{VX}/123": ReferenceMatch("123"),
                f"https://europe-west4-aiplatform.googleapis.com/v1/{VX}/123@2": ReferenceMatch("123", "2"),
                f"//aiplatform.googleapis.com/{VX}/123": ReferenceMatch("123"),
                "projects/998877/locations/europe-west4/models/123@2": ReferenceMatch(
                    "123", "2", weak=True, context_only=True
                ),
            },
            foreign=(
                "projects/acme-ml/locations/us-central1/models/123@2",
                "projects/other/locations/europe-west4/models/123",
            ),
            unresolvable=(f"{VX}/123@default",),
        ),
        ReferenceShapes(
            "wandb",
            {"entity": "acme", "registry": "team"},
            own={
                "wandb-artifact:///acme-org/wandb-registry-team/churn:v3": ReferenceMatch(
                    "churn", "v3", weak=True
                ),
                "wandb-artifact:///acme-org/wandb-registry-team/churn:production": ReferenceMatch(
                    "churn", weak=True
                ),
            },
            foreign=(
                "wandb-artifact:///acme-org/wandb-registry-other/churn:v3",
                "wandb-artifact:///acme-org/my-project/churn:v3",
            ),
        ),
    )
}

# The kinds' parsers as their packages define them, beside the factories'
# (which must be the same behaviour: the factories delegate to these).
MODULE_PARSERS = {
    "azureml": azureml_refs,
    "gto": GtoReferences(),
    "huggingface": HubReferences(),
    "kubeflow": KubeflowReferences(),
    "mlflow": mlflow_refs,
    "sagemaker": sagemaker_refs,
    "unity_catalog": UnityCatalogReferences(),
    "vertex": vertex_refs,
    "wandb": WandbReferences(),
}


def declaring_kinds() -> dict[str, ReferenceParser]:
    return {
        kind: parser
        for kind, factory in sorted(load_factories().items())
        if (parser := reference_parser(factory)) is not None
    }


def test_every_kind_declaring_the_capability_states_its_shapes() -> None:
    assert set(declaring_kinds()) == set(SHAPES), "give each kind's reference shapes in SHAPES"


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_own_references_name_their_model_and_version(kind: str) -> None:
    check_own_references(declaring_kinds()[kind], SHAPES[kind])
    check_own_references(MODULE_PARSERS[kind], SHAPES[kind])  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_foreign_references_are_not_claimed(kind: str) -> None:
    check_foreign_references(declaring_kinds()[kind], SHAPES[kind])


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_malformed_input_never_raises(kind: str) -> None:
    check_malformed_input_never_raises(declaring_kinds()[kind], SHAPES[kind])
    check_malformed_input_never_raises(MODULE_PARSERS[kind], SHAPES[kind])  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_other_kinds_malformed_shapes_are_safe_here_too(kind: str) -> None:
    """Every kind sees every other kind's references in one lineage walk."""
    parser, registry = declaring_kinds()[kind], SHAPES[kind].registry()
    for other in SHAPES.values():
        for text in [*other.own, *other.foreign]:
            match = parser.parse_reference(text, registry)
            assert match is None or isinstance(match, ReferenceMatch)
