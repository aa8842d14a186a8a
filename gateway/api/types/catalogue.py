"""GraphQL views of the catalogue: registries, models, versions and the search
connections. Leaf fields are plain attributes copied once from the domain
object (cheap to resolve); relations are async resolvers that go through the
request's dataloaders."""

from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar
from urllib.parse import quote

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from adapters.base import source_url_of
from adapters.protocol import MetricHistoryReader
from gateway.api.context import Context
from gateway.api.types.common import (
    AFTER,
    FIRST,
    BomFormatEnum,
    DatasetRef,
    Facets,
    Metric,
    MetricPoint,
    MetricSeries,
    Node,
    PageInfo,
    Param,
    RegistryStateEnum,
    StageEnum,
    Tag,
    check_page_size,
    facets_view,
    page_info,
    tags_view,
    to_global_id,
    wanted_facets,
    wants,
)
from gateway.api.types.governance import (
    AnnexIvFact,
    AnnexIvGap,
    AnnexIvSection,
    Approval,
    Compliance,
    PolicyViolation,
    Review,
    RiskTier,
    review_view,
    risk_tier_view,
)
from gateway.api.types.lineage import (
    DEPTH,
    DIRECTION,
    LineageDirection,
    LineageGraph,
    lineage_of,
)
from gateway.api.types.serving import (
    Deployment,
)
from gateway.artifacts.store import StoredFile, signed_url
from gateway.bom.facts import gather_facts
from gateway.bom.formats import BomFormat, document
from gateway.catalogue.index import SearchFilter, SearchPage, SearchQuery
from gateway.catalogue.state import RegistryState
from gateway.config import RegistrySettings
from gateway.domain import Model, ModelVersion, RegistryKind, Stage
from gateway.errors import BadInput
from gateway.governance.annex_iv import annex_iv_map


@strawberry.type(
    name="ArtifactFile", description="One file of a native version, as the artifact store keeps it."
)
class ArtifactFileType:
    path: str = strawberry.field(description="Its path inside the version (model.bin, tokenizer/vocab.txt).")
    size: int = strawberry.field(description="Its size in bytes.")
    digest: str = strawberry.field(description="sha256:<hex> of its bytes: check a download against it.")


@strawberry.type(name="ArtifactDownload", description="Where to fetch one file of a native version.")
class ArtifactDownloadType:
    url: str = strawberry.field(
        description="A URL signed by the store (S3, GCS, Azure) when it signs and "
        "artifacts.presigned_seconds is above 0; else the gateway's own GET /artifacts/... route "
        "(send the same credentials)."
    )
    expires_at: datetime | None = strawberry.field(
        description="When a signed URL stops working (UTC); null for the gateway's route."
    )
    digest: str = strawberry.field(description="sha256:<hex> of the file's bytes.")
    size: int = strawberry.field(description="Its size in bytes.")


async def _stored_files(info: Info[Context, None], version: ModelVersion) -> list[StoredFile]:
    """A native version's files in the artifact store; none for remote registries'
    versions (their registry holds the bytes)."""
    return await info.context.gateway.stored_files(version)


@strawberry.type(description="Where a version's training code lives (any part may be unknown).")
class CodeRef:
    repository: str | None = strawberry.field(description="The repository's URL, when recorded.")
    commit: str | None = strawberry.field(description="The commit the code was trained from, when recorded.")
    path: str | None = strawberry.field(default=None, description="The entry point inside the repository.")


@strawberry.type(
    description="A version's model card: free text written by its authors (each part may be null)."
)
class ModelCard:
    summary: str | None = strawberry.field(default=None, description="What the model does, in brief.")
    intended_use: str | None = strawberry.field(
        default=None, description="The uses it was built and tested for."
    )
    limitations: str | None = strawberry.field(
        default=None, description="Known limits: where it should not be used."
    )
    training_data_summary: str | None = strawberry.field(
        default=None, description="What it was trained on, in words."
    )
    evaluation: str | None = strawberry.field(
        default=None, description="How it was evaluated, and the results."
    )
    bias_assessment: str | None = strawberry.field(default=None, description="Fairness and bias findings.")
    warnings: str | None = strawberry.field(default=None, description="Anything a user must know before use.")


# --- registries, models, versions --------------------------------------------------------


@strawberry.type(description="A configured model registry ([[registries]] in the config).")
class Registry:
    id: str = strawberry.field(
        description="The registry's id from the config (the first part of its mg:// URIs)."
    )
    kind: RegistryKind = strawberry.field(description="What kind of registry it is.")
    kind_name: str = strawberry.field(
        description="The registry's kind as configured, verbatim (a plugin's own name when kind is OTHER)."
    )
    team: str | None = strawberry.field(
        description="The team that owns it (may write to it); null when none."
    )
    breaker_state: str | None = strawberry.field(
        default=None,
        description="The registry's circuit breaker: closed (calls flow), open (calls fail fast "
        "while it recovers) or half_open (one trial call).",
    )

    # Health comes from a tiny, memoised read; counts need a grouped scan of the
    # index, so they are read only when a client asks for them.
    @strawberry.field(description='The registry\'s state (API.md "Registry state").')
    async def state(self, info: Info[Context, None]) -> RegistryStateEnum:  # type: ignore[valid-type]
        report = (await info.context.registry_states()).get(self.id)
        # Not configured any more (its models stay indexed): nothing can call it.
        return report.state if report is not None else RegistryState.UNAVAILABLE

    @strawberry.field(description="True only when state is HEALTHY.")
    async def healthy(self, info: Info[Context, None]) -> bool:
        report = (await info.context.registry_states()).get(self.id)
        return report is not None and report.state is RegistryState.HEALTHY

    @strawberry.field(description="When its last sync finished (UTC); null before the first.")
    async def synced_at(self, info: Info[Context, None]) -> datetime | None:
        state = (await info.context.gateway.index.registry_health()).get(self.id)
        return state.synced_at if state else None

    @strawberry.field(
        description="The error of its last failed or partial sync; null when it last succeeded. "
        "What the registry said (which may name models) is shown to its team and admins; others "
        "read a summary in the gateway's words."
    )
    async def last_error(self, info: Info[Context, None]) -> str | None:
        return await info.context.registry_error(self.id)

    @strawberry.field(
        description="True while the registry's first full sync, its catalogue in, is still reading "
        "its versions' details (run params, metrics, datasets, code), or when that read failed "
        "(lastError says so) and no full sync has read them since. Meanwhile a read of such a "
        "version completes it from the registry, and its compliance is not evaluated yet "
        "(reports count it as compliant until it is)."
    )
    async def details_pending(self, info: Info[Context, None]) -> bool:
        state = (await info.context.gateway.index.registry_health()).get(self.id)
        return state.details_pending if state else False

    # A count of a registry that is down or never finished syncing may be short: say so.
    @strawberry.field(
        description="Models of it in the index that the caller may see (short while it is SYNCING "
        "or UNAVAILABLE)."
    )
    async def model_count(self, info: Info[Context, None]) -> int:
        stats = (await info.context.registry_stats()).get(self.id)
        await info.context.note_index_answer([self.id])
        return stats.models if stats else 0

    @strawberry.field(
        description="Versions of it in the index that the caller may see (short while it is SYNCING "
        "or UNAVAILABLE)."
    )
    async def version_count(self, info: Info[Context, None]) -> int:
        stats = (await info.context.registry_stats()).get(self.id)
        await info.context.note_index_answer([self.id])
        return stats.versions if stats else 0


async def registry_view(info: Info[Context, None], settings: RegistrySettings) -> Registry:
    breaker = getattr(info.context.gateway.adapters.get(settings.id), "breaker", None)
    return Registry(
        id=settings.id,
        kind=RegistryKind.of(settings.kind),
        kind_name=settings.kind,
        team=settings.team,
        breaker_state=breaker.state.value if breaker is not None else None,
    )


MAX_HISTORY_POINTS = 10_000
MAX_HISTORY_KEYS = 50
SOURCE_URL_HELP = (
    "Where to open this in its source registry's own UI: MLflow's model page, the SageMaker, "
    "Vertex AI or Azure ML console, the Git repository of a GTO registry. Null when the "
    "registry has no page modelgate can name (the native registry, a local emulator)."
)


@strawberry.type(
    name="Model",
    description="A registered model: an MLflow registered model, a SageMaker model package group, "
    "a Vertex model, a native model, ...; its versions are ModelVersions.",
)
class ModelType(Node):
    uri: str = strawberry.field(description="mg://<registry>/<model>")
    name: str = strawberry.field(description="The model's name in its registry.")
    description: str | None = strawberry.field(description="The registry's description; null when none.")
    team: str | None = strawberry.field(
        description="The owning team: the one the model names in its registry, else its registry's "
        "team; null when neither."
    )
    tags: list[Tag] = strawberry.field(description="The model's tags, by key.")
    created_at: datetime | None = strawberry.field(
        description="When it was created (UTC); null when not reported."
    )
    updated_at: datetime | None = strawberry.field(
        description="When it last changed (UTC); null when not reported."
    )
    registry_id: strawberry.Private[str]

    @staticmethod
    def from_domain(m: Model) -> "ModelType":
        return ModelType(
            id=to_global_id("Model", m.uri),
            uri=m.uri,
            name=m.name,
            description=m.description,
            team=m.team,
            tags=tags_view(m.tags),
            created_at=m.created_at,
            updated_at=m.updated_at,
            registry_id=m.registry_id,
        )

    @strawberry.field(description=SOURCE_URL_HELP)
    def source_url(self, info: Info[Context, None]) -> str | None:
        return source_url_of(info.context.gateway.adapters.get(self.registry_id), self.name)

    @strawberry.field(description="The registry that holds it.")
    async def registry(self, info: Info[Context, None]) -> Registry:
        settings = info.context.gateway.settings.registry(self.registry_id)
        if settings is None:  # indexed before the registry was removed from config
            settings = RegistrySettings(id=self.registry_id, kind="native")
        return await registry_view(info, settings)

    @strawberry.field(
        description="The model's risk tier: set by setRiskTier, else by the policy file's tier rules "
        "(null when the file defines no tiers)."
    )
    async def risk_tier(self, info: Info[Context, None]) -> RiskTier | None:
        if not info.context.gateway.governance.policies.tiers.tiers:
            return None
        assigned = await info.context.risk_tiers.load(self.uri)
        return risk_tier_view(assigned) if assigned is not None else None

    @strawberry.field(description="Its newest version the caller may see; null when there is none.")
    async def latest_version(self, info: Info[Context, None]) -> "ModelVersionType | None":
        v = await info.context.latest_versions.load(self.uri)
        if v is None:
            return None
        (v,) = await info.context.complete([v])
        return ModelVersionType.from_domain(v)

    @strawberry.field(description="Its versions, newest first.")
    async def versions(
        self,
        info: Info[Context, None],
        stage: Annotated[
            StageEnum | None,  # type: ignore[valid-type]
            strawberry.argument(description="Only versions in this stage."),
        ] = None,
        first: Annotated[int | None, FIRST] = 20,
        after: Annotated[str | None, AFTER] = None,
    ) -> "ModelVersionConnection":
        f = SearchFilter(stages=(Stage(stage),) if stage else ())
        page = await info.context.gateway.index.search_versions(
            SearchQuery(
                filter=f,
                first=check_page_size(first),
                after=after,
                model_uri=self.uri,
                facets=wanted_facets(info),
                want_total=wants(info, "totalCount"),
                visibility=info.context.visibility,
            )
        )
        page.items = await info.context.complete(page.items)
        return ModelVersionConnection.from_page(page, after)


@strawberry.type(name="ModelVersion", description="One version of a model, with every field of its record.")
class ModelVersionType(Node):
    uri: str = strawberry.field(description="mg://<registry>/<model>/<version>")
    version: str = strawberry.field(description="The registry's own version id (always text: 3, v2, a hash).")
    semver: str | None = strawberry.field(description="A semantic version, when one is recorded; else null.")
    stage: StageEnum = strawberry.field(  # type: ignore[valid-type]
        description="The unified stage, mapped from the registry's own (see nativeStage)."
    )
    native_stage: str | None = strawberry.field(
        description="The registry's own word for the stage, verbatim (Production, Approved, an alias, ...); "
        "null when it has none."
    )
    aliases: list[str] = strawberry.field(description="The registry's aliases that point at this version.")
    description: str | None = strawberry.field(description="The registry's description; null when none.")
    artifact_uri: str | None = strawberry.field(
        description="Where the model's files are (s3://, gs://, runs:/, file URIs); null when not recorded."
    )
    artifact_digest: str | None = strawberry.field(
        description="A digest of the artifact (sha256:...), when recorded; null when unknown."
    )
    training_data: list[DatasetRef] = strawberry.field(
        description="Every dataset it was trained, validated or evaluated on, each with its role."
    )
    hyperparameters: list[Param] = strawberry.field(description="Its training hyperparameters, by key.")
    metrics: list[Metric] = strawberry.field(description="Its recorded metrics, by key.")
    training_code: str | None = strawberry.field(
        description="The training code as <repository>@<commit>#<path> (see trainingCodeRef); "
        "null when unknown."
    )
    training_code_ref: CodeRef | None = strawberry.field(
        description="The training code's repository, commit and path; null when unknown."
    )
    environment: str | None = strawberry.field(
        description="Its runtime environment: a container image or requirements reference; null when unknown."
    )
    preprocessing: str | None = strawberry.field(
        description="A reference to its preprocessing (code or artifact); null when unknown."
    )
    deployments: list[Deployment] = strawberry.field(
        description="Where it serves now, as the registry or serving system reports; empty when nowhere."
    )
    tags: list[Tag] = strawberry.field(description="The version's tags, by key.")
    team: str | None = strawberry.field(
        description="The owning team: the one the version names, else its registry's; null when neither."
    )
    created_by: str | None = strawberry.field(description="Who registered it, when the registry says.")
    created_at: datetime | None = strawberry.field(
        description="When it was registered (UTC); null when not reported."
    )
    updated_at: datetime | None = strawberry.field(
        description="When it last changed (UTC); null when not reported."
    )
    model_card: ModelCard | None = strawberry.field(description="Its model card; null when it has none.")
    _version: strawberry.Private[ModelVersion]

    @staticmethod
    def from_domain(v: ModelVersion) -> "ModelVersionType":
        card = v.model_card
        return ModelVersionType(
            id=to_global_id("ModelVersion", v.uri),
            uri=v.uri,
            version=v.version,
            semver=v.semver,
            stage=v.stage,
            native_stage=v.native_stage,
            aliases=list(v.aliases),
            description=v.description,
            artifact_uri=v.artifact_uri,
            artifact_digest=v.artifact_digest,
            training_data=[
                DatasetRef(uri=d.uri, name=d.name, digest=d.digest, role=d.role) for d in v.training_data
            ],
            hyperparameters=[Param(key=k, value=str(val)) for k, val in sorted(v.hyperparameters.items())],
            metrics=[Metric(key=k, value=float(val)) for k, val in sorted(v.metrics.items())],
            training_code=str(v.training_code) if v.training_code else None,
            training_code_ref=(
                CodeRef(
                    repository=v.training_code.repository,
                    commit=v.training_code.commit,
                    path=v.training_code.path,
                )
                if v.training_code
                else None
            ),
            environment=v.environment,
            preprocessing=v.preprocessing,
            deployments=[
                Deployment(
                    endpoint=d.endpoint,
                    traffic_percent=d.traffic_percent,
                    updated_at=d.updated_at,
                    registry=d.registry,
                    variant=d.variant,
                    status=d.status,
                )
                for d in v.deployments
            ],
            tags=tags_view(v.tags),
            team=v.team,
            created_by=v.created_by,
            created_at=v.created_at,
            updated_at=v.updated_at,
            model_card=None
            if card.is_empty()
            else ModelCard(**{f: getattr(card, f) for f in card.__dataclass_fields__}),
            _version=v,
        )

    @strawberry.field(
        description=(
            "How the version's metrics moved during training, read live from its registry "
            "(MLflow: the metric history of the version's run). Empty where the registry "
            "keeps no history; null, with a REGISTRY_UNAVAILABLE error, when it does not answer."
        )
    )
    async def metric_history(
        self,
        info: Info[Context, None],
        keys: Annotated[
            list[str] | None,
            strawberry.argument(description="The metrics to read; null: every metric the version carries."),
        ] = None,
        limit: Annotated[
            int,
            strawberry.argument(description="The most points per series (the latest), 1 to 10000."),
        ] = 500,
    ) -> list[MetricSeries] | None:
        if not 1 <= limit <= MAX_HISTORY_POINTS:
            raise BadInput(f"limit must be between 1 and {MAX_HISTORY_POINTS}, got {limit}", field="limit")
        if keys is not None and len(keys) > MAX_HISTORY_KEYS:
            raise BadInput(f"at most {MAX_HISTORY_KEYS} keys at once, got {len(keys)}", field="keys")
        v = self._version
        adapter = info.context.gateway.adapters.get(v.registry_id)
        if not isinstance(adapter, MetricHistoryReader):
            return []
        series = await adapter.metric_history(v, keys, limit)
        return [
            MetricSeries(key=k, points=[MetricPoint(step=p.step, value=p.value, at=p.at) for p in points])
            for k, points in sorted(series.items())
        ]

    @strawberry.field(description=SOURCE_URL_HELP)
    def source_url(self, info: Info[Context, None]) -> str | None:
        v = self._version
        return source_url_of(info.context.gateway.adapters.get(v.registry_id), v.model_name, v.version)

    @strawberry.field(description="The model it is a version of.")
    async def model(self, info: Info[Context, None]) -> ModelType:
        m = await info.context.models.load(self._version.model_uri)
        if m is None:  # the version was read live and its model is not indexed yet
            m = Model(registry_id=self._version.registry_id, name=self._version.model_name)
        return ModelType.from_domain(m)

    @strawberry.field(
        description="The version it was fine-tuned or derived from, when that is in the catalogue; else null."
    )
    async def parent(self, info: Info[Context, None]) -> "ModelVersionType | None":
        if not self._version.parent:
            return None
        # The record may hold a registry's own reference (an ARN, an MLflow model URI).
        uri = await info.context.gateway.lineage.resolve(
            self._version.parent, context_registry=self._version.registry_id
        )
        p = await info.context.versions.load(uri) if uri else None
        return ModelVersionType.from_domain(p) if p else None

    @strawberry.field(
        description="The registry's approval records, then those of modelgate promotions applied to it."
    )
    async def approvals(self, info: Info[Context, None]) -> list[Approval]:
        recorded = await info.context.promotion_approvals.load(self.uri) or []
        return [
            Approval(principal=a.principal, role=a.role, comment=a.comment, at=a.at)
            for a in (*self._version.approvals, *recorded)
        ]

    @strawberry.field(
        description="Review comments: the registry's own, then those recorded by addReview, oldest first."
    )
    async def reviews(self, info: Info[Context, None]) -> list[Review]:
        recorded = await info.context.reviews.load(self.uri) or []
        return [review_view(r) for r in (*self._version.reviews, *recorded)]

    @strawberry.field(
        description="When this PRODUCTION version is next due for its tier's periodic review "
        "(null: not in PRODUCTION, or its tier has no review_every_days)."
    )
    async def next_review_due(self, info: Info[Context, None]) -> datetime | None:
        states = await info.context.gateway.governance.review_states([self._version])
        return states[self.uri].due

    @strawberry.field(description="True when this PRODUCTION version is past its review due date.")
    async def review_overdue(self, info: Info[Context, None]) -> bool:
        states = await info.context.gateway.governance.review_states([self._version])
        return states[self.uri].overdue

    @strawberry.field(
        description="Policy evaluation of this version (compliant when no error-severity policy is violated)."
    )
    async def compliance(self, info: Info[Context, None]) -> Compliance:
        stored = await info.context.compliance.load(self.uri)
        if stored is not None:
            compliant, violations = stored.compliant, stored.violations
        else:  # read live and not indexed yet: judge it now
            evaluation = await info.context.gateway.governance.evaluate(self._version)
            compliant, violations = evaluation.compliant, evaluation.violations
        return Compliance(
            compliant=compliant,
            violations=[
                PolicyViolation(policy=v.policy, severity=v.severity, message=v.message) for v in violations
            ],
        )

    @strawberry.field(description="The lineage graph around this version.")
    async def lineage(
        self,
        info: Info[Context, None],
        direction: Annotated[LineageDirection | None, DIRECTION] = LineageDirection.BOTH,
        depth: Annotated[int | None, DEPTH] = 3,
    ) -> LineageGraph:
        return await lineage_of(info, self._version, direction, depth)

    @strawberry.field(
        name="annexIV",
        description="Its EU AI Act Annex IV map: for each of the nine sections, the recorded facts that "
        "fill it and the missing ones with the field to add. Documentation support, not legal advice.",
    )
    async def annex_iv(self, info: Info[Context, None]) -> list[AnnexIvSection]:
        assigned = await info.context.risk_tiers.load(self._version.model_uri)
        found = annex_iv_map(self._version, assigned.tier if assigned else None)
        return [
            AnnexIvSection(
                number=section.number,
                title=section.title,
                filled=[AnnexIvFact(label=f.label, value=f.value) for f in section.filled],
                missing=[AnnexIvGap(label=g.label, field=g.field) for g in section.missing],
            )
            for section in found.sections
        ]

    @strawberry.field(
        description="The files of a native version in the artifact store, each with its size and digest; "
        "empty for remote registries' versions and artifacts kept elsewhere."
    )
    async def files(self, info: Info[Context, None]) -> list[ArtifactFileType]:
        found = await _stored_files(info, self._version)
        return [ArtifactFileType(path=f.path, size=f.size, digest=f.digest) for f in found]

    @strawberry.field(
        description="A URL that serves the version's artifact (its one file), or with path one file of it; "
        "null for remote registries' versions, artifacts kept elsewhere and paths it does not have."
    )
    async def download(
        self,
        info: Info[Context, None],
        path: Annotated[
            str | None, strawberry.argument(description="A file of the version, as files lists it.")
        ] = None,
    ) -> ArtifactDownloadType | None:
        found = await _stored_files(info, self._version)
        if path is not None:
            found = [f for f in found if f.path == path]
        if len(found) != 1:
            return None
        (file,) = found
        signed = await signed_url(info.context.gateway.artifacts, file)
        if signed is not None:
            url, expires_at = signed
        else:
            v = self._version
            route = f"/artifacts/{v.registry_id}/{v.model_name}/{quote(v.version, safe='')}/{file.path}"
            url = info.context.base_url + route
            expires_at = None
        return ArtifactDownloadType(url=url, expires_at=expires_at, digest=file.digest, size=file.size)

    @strawberry.field(
        description="Its AI bill of materials as a JSON document of the standard asked for: the model, its "
        "datasets with digests and roles, metrics, model card, parent and training code (a parent the "
        "caller may not see is left out)."
    )
    async def bom(
        self,
        info: Info[Context, None],
        format: Annotated[
            BomFormatEnum,  # type: ignore[valid-type]
            strawberry.argument(description="The standard: CYCLONEDX_1_6 or SPDX_3_0."),
        ],
    ) -> JSON:
        facts = await gather_facts(info.context.gateway, self._version, info.context.access)
        return document(facts, BomFormat(format))  # type: ignore[return-value]  # JSON is a dict


# --- connections ---------------------------------------------------------------------

# One generic shape; each search's subclass names its node and says what it holds.

N = TypeVar("N")


@strawberry.type
class ResultEdge(Generic[N]):
    """One result of a page: its node and the cursor that resumes after it."""

    cursor: str = strawberry.field(
        description="This result's cursor: pass it as after for the results that follow it."
    )
    node: N


@strawberry.type
class Connection(Generic[N]):
    """A page of search results (Relay connection), with totals and facets of the
    whole search. Each search's connection names its node and says what it holds."""

    edges: list[ResultEdge[N]]
    page_info: PageInfo = strawberry.field(description="Where the page lies: whether more follow.")
    total_count: int = strawberry.field(
        description="How many results the whole search has (all pages); computed only when selected."
    )
    facets: Facets = strawberry.field(
        description="Counts of the whole search's results by value; computed only when selected."
    )

    @classmethod
    def of(cls, page: SearchPage[Any], after: str | None, edges: list[Any]) -> Self:
        """The connection of ``page`` (the search's own) with ``edges`` made of its items."""
        return cls(
            edges=edges,
            page_info=page_info(page.cursors, page.has_next, after),
            total_count=page.total,
            facets=facets_view(page.facets),
        )


@strawberry.type(description="One model of a page of search results.")
class ModelEdge(ResultEdge[ModelType]):
    node: ModelType = strawberry.field(description="The model.")


@strawberry.type(
    description="A page of models (Relay connection), with totals and facets of the whole search."
)
class ModelConnection(Connection[ModelType]):
    edges: list[ModelEdge] = strawberry.field(  # type: ignore[assignment]
        description="The page's models, in the search's order."
    )

    @classmethod
    def from_page(cls, page: SearchPage[Model], after: str | None) -> "ModelConnection":
        edges = [
            ModelEdge(cursor=c, node=ModelType.from_domain(m))
            for m, c in zip(page.items, page.cursors, strict=True)
        ]
        return cls.of(page, after, edges)


@strawberry.type(description="One version of a page of results.")
class ModelVersionEdge(ResultEdge[ModelVersionType]):
    node: ModelVersionType = strawberry.field(description="The version.")


@strawberry.type(
    description="A page of versions (Relay connection), with totals and facets of the whole search."
)
class ModelVersionConnection(Connection[ModelVersionType]):
    edges: list[ModelVersionEdge] = strawberry.field(  # type: ignore[assignment]
        description="The page's versions, in the search's order."
    )

    @classmethod
    def from_page(cls, page: SearchPage[ModelVersion], after: str | None) -> "ModelVersionConnection":
        edges = [
            ModelVersionEdge(cursor=c, node=ModelVersionType.from_domain(v))
            for v, c in zip(page.items, page.cursors, strict=True)
        ]
        return cls.of(page, after, edges)
