"""The ``SearchFilter`` input: how the schema's searches and the compliance
report narrow versions. Below ``schema`` and ``governance``, which both take it."""

from __future__ import annotations

import strawberry

from gateway.api.types import StageEnum
from gateway.catalogue.index import SearchFilter as IndexFilter
from gateway.domain import Stage


@strawberry.input(description="A tag: a key and its value.")
class TagInput:
    key: str = strawberry.field(description="The tag's key.")
    value: str = strawberry.field(description="The tag's value (matched exactly in filters).")


@strawberry.input(
    description="Narrows a search. Every field given must match (AND); a list matches any of its "
    "values (OR); a field left out (or null) does not filter."
)
class SearchFilter:
    registries: list[str] | None = strawberry.field(default=None, description="Registry ids.")
    teams: list[str] | None = strawberry.field(default=None, description="Owning teams.")
    stages: list[StageEnum] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Unified stages (for models: of any of their versions)."
    )
    tags: list[TagInput] | None = strawberry.field(
        default=None, description="Tags that must all be present with exactly these values."
    )
    compliant: bool | None = strawberry.field(
        default=None,
        description="True: only compliant results (a model: none of its versions violates an error policy); "
        "false: only the others.",
    )
    frameworks: list[str] | None = strawberry.field(
        default=None, description="ML frameworks (case-insensitive), e.g. sklearn, pytorch."
    )
    multiple_production: bool | None = strawberry.field(
        default=None,
        description="True: only models with more than one PRODUCTION version (for versions: those "
        "versions); false: only the others.",
    )
    serving: bool | None = strawberry.field(
        default=None,
        description="True: only versions taking a share of some endpoint's traffic now (models: any "
        "of their versions does); false: only the others.",
    )

    def to_index(self) -> IndexFilter:
        return IndexFilter(
            registries=tuple(self.registries or ()),
            teams=tuple(self.teams or ()),
            stages=tuple(Stage(s) for s in self.stages or ()),
            tags=tuple((t.key, t.value) for t in self.tags or ()),
            frameworks=tuple(f.lower() for f in self.frameworks or ()),
            compliant=self.compliant,
            multiple_production=self.multiple_production,
            serving=self.serving,
        )
