"""The BOM a principal asked for by URI: the version under the catalogue's
visibility rule (one it may not see is absent, as in GraphQL), its details
read through the adapter when the index holds only a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.bom.facts import gather_facts, gather_many
from gateway.bom.formats import BomFormat, collection_document, document
from gateway.catalogue.index import SearchFilter, SearchQuery
from gateway.domain import ModelVersion, Stage, parse_uri
from gateway.errors import BadInput, NotFound

if TYPE_CHECKING:
    from gateway.auth.access import AccessPolicy
    from gateway.runtime import Gateway


async def visible_version(gateway: Gateway, access: AccessPolicy | None, uri: str) -> ModelVersion:
    """Version ``uri`` as ``access`` may see it (None: everything); NotFound when it
    is hidden or absent alike."""
    try:
        parsed = parse_uri(uri)
    except ValueError as exc:
        raise BadInput(str(exc), field="uri") from None
    if parsed.version is None:
        raise BadInput(f"{uri} names a model, not a version", field="uri")
    visibility = access.visibility if access is not None else None
    version = (await gateway.index.get_versions([uri], visibility=visibility)).get(uri)
    if version is None:
        raise NotFound(f"no version {uri} in the catalogue", field="uri")
    if version.partial:  # the listing's summary: read the rest (the cache's copy, else the registry)
        live = (await gateway.live.versions([uri])).get(uri)
        if live is not None and live.version is not None:
            version = live.version
    return version


# The versions a model's BOM lists: what is or is about to be in use.
MODEL_STAGES = (Stage.STAGING, Stage.PRODUCTION)
PAGE = 100


async def _complete(gateway: Gateway, versions: list[ModelVersion]) -> list[ModelVersion]:
    """Index summaries (``partial``) with their details, from the cache or the registry."""
    wanted = [v.uri for v in versions if v.partial]
    if not wanted:
        return versions
    live = await gateway.live.versions(wanted)
    return [(found.version if (found := live.get(v.uri)) and found.version else v) for v in versions]


async def visible_versions(
    gateway: Gateway, access: AccessPolicy | None, stages: tuple[Stage, ...], model_uri: str | None = None
) -> list[ModelVersion]:
    """Every version in ``stages`` (of one model, or of the whole catalogue) that
    ``access`` may see, page by page from the index."""
    visibility = access.visibility if access is not None else None
    found: list[ModelVersion] = []
    after = None
    while True:
        query = SearchQuery(
            filter=SearchFilter(stages=stages), first=PAGE, after=after, model_uri=model_uri,
            facets=(), want_total=False, visibility=visibility,
        )  # fmt: skip
        page = await gateway.index.search_versions(query)
        found += await _complete(gateway, page.items)
        if not page.has_next or not page.cursors:
            return found
        after = page.cursors[-1]


async def model_bom(
    gateway: Gateway, access: AccessPolicy | None, uri: str, fmt: BomFormat
) -> dict[str, Any]:
    """The BOM of a model: its STAGING and PRODUCTION versions (NotFound for a model
    ``access`` may not see, as for one that does not exist)."""
    visibility = access.visibility if access is not None else None
    model = (await gateway.index.get_models([uri], visibility=visibility)).get(uri)
    if model is None:
        raise NotFound(f"no model {uri} in the catalogue", field="uri")
    versions = await visible_versions(gateway, access, MODEL_STAGES, model.uri)
    facts = await gather_many(gateway, versions, access)
    return collection_document(facts, fmt, name=f"AI BOM of {uri} (STAGING and PRODUCTION)", model=model)


async def inventory_bom(gateway: Gateway, access: AccessPolicy | None, fmt: BomFormat) -> dict[str, Any]:
    """The organisation's inventory: every PRODUCTION version ``access`` may see."""
    versions = await visible_versions(gateway, access, (Stage.PRODUCTION,))
    facts = await gather_many(gateway, versions, access)
    return collection_document(facts, fmt, name="AI BOM of every PRODUCTION model version")


async def version_bom(
    gateway: Gateway, access: AccessPolicy | None, uri: str, fmt: BomFormat
) -> dict[str, Any]:
    version = await visible_version(gateway, access, uri)
    return document(await gather_facts(gateway, version, access), fmt)
