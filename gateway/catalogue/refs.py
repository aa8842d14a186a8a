"""References by stage or alias: ``mg://<registry>/<model>@<ref>`` names the version
that holds ``<ref>`` now (docs/references.md).

This is the one resolver: every boundary that takes a version URI (GraphQL
arguments and inputs, REST paths, CLI arguments, dashboard links) passes what it
was given through ``resolve_version_uri`` and hands the concrete URI it returns
to the core, which never sees a reference. A reference is resolved once, when the
request arrives: a promotion request, a rollout or a review records the version
that held the ref then, not the ref.

Resolution reads the index among the versions the caller may see (``Visibility``):
a hidden version is absent, so it is never named in a CONFLICT, and "held only by
a hidden version" answers exactly as "held by none" (NOT_FOUND).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.auth.access import Visibility
from gateway.domain import ParsedUri, Stage, is_ref_uri, parse_uri
from gateway.errors import BadInput, Conflict, NotFound

__all__ = ["STAGE_REFS", "RefIndex", "resolve_version_uri"]

# The unified stages, as references (lower case: ``@production``; ``@none`` is MLflow's
# word for DRAFT). A registry alias spelled like a stage names the stage: the stage
# is what every registry shares.
STAGE_REFS: Mapping[str, Stage] = {**{stage.value.lower(): stage for stage in Stage}, "none": Stage.DRAFT}
# How many holders a CONFLICT names before "and more".
NAMED_AT_MOST = 10


class RefIndex(Protocol):
    """The index read resolution needs (``CatalogueIndex.versions_holding``)."""

    async def versions_holding(
        self,
        model_uri: str,
        *,
        stage: Stage | None = None,
        alias: str | None = None,
        visibility: Visibility | None = None,
        limit: int = 20,
    ) -> list[str]: ...


async def resolve_version_uri(
    index: RefIndex, uri: str, visibility: Visibility | None, *, field: str = "uri"
) -> str:
    """``uri`` itself unless it is a reference; then the URI of the one version (among
    those ``visibility`` shows) that holds the ref now.

    BAD_USER_INPUT for a malformed reference; NOT_FOUND when no visible version holds
    it (the model absent or hidden alike); CONFLICT naming the holders when several do
    (several PRODUCTION versions, say). Anything that is not an ``mg://`` reference
    (a version or model URI, a dataset, an ARN) is returned unchanged."""
    if not is_ref_uri(uri):
        return uri
    try:
        parsed = parse_uri(uri)
    except ValueError as exc:
        raise BadInput(str(exc), field=field) from None
    if parsed.ref is None:  # pragma: no cover - is_ref_uri and parse_uri agree
        return uri
    holders = await _holders(index, parsed, visibility)
    if not holders:
        raise NotFound(f"no version of {parsed.model_uri} holds @{parsed.ref}", field=field, uri=uri)
    if len(holders) > 1:
        named = ", ".join(holders[:NAMED_AT_MOST]) + (" and more" if len(holders) > NAMED_AT_MOST else "")
        raise Conflict(
            f"{uri} is ambiguous: several versions hold @{parsed.ref} ({named}); name one of them",
            field=field,
            uri=uri,
            versions=holders[:NAMED_AT_MOST],
        )
    return holders[0]


async def _holders(index: RefIndex, parsed: ParsedUri, visibility: Visibility | None) -> list[str]:
    ref = parsed.ref or ""
    stage = STAGE_REFS.get(ref)
    return await index.versions_holding(
        parsed.model_uri,
        stage=stage,
        alias=None if stage is not None else ref,
        visibility=visibility,
        limit=NAMED_AT_MOST + 1,
    )
