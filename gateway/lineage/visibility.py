"""Which lineage nodes a caller may not see, for every lineage answer (GraphQL,
the OpenLineage export): restricted versions of other teams become redacted
placeholders (``gateway.auth.permissions``), so the graph keeps its shape but
leaks nothing about them, not even their URI."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.catalogue.index import CatalogueIndex
from gateway.catalogue.search import Visibility
from gateway.config import Settings
from gateway.domain import parse_uri


async def hidden_uris(
    index: CatalogueIndex, settings: Settings, visibility: Visibility | None, uris: Iterable[str]
) -> set[str]:
    """The ``mg://`` model and version URIs among ``uris`` that ``visibility``
    hides: indexed ones it filters out, and ones not indexed (yet) whose registry
    is restricted to another team. The same rule as GraphQL's ``redact_lineage``."""
    if visibility is None:
        return set()
    versions: list[str] = []
    models: list[str] = []
    for uri in dict.fromkeys(uris):
        try:
            parsed = parse_uri(uri)
        except ValueError:
            continue  # datasets, code, endpoints: not catalogue entries
        (versions if parsed.version is not None else models).append(uri)
    if not versions and not models:
        return set()
    seen = {*await index.get_versions(versions, visibility=visibility)}
    seen |= {*await index.get_models(models, visibility=visibility)}
    unseen = [u for u in (*versions, *models) if u not in seen]
    if not unseen:
        return set()
    # Unfiltered: is it hidden, or just not indexed?
    indexed = {*await index.get_versions(versions), *await index.get_models(models)}
    hidden = set()
    for uri in unseen:
        registry_id = parse_uri(uri).registry_id
        registry = settings.registry(registry_id)
        restricted_elsewhere = registry_id in visibility.restricted_registries and (
            registry is None or registry.team not in visibility.teams
        )
        if uri in indexed or restricted_elsewhere:
            hidden.add(uri)
    return hidden
