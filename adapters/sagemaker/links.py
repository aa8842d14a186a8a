"""Links into the SageMaker console for a model package group (the catalogue's model)."""

from __future__ import annotations

from urllib.parse import quote


def sagemaker_console_url(region: str, endpoint_url: str | None, group: str) -> str | None:
    """The group's page in the AWS console (its versions are listed there). None for a
    custom endpoint (an emulator or a private stack has no console to link to)."""
    if endpoint_url is not None:
        return None
    return (
        f"https://{region}.console.aws.amazon.com/sagemaker/home?region={quote(region, safe='')}"
        f"#/model-registry/{quote(group, safe='')}"
    )
