"""The GraphQL schema: queries and mutations. Resolvers stay thin and call the
catalogue, lineage and native registry code in ``gateway``."""

import dataclasses
import functools
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.tools import merge_types
from strawberry.types import Info

from adapters.protocol import RegistrationRequest
from gateway.api.context import Context
from gateway.api.filters import SearchFilter, TagInput
from gateway.api.governance import GovernanceMutation, GovernanceQuery
from gateway.api.http_semantics import OperationChoice
from gateway.api.input_values import DATETIME
from gateway.api.limits import (
    ExecutorWithoutSuggestions,
    GraphQLLimits,
    RequestLimits,
    check_search_query,
    guard_mutations,
)
from gateway.api.lineage import LineageQuery
from gateway.api.rollouts import RolloutMutation, RolloutQuery
from gateway.api.serving import ServingMutation, ServingQuery
from gateway.api.types import (
    AFTER,
    FIRST,
    ModelConnection,
    ModelType,
    ModelVersionConnection,
    ModelVersionType,
    Node,
    Registry,
    SortOrderEnum,
    check_page_size,
    from_global_id,
    registry_view,
    wanted_facets,
    wants,
)
from gateway.artifacts.directories import FileSource
from gateway.catalogue.query import SearchQuery
from gateway.config import GraphQLSettings
from gateway.domain import (
    CodeRef,
    DatasetRef,
    ModelCard,
    ModelVersion,
    parse_uri,
)
from gateway.errors import BadInput
from gateway.observability import GraphQLMetrics
from gateway.serving.service import DeploymentReport

# --- inputs -------------------------------------------------------------------------


@strawberry.input(description="A dataset the new version was trained, validated or evaluated on.")
class DatasetRefInput:
    uri: str = strawberry.field(description="The dataset's URI (s3://, gs://, a table name, ...).")
    name: str | None = strawberry.field(default=None, description="A readable name.")
    digest: str | None = strawberry.field(default=None, description="A content digest, e.g. sha256:...")
    role: str | None = strawberry.field(
        default=None, description="training (the default) | validation | evaluation | ..."
    )


@strawberry.input(description="A training hyperparameter.")
class ParamInput:
    key: str = strawberry.field(description="The hyperparameter's name (unique within the version).")
    value: str = strawberry.field(description="Its value, as text.")


@strawberry.input(description="A metric of the new version.")
class MetricInput:
    key: str = strawberry.field(description="The metric's name (unique within the version).")
    value: float = strawberry.field(description="Its value.")


@strawberry.input(description="The new version's model card (every part optional).")
class ModelCardInput:
    summary: str | None = strawberry.field(default=None, description="What the model does, in brief.")
    intended_use: str | None = strawberry.field(default=None, description="The uses it was built for.")
    limitations: str | None = strawberry.field(default=None, description="Where it should not be used.")
    training_data_summary: str | None = strawberry.field(default=None, description="What it was trained on.")
    evaluation: str | None = strawberry.field(default=None, description="How it was evaluated.")
    bias_assessment: str | None = strawberry.field(default=None, description="Fairness and bias findings.")
    warnings: str | None = strawberry.field(default=None, description="What a user must know before use.")


@strawberry.input(description="Where the new version's training code lives.")
class CodeRefInput:
    repository: str | None = strawberry.field(default=None, description="The repository's URL.")
    commit: str | None = strawberry.field(default=None, description="The commit trained from.")
    path: str | None = strawberry.field(default=None, description="The entry point inside the repository.")


@strawberry.input(
    description="A deployment: in a registration, where the new version serves; in recordDeployment, a "
    "serving system's report that a version takes a share of an endpoint's traffic."
)
class DeploymentInput:
    endpoint: str = strawberry.field(description="The endpoint's name or URI.")
    traffic_percent: float | None = strawberry.field(
        default=None, description="Percent (0-100) of the endpoint's traffic it receives."
    )
    uri: str | None = strawberry.field(
        default=None,
        description="recordDeployment: the version that serves (mg://<registry>/<model>/<version>, or "
        "a reference such as mg://<registry>/<model>@production, resolved now).",
    )
    variant: str | None = strawberry.field(
        default=None,
        description="recordDeployment: the serving system's name for the slice (a KServe predictor, a "
        "Seldon graph node); reports for the same endpoint, version and variant replace each other.",
    )
    status: str | None = strawberry.field(
        default=None, description="recordDeployment: the serving system's own status word."
    )

    def to_report(self) -> DeploymentReport:
        if not self.uri:
            raise BadInput("recordDeployment needs the uri of the version that serves", field="uri")
        return DeploymentReport(self.uri, self.endpoint, self.traffic_percent, self.variant, self.status)


@strawberry.input(
    name="ArtifactFileInput", description="One file of a directory version: its path there and its upload."
)
class ArtifactFileInput:
    path: str = strawberry.field(
        description="Its path inside the version's directory ('/'-separated names: MLmodel, "
        "tokenizer/vocab.txt)."
    )
    uri: str = strawberry.field(
        description="The uri PUT /artifacts/{registry}/{model}/... answered: a file the model store "
        "holds for this model."
    )


@strawberry.input(description="A new version for a native registry (registerModelVersion).")
class RegisterVersionInput:
    registry: str = strawberry.field(description="The id of the native registry to register in.")
    model: str = strawberry.field(
        description="The model's name; the model is created with its first version."
    )
    artifact_uri: str | None = strawberry.field(
        default=None,
        description="Where the model's files are (s3://, gs://, file://, or an uploaded artifact's uri); "
        "give this or files.",
    )
    files: list[ArtifactFileInput] | None = strawberry.field(
        default=None,
        description="A version made of several uploaded files (a model directory), instead of "
        "artifactUri: the model store assembles them under one prefix, which becomes its artifactUri.",
    )
    description: str | None = strawberry.field(default=None, description="The version's description.")
    semver: str | None = strawberry.field(default=None, description="A semantic version, e.g. 1.4.0.")
    parent: str | None = strawberry.field(
        default=None,
        description="The version this one was fine-tuned from: an mg:// URI (a reference such as "
        "mg://<registry>/<model>@production names the version holding it now) or a registry's own "
        "reference (an MLflow model URI, a SageMaker model-package ARN, a Vertex resource name), "
        "resolved to the registry that owns it when one is "
        "configured, else kept as given.",
    )
    training_data: list[DatasetRefInput] | None = strawberry.field(
        default=None, description="The datasets it was trained, validated or evaluated on."
    )
    hyperparameters: list[ParamInput] | None = strawberry.field(
        default=None, description="Its hyperparameters (keys must be unique)."
    )
    metrics: list[MetricInput] | None = strawberry.field(
        default=None, description="Its metrics (keys must be unique)."
    )
    tags: list[TagInput] | None = strawberry.field(
        default=None, description="Its tags (keys must be unique)."
    )
    model_card: ModelCardInput | None = strawberry.field(default=None, description="Its model card.")
    training_code: CodeRefInput | None = strawberry.field(default=None, description="Its training code.")
    environment: str | None = strawberry.field(
        default=None, description="Its runtime environment: a container image or requirements reference."
    )
    preprocessing: str | None = strawberry.field(
        default=None, description="A reference to its preprocessing code or artifact."
    )
    artifact_digest: str | None = strawberry.field(
        default=None, description="A digest of the artifact, e.g. sha256:..."
    )
    deployments: list[DeploymentInput] | None = strawberry.field(
        default=None, description="Endpoints it already serves on."
    )
    model_description: str | None = strawberry.field(
        default=None, description="Description of the model, used when this registers its first version."
    )

    def to_request(self, actor: str, *, parent: str | None = None) -> RegistrationRequest:
        """The registration; ``parent`` is the resolved parent reference
        (``LineageService.parent_reference``), recorded instead of the input's."""

        def unique(pairs: list[tuple[str, object]], what: str) -> dict[str, object]:
            keys = [k for k, _ in pairs]
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                raise BadInput(f"duplicate {what} key(s): {', '.join(dupes)}", field=what)
            return dict(pairs)

        from gateway.domain import Deployment

        version = ModelVersion(
            registry_id=self.registry,
            model_name=self.model,
            version="0",
            semver=self.semver,
            description=self.description,
            artifact_uri=self.artifact_uri,
            artifact_digest=self.artifact_digest,
            parent=parent if parent is not None else self.parent,
            training_data=tuple(
                DatasetRef(uri=d.uri, name=d.name, digest=d.digest, role=d.role or "training")
                for d in self.training_data or ()
            ),
            hyperparameters=unique([(p.key, p.value) for p in self.hyperparameters or ()], "hyperparameters"),  # type: ignore[arg-type]
            metrics=unique([(m.key, m.value) for m in self.metrics or ()], "metrics"),  # type: ignore[arg-type]
            tags=unique([(t.key, t.value) for t in self.tags or ()], "tags"),  # type: ignore[arg-type]
            model_card=ModelCard(**dataclasses.asdict(self.model_card)) if self.model_card else ModelCard(),
            training_code=(
                CodeRef(self.training_code.repository, self.training_code.commit, self.training_code.path)
                if self.training_code
                else None
            ),
            environment=self.environment,
            preprocessing=self.preprocessing,
            deployments=tuple(Deployment(d.endpoint, d.traffic_percent) for d in self.deployments or ()),
        )
        return RegistrationRequest(
            model_name=self.model, version=version, actor=actor, model_description=self.model_description
        )


def _parse_uri_or_bad_input(uri: str, field: str):  # type: ignore[no-untyped-def]
    try:
        return parse_uri(uri)
    except ValueError as exc:
        raise BadInput(str(exc), field=field) from None


# --- queries ------------------------------------------------------------------------

AS_OF_MODELS = (
    "The catalogue as it was then: models created later are left out of this page. The query, "
    "filter, counts and facets are today's."
)
AS_OF_VERSIONS = (
    "The catalogue as it was then: versions created later are left out of this page and the others "
    "carry the stage they had then (stageHistory). The query, filter, counts and facets are today's."
)


def _search_query(
    info: Info[Context, None],
    query: str | None,
    filter: SearchFilter | None,
    first: int | None,
    after: str | None,
    sort: Any,
    as_of: datetime | None,
) -> SearchQuery:
    """A search from its GraphQL arguments: only the totals and facets the client selected."""
    return SearchQuery(
        text=check_search_query(query),
        filter=(filter or SearchFilter()).to_index(),
        first=check_page_size(first),
        after=after,
        sort=sort,
        facets=wanted_facets(info),
        want_total=wants(info, "totalCount"),
        visibility=info.context.visibility,
        as_of=as_of,
    )


QUERY = strawberry.argument(
    description="Free text: every word must match (as a word prefix) the name, description, tags "
    "or model card."
)
FILTER = strawberry.argument(description="Narrows the results; see SearchFilter.")
SORT = strawberry.argument(description="The order of results; see SortOrder.")


@strawberry.type
class CatalogueQuery:
    @strawberry.field(description="Fetch any object by its global ID.")
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="A global ID from an id field.")],
    ) -> Node | None:
        type_name, uri = from_global_id(id)
        if type_name == "Model":
            m = await info.context.models.load(uri)
            return ModelType.from_domain(m) if m else None
        if type_name == "ModelVersion":
            v = await info.context.versions.load(uri)
            return ModelVersionType.from_domain((await info.context.complete([v]))[0]) if v else None
        raise BadInput(f"unknown node type {type_name!r}", field="id")

    @strawberry.field(description="Every configured registry with its health and freshness.")
    async def registries(self, info: Info[Context, None]) -> list[Registry]:
        return [await registry_view(info, r) for r in info.context.gateway.settings.registries]

    @strawberry.field(description="Search models across every registry.")
    async def models(
        self,
        info: Info[Context, None],
        query: Annotated[str | None, QUERY] = None,
        filter: Annotated[SearchFilter | None, FILTER] = None,
        first: Annotated[int | None, FIRST] = 20,
        after: Annotated[str | None, AFTER] = None,
        sort: Annotated[SortOrderEnum | None, SORT] = None,  # type: ignore[valid-type]
        as_of: Annotated[datetime | None, strawberry.argument(description=AS_OF_MODELS)] = None,
    ) -> ModelConnection:
        q = _search_query(info, query, filter, first, after, sort, as_of)
        page = await info.context.gateway.index.search_models(q)
        await info.context.note_index_answer(q.filter.registries or None)
        return ModelConnection.from_page(page, after)

    @strawberry.field(description="Search model versions across every registry.")
    async def versions(
        self,
        info: Info[Context, None],
        query: Annotated[str | None, QUERY] = None,
        filter: Annotated[SearchFilter | None, FILTER] = None,
        first: Annotated[int | None, FIRST] = 20,
        after: Annotated[str | None, AFTER] = None,
        sort: Annotated[SortOrderEnum | None, SORT] = None,  # type: ignore[valid-type]
        as_of: Annotated[datetime | None, strawberry.argument(description=AS_OF_VERSIONS)] = None,
    ) -> ModelVersionConnection:
        q = _search_query(info, query, filter, first, after, sort, as_of)
        page = await info.context.gateway.index.search_versions(q)
        page.items = await info.context.complete(page.items)
        if q.as_of is not None:  # the stages they had then, from the stage history
            then = {v.uri: v for v in await info.context.gateway.history.versions_as_of(page.items, q.as_of)}
            kept = [i for i, v in enumerate(page.items) if v.uri in then]
            page.keep(kept, [then[page.items[i].uri] for i in kept])
        await info.context.note_index_answer(q.filter.registries or None)
        return ModelVersionConnection.from_page(page, after)

    @strawberry.field(description="A model by its URI, mg://<registry>/<model>.")
    async def model(
        self,
        info: Info[Context, None],
        uri: Annotated[str, strawberry.argument(description="mg://<registry>/<model>")],
    ) -> ModelType | None:
        parsed = _parse_uri_or_bad_input(uri, "uri")
        if parsed.names_version:
            raise BadInput(f"{uri} names a version: use modelVersion", field="uri")
        m = await info.context.models.load(uri)
        if m is None:
            await info.context.note_missing(uri, parsed.registry_id)
            return None
        await info.context.note_index_answer([m.registry_id])
        return ModelType.from_domain(m)

    @strawberry.field(
        description="A version by its URI, mg://<registry>/<model>/<version>. With live: true it is "
        "read from its registry now (through the cache) instead of the index; if the registry "
        "fails, the index's copy is returned with a REGISTRY_UNAVAILABLE error."
    )
    async def model_version(
        self,
        info: Info[Context, None],
        uri: Annotated[
            str,
            strawberry.argument(
                description="mg://<registry>/<model>/<version>, or mg://<registry>/<model>@<stage or alias> "
                "(@production, @champion): the version that holds it now, whose uri is the concrete one"
            ),
        ],
        live: Annotated[
            bool | None,
            strawberry.argument(description="Read it from its registry now instead of the index."),
        ] = False,
    ) -> ModelVersionType | None:
        uri = await info.context.concrete(uri)  # @production: the version holding it now
        parsed = _parse_uri_or_bad_input(uri, "uri")
        if parsed.version is None:
            raise BadInput(f"{uri} names a model, not a version: use model", field="uri")
        v = await info.context.versions.load(uri)
        if v is None and live and await _may_read_live(info, parsed.registry_id, uri):
            result = await info.context.live_fresh.load(uri)  # not indexed yet: the registry may have it
            if result.error is not None:
                info.context.report(result.error)
            found = result.version
            v = found if found is not None and info.context.access.can_see_version(found) else None
        if v is None:
            await info.context.note_missing(uri, parsed.registry_id)
            return None
        (v,) = await info.context.complete([v], live=bool(live))
        return ModelVersionType.from_domain(v)


@strawberry.type
class RegistryMutation:
    @strawberry.mutation(
        description="Register a new version in a native registry (needs the registry's team)."
    )
    async def register_model_version(
        self,
        info: Info[Context, None],
        input: Annotated[RegisterVersionInput, strawberry.argument(description="The version to register.")],
    ) -> ModelVersionType:
        gateway = info.context.gateway
        gateway.adapter(input.registry)  # NOT_FOUND for an unknown registry, before permissions
        registry = gateway.settings.registry(input.registry)
        if registry is not None:
            info.context.access.require_registry_team(registry)
        parent_uri = await info.context.concrete(input.parent, "input.parent") if input.parent else None
        parent = await gateway.lineage.parent_reference(parent_uri, input.registry) if parent_uri else None
        request = input.to_request(info.context.principal.name, parent=parent)
        files = None if input.files is None else [FileSource(f.path, f.uri) for f in input.files]
        version = await info.context.gateway.register_version(input.registry, request, files)
        return ModelVersionType.from_domain(version)

    @strawberry.mutation(
        description="A serving system (KServe, Seldon, BentoML, a CI job) reports that a version takes "
        "trafficPercent of an endpoint's traffic (null: all of it); for registries whose serving "
        "modelgate does not read itself. Needs the version's team. Returns the version with its "
        "deployments."
    )
    async def record_deployment(
        self,
        info: Info[Context, None],
        input: Annotated[
            DeploymentInput, strawberry.argument(description="The report: uri, endpoint, share.")
        ],
    ) -> ModelVersionType:
        report = input.to_report()
        report = dataclasses.replace(report, version_uri=await info.context.concrete(report.version_uri))
        version = await info.context.gateway.record_deployment(info.context.principal, report)
        return ModelVersionType.from_domain(version)


# Each feature contributes its own query and mutation fields; they merge here.
QUERY_PARTS: tuple[type, ...] = (CatalogueQuery, LineageQuery, GovernanceQuery, ServingQuery, RolloutQuery)
MUTATION_PARTS: tuple[type, ...] = (RegistryMutation, GovernanceMutation, ServingMutation, RolloutMutation)


QUERY_DESCRIPTION = (
    "Reads: the federated catalogue (registries, models, versions), lineage and impact, "
    "compliance reports, the audit log and promotion requests."
)
MUTATION_DESCRIPTION = (
    "Writes: native registrations and the promotion workflow (request, approve, reject, retry)."
)


def described(merged: type, description: str) -> type:
    """A merged root type with a description (``merge_types`` takes none)."""
    merged.__strawberry_definition__.description = description  # type: ignore[attr-defined]
    return merged


class GatewaySchema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Strawberry would log every error at ERROR with a traceback, so a flood of
        bad queries floods the log. Internal faults are logged once, with their
        request id, where they are masked (``gateway.api.errors.format_error``);
        a client's mistake is its answer, not our error."""


@functools.cache
def build_schema(
    settings: GraphQLSettings = GraphQLSettings(),  # noqa: B008
    tracing: bool = False,
) -> strawberry.Schema:
    """The schema with the request limits of ``settings`` (one schema per distinct
    settings); ``tracing`` adds an OpenTelemetry span per operation and resolver phase."""
    limits = GraphQLLimits(settings)
    extensions: list[Any] = [lambda: RequestLimits(limits), OperationChoice, GraphQLMetrics]
    if tracing:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        extensions.append(OpenTelemetryExtension)
    built = GatewaySchema(
        query=described(merge_types("Query", QUERY_PARTS), QUERY_DESCRIPTION),
        mutation=described(merge_types("Mutation", MUTATION_PARTS), MUTATION_DESCRIPTION),
        types=[ModelType, ModelVersionType],
        extensions=extensions,
        execution_context_class=None if settings.introspection else ExecutorWithoutSuggestions,
        scalar_overrides={datetime: DATETIME},
    )
    guard_mutations(built._schema)  # every mutation's write is whole under the deadline
    return built


async def _may_read_live(info: Info[Context, None], registry_id: str, uri: str) -> bool:
    """A version not in the index (or hidden there) may be read live only from a
    registry whose contents the caller could see, and only if its model is not
    hidden from them in the index: a hidden model's versions are hidden, tagged
    or not, so no registry call reveals whether they exist."""
    access = info.context.access
    if registry_id not in info.context.gateway.adapters or not access.can_see_registry(registry_id):
        return False
    return not await access.hidden_uris(info.context.gateway.index, [uri.rsplit("/", 1)[0], uri])


schema = build_schema()
