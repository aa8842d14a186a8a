"""References by stage or alias: parsing (``gateway.domain``) and the one resolver
(``gateway.catalogue.refs``) against a real index, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.auth.access import Visibility
from gateway.catalogue.refs import resolve_version_uri
from gateway.domain import Model, ModelVersion, ParsedUri, Stage, parse_uri, version_segment_uri
from gateway.errors import BadInput, Conflict, NotFound
from gateway.runtime import Gateway
from tests.support import make_settings


def test_a_reference_is_parsed_apart_from_versions_and_models() -> None:
    assert parse_uri("mg://platform/fraud@production") == ParsedUri("platform", "fraud", None, "production")
    assert parse_uri("mg://platform/fraud@champion").names_version
    assert parse_uri("mg://platform/fraud/3") == ParsedUri("platform", "fraud", "3")
    assert not parse_uri("mg://platform/fraud").names_version
    assert version_segment_uri("platform", "fraud", "@staging") == "mg://platform/fraud@staging"
    assert version_segment_uri("platform", "fraud", "7") == "mg://platform/fraud/7"


@pytest.mark.parametrize(
    "uri",
    [
        "mg://platform/fraud@",  # no ref
        "mg://platform/fraud/3@production",  # a version and a ref
        "mg://platform/fraud/3@",  # "@" inside a plain version
        "mg://platform/fr@ud/3",  # "@" inside a model name, then a version
        "mg://platform@production",  # no model
        "mg://platform/fraud@prod@uction",
        "mg://platform/fraud@prod uction",
        "mg:///fraud@production",
    ],
)
def test_a_malformed_reference_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        parse_uri(uri)


@pytest.fixture
async def gw(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await Gateway.open(make_settings(database_url, tmp_path))
    try:
        yield gateway
    finally:
        await gateway.aclose()


def v(name: str, number: int, stage: Stage, *aliases: str, **tags: str) -> ModelVersion:
    return ModelVersion("platform", name, str(number), stage=stage, aliases=aliases, tags=tags)


async def index(gw: Gateway) -> None:
    await gw.index.replace_models(
        [
            (
                Model("platform", "fraud", team="platform"),
                [
                    v("fraud", 1, Stage.ARCHIVED, "old"),
                    v("fraud", 2, Stage.PRODUCTION, "champion"),
                    v("fraud", 3, Stage.STAGING, "challenger", "candidate"),
                    v("fraud", 10, Stage.DRAFT, "candidate"),
                ],
            ),
            (
                Model("platform", "twins", team="platform"),
                [
                    v("twins", 1, Stage.PRODUCTION),
                    v("twins", 2, Stage.PRODUCTION),
                    v("twins", 3, Stage.DRAFT),
                ],
            ),
            # A restricted model: its versions are its team's only.
            (
                Model("platform", "secret", team="platform", tags={"restricted": "true"}),
                [v("secret", 1, Stage.PRODUCTION, "champion")],
            ),
        ]
    )


OUTSIDER = Visibility(teams=frozenset({"research"}))


async def resolve(gw: Gateway, uri: str, visibility: Visibility | None = None) -> str:
    return await resolve_version_uri(gw.index, uri, visibility)


async def test_a_stage_or_an_alias_names_the_version_holding_it(gw: Gateway) -> None:
    await index(gw)
    assert await resolve(gw, "mg://platform/fraud@production") == "mg://platform/fraud/2"
    assert await resolve(gw, "mg://platform/fraud@staging") == "mg://platform/fraud/3"
    assert await resolve(gw, "mg://platform/fraud@archived") == "mg://platform/fraud/1"
    assert await resolve(gw, "mg://platform/fraud@draft") == "mg://platform/fraud/10"
    assert await resolve(gw, "mg://platform/fraud@none") == "mg://platform/fraud/10"
    assert await resolve(gw, "mg://platform/fraud@champion") == "mg://platform/fraud/2"
    assert await resolve(gw, "mg://platform/fraud@challenger") == "mg://platform/fraud/3"
    # Plain URIs and other spellings pass through untouched.
    for uri in ("mg://platform/fraud/3", "mg://platform/fraud", "s3://bucket/data.csv", "models:/x@champion"):
        assert await resolve(gw, uri) == uri


async def test_several_holders_are_a_conflict_naming_them(gw: Gateway) -> None:
    await index(gw)
    with pytest.raises(Conflict) as stage:
        await resolve(gw, "mg://platform/twins@production")
    assert "mg://platform/twins/1" in stage.value.message and "mg://platform/twins/2" in stage.value.message
    assert stage.value.extensions["versions"] == ["mg://platform/twins/2", "mg://platform/twins/1"]
    with pytest.raises(Conflict) as alias:
        await resolve(gw, "mg://platform/fraud@candidate")
    assert alias.value.extensions["versions"] == ["mg://platform/fraud/10", "mg://platform/fraud/3"]


async def test_no_holder_is_not_found(gw: Gateway) -> None:
    await index(gw)
    for uri in (
        "mg://platform/twins@staging",
        "mg://platform/fraud@nobody",
        "mg://platform/ghost@production",
    ):
        with pytest.raises(NotFound, match="holds @"):
            await resolve(gw, uri)
    # Stage refs are lower case; anything else is an alias, and aliases are exact.
    with pytest.raises(NotFound):
        await resolve(gw, "mg://platform/fraud@Production")
    with pytest.raises(NotFound):
        await resolve(gw, "mg://platform/fraud@Champion")


async def test_a_hidden_version_is_absent_to_resolution(gw: Gateway) -> None:
    await index(gw)
    # Its team resolves it.
    team = Visibility(teams=frozenset({"platform"}))
    assert await resolve(gw, "mg://platform/secret@champion", team) == "mg://platform/secret/1"
    # An outsider gets what a model without the ref gets, word for word.
    with pytest.raises(NotFound) as hidden:
        await resolve(gw, "mg://platform/secret@champion", OUTSIDER)
    with pytest.raises(NotFound) as absent:
        await resolve(gw, "mg://platform/fraud@nobody", OUTSIDER)
    assert hidden.value.message.replace("secret", "X").replace("@champion", "@R") == (
        absent.value.message.replace("fraud", "X").replace("@nobody", "@R")
    )


async def test_a_hidden_holder_is_never_named_in_a_conflict(gw: Gateway) -> None:
    # In a restricted registry each version is its own team's: two PRODUCTION versions,
    # one per team. Each team sees one holder, so neither sees a conflict or the other.
    platform_one = ModelVersion("platform", "mixed", "1", stage=Stage.PRODUCTION, team="platform")
    research_one = ModelVersion("platform", "mixed", "2", stage=Stage.PRODUCTION, team="research")
    await gw.index.replace_models(
        [(Model("platform", "mixed", team="platform"), [platform_one, research_one])]
    )
    restricted = frozenset({"platform"})
    research = Visibility(teams=frozenset({"research"}), restricted_registries=restricted)
    platform = Visibility(teams=frozenset({"platform"}), restricted_registries=restricted)
    nobody = Visibility(teams=frozenset({"vision"}), restricted_registries=restricted)
    assert await resolve(gw, "mg://platform/mixed@production", research) == "mg://platform/mixed/2"
    assert await resolve(gw, "mg://platform/mixed@production", platform) == "mg://platform/mixed/1"
    with pytest.raises(NotFound):  # neither is visible: absent, not a conflict
        await resolve(gw, "mg://platform/mixed@production", nobody)
    with pytest.raises(Conflict):  # admin sees both
        await resolve(gw, "mg://platform/mixed@production", None)


async def test_a_malformed_reference_is_bad_input(gw: Gateway) -> None:
    with pytest.raises(BadInput, match="malformed modelgate reference") as raised:
        await resolve_version_uri(gw.index, "mg://platform/fraud/3@production", None, field="input.uri")
    assert raised.value.extensions["field"] == "input.uri"
