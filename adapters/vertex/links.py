"""Links into the Google Cloud console's Vertex AI Model Registry."""

from __future__ import annotations

from urllib.parse import quote

GOOGLE_API_SUFFIX = "aiplatform.googleapis.com/v1/"


def vertex_console_url(api_base: str, project: str, location: str, model_id: str) -> str | None:
    """The model's page in the console (its versions are a tab there). None when the
    adapter talks to anything but Google's API (a fake, a private endpoint)."""
    if not api_base.endswith(GOOGLE_API_SUFFIX):
        return None
    return (
        f"https://console.cloud.google.com/vertex-ai/locations/{quote(location, safe='')}"
        f"/models/{quote(model_id, safe='')}?project={quote(project, safe='')}"
    )
