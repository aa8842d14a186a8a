"""Links into Azure Machine Learning studio for a workspace's models."""

from __future__ import annotations

from urllib.parse import quote

from adapters.azureml.options import ARM_ENDPOINT, AzureMLSettings

STUDIO = "https://ml.azure.com"


def studio_url(settings: AzureMLSettings, model_name: str, version: str | None = None) -> str | None:
    """Studio's page for a workspace model version (or the workspace's model list).
    None for an Azure ML registry (studio names those by its own ids) and for any
    endpoint but Azure's public cloud."""
    if settings.is_registry or settings.endpoint.rstrip("/") != ARM_ENDPOINT.rstrip("/"):
        return None
    wsid = quote(settings.scope_path, safe="/")
    if version is None:
        return f"{STUDIO}/model/list?wsid={wsid}"
    return f"{STUDIO}/model/{quote(model_name, safe='')}:{quote(version, safe='')}/details?wsid={wsid}"
