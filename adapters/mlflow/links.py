"""Links into MLflow's own UI: the model registry pages of the tracking server."""

from __future__ import annotations

from urllib.parse import quote


def mlflow_ui_url(ui_root: str, model_name: str, version: str | None = None) -> str:
    """MLflow's (hash-routed) model page, or one version's page."""
    page = f"{ui_root.rstrip('/')}/#/models/{quote(model_name, safe='')}"
    return f"{page}/versions/{quote(version, safe='')}" if version else page
