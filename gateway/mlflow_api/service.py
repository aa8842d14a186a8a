"""The MLflow registry API's operations over the gateway: reads through the
catalogue index under the one visibility gate (``AccessPolicy.visible_*`` and the
index's ``visibility`` filter: a hidden model answers exactly as an absent one),
stage and alias writes through governance's promotion requests.

Every function answers the JSON body of MLflow's response message or raises
``MlflowApiError``; the gateway's own errors are translated once, in ``mlflow_errors``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from adapters.base import RegistrationRequest
from gateway.auth.access import AccessPolicy
from gateway.auth.principal import Principal
from gateway.catalogue.query import SearchFilter, SearchQuery, SortOrder
from gateway.cursors import decode_cursor
from gateway.domain import ModelVersion, Stage, model_uri
from gateway.errors import GatewayError, NotFound
from gateway.governance.promotions import PromotionRequest, PromotionStatus
from gateway.mlflow_api import views
from gateway.mlflow_api.errors import MlflowApiError, absent_model, absent_version, invalid
from gateway.mlflow_api.filters import parse_filter
from gateway.mlflow_api.names import (
    MLFLOW_STAGE,
    STAGE_ALIASES,
    model_uri_of,
    split_name,
    stage_of_word,
    version_uri_of,
)
from gateway.tokens import encode_token

if TYPE_CHECKING:
    from gateway.runtime import Gateway

# mlflow.store.model_registry: SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT/_THRESHOLD
MODELS_DEFAULT, MODELS_MAX = 100, 1000
# SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT/_THRESHOLD. MLflow's client asks for
# 10,000 by default: a page holds at most VERSIONS_PAGE, with a next_page_token.
VERSIONS_DEFAULT, VERSIONS_MAX, VERSIONS_PAGE = 10_000, 200_000, 1000
ORDERS = {
    "name": SortOrder.NAME,
    "name asc": SortOrder.NAME,
    "last_updated_timestamp": SortOrder.UPDATED,
    "last_updated_timestamp desc": SortOrder.UPDATED,
}
ALL_STAGES = (Stage.DRAFT, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED)


@contextlib.asynccontextmanager
async def mlflow_errors() -> AsyncIterator[None]:
    """The gateway's errors, raised anywhere below, in MLflow's words."""
    try:
        yield
    except GatewayError as exc:
        raise MlflowApiError.of(exc) from None


# --- parameters -----------------------------------------------------------------


def max_results_of(raw: Any, default: int, limit: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid(f"Invalid value {raw!r} for parameter 'max_results': an integer") from None
    if value < 1 or value > limit:
        raise invalid(
            f"Invalid value {value} for parameter 'max_results' supplied. "
            f"It must be at least 1 and at most {limit}."
        )
    return value


def order_of(order_by: Sequence[str]) -> SortOrder:
    if not order_by:
        return SortOrder.NAME
    if len(order_by) > 1:
        raise invalid("Invalid order_by: one clause is supported (name ASC or last_updated_timestamp DESC)")
    key = " ".join(order_by[0].split()).lower()
    if key not in ORDERS:
        raise invalid(
            f"Invalid order_by clause {order_by[0]!r}: supported are "
            "'name', 'name ASC', 'last_updated_timestamp DESC'"
        )
    return ORDERS[key]


def _query_key(kind: str, filter_string: str | None, order: SortOrder) -> str:
    """Ties a page token to the search that made it."""
    text = f"{kind}\n{filter_string or ''}\n{order.value}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cursor_of(page_token: str | None, key: str) -> str | None:
    if not page_token:
        return None
    try:
        state = decode_cursor(page_token, {"q": str, "c": str}, field="page_token")
    except GatewayError:
        state = {"q": None}
    if state["q"] != key:
        raise invalid("Invalid page_token: pass the next_page_token of the same search")
    cursor: str = state["c"]
    return cursor


def _next_token(key: str, cursors: Sequence[str], more: bool) -> dict[str, str]:
    return {"next_page_token": encode_token({"q": key, "c": cursors[-1]})} if more and cursors else {}


# --- reads ----------------------------------------------------------------------


async def search_registered_models(
    gw: Gateway,
    access: AccessPolicy,
    filter_string: str | None,
    max_results: Any,
    order_by: Sequence[str],
    page_token: str | None,
) -> dict[str, Any]:
    parsed = parse_filter(filter_string)
    first = max_results_of(max_results, MODELS_DEFAULT, MODELS_MAX)
    order = order_of(order_by)
    key = _query_key("models", filter_string, order)
    async with mlflow_errors():
        page = await gw.index.search_models(
            SearchQuery(
                filter=SearchFilter(tags=parsed.tags, tags_not=parsed.tags_not, names=parsed.names),
                first=first,
                after=_cursor_of(page_token, key),
                sort=order,
                facets=(),
                want_total=False,
                visibility=access.visibility,
            )
        )
        uris = [m.uri for m in page.items]
        latest = await gw.index.latest_versions(uris, access.visibility)
        aliased: dict[str, list[ModelVersion]] = {}
        for stage in (Stage.PRODUCTION, Stage.STAGING):
            for uri, versions in (await gw.index.versions_in_stage(uris, stage, access.visibility)).items():
                aliased.setdefault(uri, []).extend(versions)
    models = [
        views.registered_model(m, [latest[m.uri]] if m.uri in latest else [], aliased.get(m.uri, ()))
        for m in page.items
    ]
    return {"registered_models": models, **_next_token(key, page.cursors, page.has_next)}


async def _visible_model(gw: Gateway, access: AccessPolicy, name: str | None) -> Any:
    uri = model_uri_of(name)
    try:
        return await access.visible_model(gw.index, uri)
    except NotFound:
        raise absent_model(str(name)) from None


async def _visible_version(gw: Gateway, access: AccessPolicy, name: str | None, version: str | None) -> Any:
    uri = version_uri_of(name, version)
    try:
        return await access.visible_version(gw.index, uri)
    except NotFound:
        raise absent_version(str(name), str(version)) from None


async def _model_versions(gw: Gateway, access: AccessPolicy, model_uri: str) -> list[ModelVersion]:
    """Every version of one model the principal sees, newest first (bounded pages)."""
    versions: list[ModelVersion] = []
    after: str | None = None
    while True:
        page = await gw.index.search_versions(
            SearchQuery(
                first=VERSIONS_PAGE, after=after, model_uri=model_uri, sort=SortOrder.NAME,
                facets=(), want_total=False, visibility=access.visibility,
            )
        )  # fmt: skip
        versions.extend(page.items)
        if not page.has_next or not page.cursors:
            return versions
        after = page.cursors[-1]


def _latest_per_stage(versions: Sequence[ModelVersion], stages: Sequence[Stage]) -> list[ModelVersion]:
    """The newest version in each of ``stages`` (``versions`` come newest first)."""
    found: dict[Stage, ModelVersion] = {}
    for v in versions:
        found.setdefault(v.stage, v)
    return [found[s] for s in stages if s in found]


async def get_registered_model(gw: Gateway, access: AccessPolicy, name: str | None) -> dict[str, Any]:
    async with mlflow_errors():
        model = await _visible_model(gw, access, name)
        versions = await _model_versions(gw, access, model.uri)
    return {
        "registered_model": views.registered_model(model, _latest_per_stage(versions, ALL_STAGES), versions)
    }


async def get_latest_versions(
    gw: Gateway, access: AccessPolicy, name: str | None, stages: Sequence[str]
) -> dict[str, Any]:
    wanted = [stage_of_word(s) for s in stages] or list(ALL_STAGES)
    async with mlflow_errors():
        model = await _visible_model(gw, access, name)
        latest = []
        for stage in dict.fromkeys(wanted):
            found = await gw.index.versions_in_stage([model.uri], stage, access.visibility)
            latest.extend(found.get(model.uri, [])[:1])
    return {"model_versions": [views.model_version(v) for v in latest]}


async def search_model_versions(
    gw: Gateway,
    access: AccessPolicy,
    filter_string: str | None,
    max_results: Any,
    order_by: Sequence[str],
    page_token: str | None,
) -> dict[str, Any]:
    parsed = parse_filter(filter_string, versions=True)
    first = min(max_results_of(max_results, VERSIONS_DEFAULT, VERSIONS_MAX), VERSIONS_PAGE)
    order = order_of(order_by)
    key = _query_key("versions", filter_string, order)
    async with mlflow_errors():
        page = await gw.index.search_versions(
            SearchQuery(
                filter=SearchFilter(
                    tags=parsed.tags, tags_not=parsed.tags_not, names=parsed.names, run_ids=parsed.run_ids
                ),
                first=first,
                after=_cursor_of(page_token, key),
                sort=order,
                facets=(),
                want_total=False,
                visibility=access.visibility,
            )
        )
    versions = [views.model_version(v) for v in page.items]
    return {"model_versions": versions, **_next_token(key, page.cursors, page.has_next)}


async def get_model_version(
    gw: Gateway, access: AccessPolicy, name: str | None, version: str | None
) -> dict[str, Any]:
    async with mlflow_errors():
        found = await _visible_version(gw, access, name, version)
    return {"model_version": views.model_version(found)}


async def get_download_uri(
    gw: Gateway, access: AccessPolicy, name: str | None, version: str | None
) -> dict[str, Any]:
    """A native version's files through the gateway's MLflow artifact proxy
    (``gateway.mlflow_api.artifacts``); a remote version's own artifact URI,
    which the client reads with its own credentials, as it would without modelgate."""
    async with mlflow_errors():
        found: ModelVersion = await _visible_version(gw, access, name, version)
    source = views.source_of(found)
    if not source:
        raise MlflowApiError("RESOURCE_DOES_NOT_EXIST", f"{name} version {version} names no artifact")
    return {"artifact_uri": source}


async def get_model_version_by_alias(
    gw: Gateway, access: AccessPolicy, name: str | None, alias: str | None
) -> dict[str, Any]:
    if not alias:
        raise invalid("Missing value for required parameter 'alias'.")
    async with mlflow_errors():
        model = await _visible_model(gw, access, name)
        if alias.lower() in STAGE_ALIASES:
            found = await gw.index.versions_in_stage(
                [model.uri], STAGE_ALIASES[alias.lower()], access.visibility
            )
            holder = next(iter(found.get(model.uri, [])), None)
        else:
            versions = await _model_versions(gw, access, model.uri)
            holder = next((v for v in versions if alias in v.aliases), None)
    if holder is None:
        raise MlflowApiError("RESOURCE_DOES_NOT_EXIST", f"Registered model alias {alias} not found.")
    return {"model_version": views.model_version(holder)}


# --- writes through governance -------------------------------------------------------


def _refusal(request: PromotionRequest) -> MlflowApiError:
    """A request that did not apply at once, named so a pipeline learns its id."""
    target = MLFLOW_STAGE[request.target_stage]
    if request.status is PromotionStatus.PENDING:
        missing = ", ".join(request.missing_roles) or "none"
        return MlflowApiError(
            "PERMISSION_DENIED",
            f"promotion request {request.id} to {target} is waiting for approval "
            f"(missing approvals: {missing}); it applies once approved",
        )
    if request.status is PromotionStatus.BLOCKED:
        rules = ", ".join(sorted({v.policy for v in request.violations})) or "policy"
        return MlflowApiError(
            "PERMISSION_DENIED", f"promotion request {request.id} to {target} is blocked by policy: {rules}"
        )
    return MlflowApiError(
        "INTERNAL_ERROR" if request.status is PromotionStatus.FAILED else "PERMISSION_DENIED",
        f"promotion request {request.id} to {target} is {request.status.value}"
        + (f": {request.error}" if request.error else ""),
    )


async def _promote(gw: Gateway, principal: Principal, uri: str, stage: Stage, reason: str) -> ModelVersion:
    async with mlflow_errors():
        request = await gw.governance.promotions.request(principal, uri, stage, reason)
        if request.status is not PromotionStatus.APPLIED:
            raise _refusal(request)
        version = await gw.index.get_version(uri)
    if version is None:  # applied, then gone before the read: say what is known
        raise MlflowApiError("RESOURCE_DOES_NOT_EXIST", f"{uri} is no longer in the catalogue")
    return version


async def set_registered_model_alias(
    gw: Gateway, principal: Principal, name: str | None, alias: str | None, version: str | None
) -> dict[str, Any]:
    """``production`` and ``staging`` are the unified stages: setting one is a
    promotion request. A registry's own aliases are not written through this API."""
    stage = STAGE_ALIASES.get((alias or "").lower())
    if stage is None:
        raise invalid(
            f"Alias {alias!r} cannot be set through modelgate: only 'production' and 'staging' "
            "(promotions under governance); set other aliases in the registry itself"
        )
    access = gw.access(principal)
    async with mlflow_errors():
        found = await _visible_version(gw, access, name, version)
    await _promote(gw, principal, found.uri, stage, f"MLflow client: set alias {alias} on {name}")
    return {}


async def delete_registered_model_alias(
    gw: Gateway, principal: Principal, name: str | None, alias: str | None
) -> dict[str, Any]:
    """Taking ``production`` or ``staging`` off a version moves it out of that stage:
    a promotion request to Archived, under the same policies as any other."""
    stage = STAGE_ALIASES.get((alias or "").lower())
    if stage is None:
        raise invalid(
            f"Alias {alias!r} cannot be deleted through modelgate: only 'production' and 'staging' "
            "(promotions under governance); delete other aliases in the registry itself"
        )
    access = gw.access(principal)
    async with mlflow_errors():
        model = await _visible_model(gw, access, name)
        holders = (await gw.index.versions_in_stage([model.uri], stage, access.visibility)).get(model.uri, [])
    if not holders:
        raise MlflowApiError("RESOURCE_DOES_NOT_EXIST", f"Registered model alias {alias} not found.")
    for holder in holders:  # one, unless the registry itself holds two in that stage
        await _promote(
            gw, principal, holder.uri, Stage.ARCHIVED, f"MLflow client: delete alias {alias} of {name}"
        )
    return {}


async def transition_model_version_stage(
    gw: Gateway, principal: Principal, name: str | None, version: str | None, stage_word: str | None
) -> dict[str, Any]:
    stage = stage_of_word(stage_word or "")
    access = gw.access(principal)
    async with mlflow_errors():
        found = await _visible_version(gw, access, name, version)
    reason = f"MLflow client: transition {name} version {version} to {MLFLOW_STAGE[stage]}"
    return {"model_version": views.model_version(await _promote(gw, principal, found.uri, stage, reason))}


# --- native registration -------------------------------------------------------------


def _tags_of(raw: Sequence[Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in raw:
        if not isinstance(tag, dict) or not isinstance(tag.get("key"), str) or not tag["key"]:
            raise invalid("Invalid value for parameter 'tags': a list of {key, value}")
        tags[tag["key"]] = str(tag.get("value") or "")
    return tags


async def _writable_registry(gw: Gateway, principal: Principal, registry_id: str) -> None:
    """The registry exists and ``principal`` is of its team (as registerModelVersion asks)."""
    gw.adapter(registry_id)  # NOT_FOUND for an unknown registry, before permissions
    registry = gw.settings.registry(registry_id)
    if registry is not None:
        gw.access(principal).require_registry_team(registry)


async def create_registered_model(gw: Gateway, principal: Principal, name: str | None) -> dict[str, Any]:
    """A native model is created with its first version: this only checks that one
    may be (``mlflow.register_model`` calls it first, and goes on when the model exists)."""
    registry_id, model = split_name(name)
    async with mlflow_errors():
        await _writable_registry(gw, principal, registry_id)
        if await gw.index.get_models([model_uri(registry_id, model)], gw.access(principal).visibility):
            raise MlflowApiError("RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists.")
    return {"registered_model": {"name": name, "tags": [], "aliases": []}}


async def create_model_version(
    gw: Gateway,
    principal: Principal,
    name: str | None,
    source: str | None,
    run_id: str | None,
    description: str | None,
    tags: Sequence[Any],
) -> dict[str, Any]:
    """A new version in a native registry (other registries take versions through
    their own tools: INVALID_PARAMETER_VALUE saying so)."""
    registry_id, model = split_name(name)
    if not source:
        raise invalid("Missing value for required parameter 'source'.")
    version = ModelVersion(
        registry_id=registry_id,
        model_name=model,
        version="0",
        description=description,
        artifact_uri=source,
        tags=_tags_of(tags),
        native={"run_id": run_id} if run_id else {},
    )
    async with mlflow_errors():
        await _writable_registry(gw, principal, registry_id)
        created = await gw.register_version(
            registry_id, RegistrationRequest(model_name=model, version=version, actor=principal.name)
        )
    return {"model_version": views.model_version(created)}
