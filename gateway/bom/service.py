"""The BOM a principal asked for by URI: the version under the catalogue's
visibility rule (one it may not see is absent, as in GraphQL), its details
read through the adapter when the index holds only a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.bom.facts import gather_facts
from gateway.bom.formats import BomFormat, document
from gateway.domain import ModelVersion, parse_uri
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


async def version_bom(
    gateway: Gateway, access: AccessPolicy | None, uri: str, fmt: BomFormat
) -> dict[str, Any]:
    version = await visible_version(gateway, access, uri)
    return document(await gather_facts(gateway, version, access), fmt)
