"""Links into each source registry's own UI (``SourceLinker``): the URLs people follow
from the catalogue to MLflow, the AWS, Google Cloud and Azure consoles, or the Git
repository. Pure functions of the registry's options, so checked here directly; the
demo tests follow them through GraphQL for a real MLflow server and Git repository."""

from __future__ import annotations

import pytest

from adapters.azureml.links import studio_url
from adapters.azureml.options import load_settings
from adapters.base import source_url_of
from adapters.gto.links import repository_url
from adapters.huggingface.links import hub_page_url
from adapters.mlflow.links import mlflow_ui_url
from adapters.sagemaker.links import sagemaker_console_url
from adapters.vertex.links import vertex_console_url
from gateway.config import RegistrySettings


def test_mlflow_pages_are_its_hash_routes_with_names_escaped() -> None:
    assert (
        mlflow_ui_url("http://mlflow:5000/", "fraud detector")
        == "http://mlflow:5000/#/models/fraud%20detector"
    )
    assert (
        mlflow_ui_url("https://ml.example.com/mlflow", "a/b", "3")
        == "https://ml.example.com/mlflow/#/models/a%2Fb/versions/3"
    )


def test_sagemaker_links_the_console_only_for_aws_itself() -> None:
    assert sagemaker_console_url("eu-west-1", None, "churn") == (
        "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/model-registry/churn"
    )
    assert sagemaker_console_url("us-east-1", "http://127.0.0.1:5000", "churn") is None


def test_vertex_links_the_console_only_for_googles_api() -> None:
    google = "https://europe-west4-aiplatform.googleapis.com/v1/"
    assert vertex_console_url(google, "acme-ml", "europe-west4", "123") == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/models/123?project=acme-ml"
    )
    assert vertex_console_url("http://127.0.0.1:9000/v1/", "acme-ml", "europe-west4", "123") is None


@pytest.mark.parametrize(
    ("repo", "link"),
    [
        ("https://token@github.com/acme/models.git", "https://github.com/acme/models"),
        ("https://git.internal:8443/nlp/models/", "https://git.internal:8443/nlp/models"),
        ("ssh://git@github.com:22/acme/models.git", "https://github.com/acme/models"),
        ("git@gitlab.com:acme/nlp/models.git", "https://gitlab.com/acme/nlp/models"),
        ("file:///srv/git/models", "file:///srv/git/models"),
        ("/srv/git/models", "file:///srv/git/models"),
        ("git://git.internal/nlp/models.git", None),
    ],
)
def test_a_git_registry_links_its_repository(repo: str, link: str | None) -> None:
    assert repository_url(repo) == link


def _azure(**options: str) -> RegistrySettings:
    base = {
        "subscription_id": "00000000-1111-2222-3333-444444444444",
        "resource_group": "ml",
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_env": "AZURE_CLIENT_SECRET",
    }
    return RegistrySettings(id="azure-risk", kind="azureml", options={**base, **options})


def test_azure_ml_links_studio_for_a_workspace_in_the_public_cloud() -> None:
    env = {"AZURE_CLIENT_SECRET": "s"}
    workspace = load_settings(_azure(workspace="risk-ws"), environ=env)
    wsid = (
        "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/ml"
        "/providers/Microsoft.MachineLearningServices/workspaces/risk-ws"
    )
    assert studio_url(workspace, "credit", "4") == f"https://ml.azure.com/model/credit:4/details?wsid={wsid}"
    assert studio_url(workspace, "credit") == f"https://ml.azure.com/model/list?wsid={wsid}"
    assert studio_url(load_settings(_azure(registry="org-registry"), environ=env), "credit", "4") is None
    local = load_settings(_azure(workspace="risk-ws", endpoint="http://127.0.0.1:8081"), environ=env)
    assert studio_url(local, "credit", "4") is None


def test_the_hub_links_a_repository_and_its_tag() -> None:
    assert hub_page_url("https://huggingface.co", "acme%2Fllm") == "https://huggingface.co/acme/llm"
    assert hub_page_url("https://huggingface.co", "acme%2Fllm", "v1.0.0") == (
        "https://huggingface.co/acme/llm/tree/v1.0.0"
    )
    # A self-hosted Hub serves its pages where it serves its API.
    assert hub_page_url("https://hub.internal:8443/", "nlp%2Fbert", "main") == (
        "https://hub.internal:8443/nlp/bert/tree/main"
    )
    assert hub_page_url("https://huggingface.co", "not-a-repository") is None


def test_a_link_that_fails_is_no_link() -> None:
    class Broken:
        def source_url(self, model_name: str, version: str | None = None) -> str:
            raise KeyError(model_name)

    assert source_url_of(Broken(), "m", "1") is None
    assert source_url_of(object(), "m") is None
