"""Links into the Hub's own pages for a model repository and one of its revisions."""

from __future__ import annotations

from urllib.parse import quote

from adapters.huggingface.mapping import repo_id_of


def hub_page_url(endpoint: str, model_name: str, revision: str | None = None) -> str | None:
    """The repository's page on the Hub the registry reads (``huggingface.co`` or a
    self-hosted Hub, which serves its pages where it serves its API); a version is
    the repository's files at that tag (``/tree/<revision>``). None for a name that
    is no repository id."""
    repo = repo_id_of(model_name)
    if repo is None:
        return None
    page = f"{endpoint.rstrip('/')}/{quote(repo, safe='/')}"
    return f"{page}/tree/{quote(revision, safe='')}" if revision else page
