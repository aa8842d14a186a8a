"""The fake W&B server's data: one organisation, its registries (projects named
``wandb-registry-<name>`` in the org entity), their collections (artifact
portfolios), source artifacts logged by runs in a team project, and the
memberships that link a source artifact into a collection as ``v<N>`` with
aliases. Objects resolve GraphQL fields by attribute or method name (graphql-core's
default resolver), so the schema decides what a client may read."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

REGISTRY_PREFIX = "wandb-registry-"
_ids = count(1)
_clock = [datetime(2026, 1, 1, tzinfo=UTC)]
_clock_lock = threading.Lock()


def new_id(kind: str) -> str:
    """Opaque base64 ids, as W&B's are (``<Type>:<n>`` encoded)."""
    return base64.b64encode(f"{kind}:{next(_ids)}".encode()).decode()


def now() -> datetime:
    """A clock that always moves forward, so creation order is total."""
    with _clock_lock:
        real = datetime.now(UTC)
        _clock[0] = max(real, _clock[0] + timedelta(milliseconds=1))
        return _clock[0]


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") if moment else None  # W&B sends no zone: UTC


class GraphQLFailure(Exception):
    """An error the server answers with its own HTTP status and GraphQL message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ArtifactTypeView:
    name: str


@dataclass
class TagView:
    name: str
    id: str = field(default_factory=lambda: new_id("Tag"))


@dataclass
class EntityData:
    name: str
    entityType: str
    store: FakeStore
    organization: OrganizationData | None = None
    id: str = field(default_factory=lambda: new_id("Entity"))
    user: Any = None

    def project(self, info: Any, name: str | None = None) -> ProjectData | None:
        return self.store.projects.get((self.name, name or ""))

    def projects(
        self,
        info: Any,
        filters: str | None = None,
        after: str | None = None,
        first: int | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        wanted = _filter_names(filters)
        found = [
            p
            for (entity, _), p in self.store.projects.items()
            if entity == self.name
            and p.name.startswith(REGISTRY_PREFIX)
            and (wanted is None or p.name in wanted)
        ]
        return self.store.page("projects", found, after, first)

    def artifactCollections(
        self,
        info: Any,
        projectFilters: str | None = None,
        filters: str | None = None,
        collectionTypes: list[str] | None = None,
        after: str | None = None,
        first: int | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        registries = _filter_names(projectFilters)
        names = _filter_names(filters)
        found = [
            c
            for c in self.store.collections
            if c.project.entity.name == self.name
            and (registries is None or c.project.name in registries)
            and (names is None or c.name in names)
        ]
        page = self.store.page("collections", found, after, first)
        page["totalCount"] = len(found)
        return page

    def artifactMemberships(
        self,
        info: Any,
        projectFilters: str | None = None,
        collectionFilters: str | None = None,
        filters: str | None = None,
        after: str | None = None,
        first: int | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        registries = _filter_names(projectFilters)
        names = _filter_names(collectionFilters)
        found = [
            m
            for c in self.store.collections
            if c.project.entity.name == self.name
            and (registries is None or c.project.name in registries)
            and (names is None or c.name in names)
            for m in c.memberships
        ]
        return self.store.page("memberships", found, after, first)


@dataclass
class OrganizationData:
    name: str
    orgEntity: EntityData
    id: str = field(default_factory=lambda: new_id("Organization"))
    advancedRegistryFeatures: dict[str, bool] = field(default_factory=lambda: {"advancedSearch": False})


@dataclass
class ProjectData:
    name: str
    entity: EntityData
    description: str | None = None
    access: str = "ORG"
    allowAllArtifactTypesInRegistry: bool = True
    readOnly: bool = False
    id: str = field(default_factory=lambda: new_id("Project"))
    internalId: str = field(default_factory=lambda: str(next(_ids)))
    created: datetime = field(default_factory=now)
    runs: dict[str, RunData] = field(default_factory=dict)

    @property
    def createdAt(self) -> str | None:
        return iso(self.created)

    @property
    def updatedAt(self) -> str | None:
        return iso(self.created)

    def artifactTypes(self, info: Any, includeAll: bool | None = None) -> dict[str, Any]:
        return {"edges": [{"node": ArtifactTypeView("model")}, {"node": ArtifactTypeView("dataset")}]}

    def run(self, info: Any, name: str) -> RunData | None:
        return self.runs.get(name)


@dataclass
class RunData:
    name: str
    project: ProjectData
    config: dict[str, Any]
    summary: dict[str, Any]
    id: str = field(default_factory=lambda: new_id("Run"))
    created: datetime = field(default_factory=now)
    used: list[ArtifactData] = field(default_factory=list)
    logged: list[ArtifactData] = field(default_factory=list)
    typename: str = "Run"
    displayName: str | None = None
    sweepName: str | None = None
    tags: list[str] = field(default_factory=list)
    state: str = "finished"
    group: str | None = None
    jobType: str | None = "train"
    commit: str | None = None
    readOnly: bool = False
    description: str | None = None
    notes: str | None = None
    historyLineCount: int = 0
    user: dict[str, str] = field(default_factory=lambda: {"name": "Data Scientist", "username": "ds"})

    @property
    def projectId(self) -> str:
        return self.project.internalId

    @property
    def createdAt(self) -> str | None:
        return iso(self.created)

    @property
    def heartbeatAt(self) -> str | None:
        return iso(self.created)

    @property
    def systemMetrics(self) -> str:
        return "{}"

    @property
    def summaryMetrics(self) -> str:
        return json.dumps(self.summary)

    @property
    def historyKeys(self) -> dict[str, Any]:
        return {"keys": {}, "lastStep": 0}

    def _config(self) -> str:
        # W&B stores each config key as {"value": ..., "desc": ...}.
        return json.dumps({k: {"value": v, "desc": None} for k, v in self.config.items()})

    def inputArtifacts(self, info: Any, after: str | None = None, first: int | None = None) -> dict[str, Any]:
        page = self.project.entity.store.page("run-inputs", self.used, after, first)
        page["totalCount"] = len(self.used)
        return page

    def outputArtifacts(
        self, info: Any, after: str | None = None, first: int | None = None
    ) -> dict[str, Any]:
        page = self.project.entity.store.page("run-outputs", self.logged, after, first)
        page["totalCount"] = len(self.logged)
        return page


@dataclass
class SequenceData:
    """A source collection (an ``ArtifactSequence``) in a team project."""

    name: str
    project: ProjectData
    type_name: str
    versions: list[ArtifactData] = field(default_factory=list)
    id: str = field(default_factory=lambda: new_id("ArtifactSequence"))
    typename: str = "ArtifactSequence"
    description: str | None = None
    created: datetime = field(default_factory=now)

    @property
    def createdAt(self) -> str | None:
        return iso(self.created)

    @property
    def updatedAt(self) -> str | None:
        return iso(self.created)

    @property
    def defaultArtifactType(self) -> ArtifactTypeView:
        return ArtifactTypeView(self.type_name)

    @property
    def tags(self) -> dict[str, Any]:
        return {"edges": []}


@dataclass
class ArtifactData:
    sequence: SequenceData
    versionIndex: int
    digest: str
    size: int
    metadata: dict[str, Any]
    description: str | None
    created_by: RunData | None
    tag_names: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: new_id("Artifact"))
    created: datetime = field(default_factory=now)
    updated: datetime | None = None
    state: str = "COMMITTED"
    fileCount: int = 1
    ttlDurationSeconds: int = -1
    ttlIsInherited: bool = True
    historyStep: int | None = None
    commitHash: str | None = None
    digestAlgorithm: str = "MANIFEST_MD5"
    references: list[str] = field(default_factory=list)  # manifest reference entries (datasets)

    @property
    def artifactSequence(self) -> SequenceData:
        return self.sequence

    @property
    def artifactType(self) -> ArtifactTypeView:
        return ArtifactTypeView(self.sequence.type_name)

    @property
    def createdAt(self) -> str | None:
        return iso(self.created)

    @property
    def updatedAt(self) -> str | None:
        return iso(self.updated or self.created)

    @property
    def tags(self) -> list[TagView]:
        return [TagView(t) for t in self.tag_names]

    def _metadata(self) -> str:
        return json.dumps(self.metadata)

    @property
    def aliases(self) -> list[AliasView]:
        found: list[AliasView] = []
        for membership in self.sequence.project.entity.store.memberships_of(self):
            found += membership.aliases
        for alias in self.sequence_aliases:
            found.append(AliasView(alias, self.sequence))
        return found

    @property
    def sequence_aliases(self) -> list[str]:
        latest = self.sequence.versions[-1] is self
        return [f"v{self.versionIndex}", *(["latest"] if latest else [])]

    @property
    def createdBy(self) -> RunData | None:
        return self.created_by

    @property
    def currentManifest(self) -> dict[str, Any]:
        base = self.sequence.project.entity.store.storage_url
        return {"file": {"directUrl": f"{base}/manifests/{self.id}?signature=fake"}}

    def manifest(self) -> dict[str, Any]:
        """wandb_manifest.json: one reference entry per ``references`` URI, else one file."""
        contents: dict[str, Any] = {}
        for uri in self.references:
            contents[uri.rsplit("/", 1)[-1] or uri] = {"digest": self.digest, "ref": uri, "size": self.size}
        if not contents:
            contents["model.pkl"] = {"digest": self.digest, "size": self.size}
        return {
            "version": 1,
            "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": {},
            "contents": contents,
        }


@dataclass
class AliasView:
    alias: str
    artifactCollection: Any
    id: str = field(default_factory=lambda: new_id("ArtifactAlias"))


@dataclass
class CollectionData:
    """A registry collection: an ``ArtifactPortfolio`` in a registry project."""

    name: str
    project: ProjectData
    type_name: str
    description: str | None = None
    tag_names: list[str] = field(default_factory=list)
    memberships: list[MembershipData] = field(default_factory=list)
    id: str = field(default_factory=lambda: new_id("ArtifactPortfolio"))
    typename: str = "ArtifactPortfolio"
    created: datetime = field(default_factory=now)
    updated: datetime | None = None

    @property
    def createdAt(self) -> str | None:
        return iso(self.created)

    @property
    def updatedAt(self) -> str | None:
        return iso(self.updated or self.created)

    @property
    def defaultArtifactType(self) -> ArtifactTypeView:
        return ArtifactTypeView(self.type_name)

    @property
    def tags(self) -> dict[str, Any]:
        return {"edges": [{"node": TagView(t)} for t in self.tag_names]}


@dataclass
class MembershipData:
    collection: CollectionData
    artifact: ArtifactData
    versionIndex: int
    alias_names: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: new_id("ArtifactCollectionMembership"))
    created: datetime = field(default_factory=now)

    @property
    def artifactCollection(self) -> CollectionData:
        return self.collection

    @property
    def createdAt(self) -> str | None:
        return iso(self.created)

    @property
    def aliases(self) -> list[AliasView]:
        latest = self.collection.memberships[-1] is self
        names = [*self.alias_names, f"v{self.versionIndex}", *(["latest"] if latest else [])]
        return [AliasView(a, self.collection) for a in names]


def _filter_names(filters: str | None) -> set[str] | None:
    """The name filters the SDK sends: ``{"name": "x"}`` or ``{"name": {"$in": [...]}}``;
    None when the filter does not constrain names."""
    if not filters:
        return None
    parsed = json.loads(filters)
    name = parsed.get("name") if isinstance(parsed, dict) else None
    if name is None:
        return None
    if isinstance(name, str):
        return {name}
    if isinstance(name, dict) and isinstance(name.get("$in"), list):
        return set(name["$in"])
    if isinstance(name, dict) and isinstance(name.get("$eq"), str):
        return {name["$eq"]}
    raise GraphQLFailure(400, f"unsupported name filter: {filters}")


@dataclass
class PagingQuirks:
    """The SDK's known paging bugs, replayed on demand (wandb#2996, #5487, #6884):
    pages that come back empty while ``hasNextPage`` is true, and an ``endCursor``
    that is missing although more pages follow."""

    empty_pages: int = 0  # the next N page answers have no edges (cursor unchanged)
    drop_end_cursor: bool = False  # endCursor null; only the edges carry cursors


class FakeStore:
    def __init__(self, organization: str, org_entity: str, team: str) -> None:
        self.lock = threading.RLock()
        self.entities: dict[str, EntityData] = {}
        self.projects: dict[tuple[str, str], ProjectData] = {}
        self.collections: list[CollectionData] = []
        self.artifacts: dict[str, ArtifactData] = {}
        self.sequences: dict[tuple[str, str, str], SequenceData] = {}
        self.quirks = PagingQuirks()
        self.storage_url = ""  # where manifests are served (set when the server starts)
        entity = EntityData(org_entity, "ORGANIZATION", self)
        self.organization = OrganizationData(organization, entity)
        entity.organization = self.organization
        self.entities[org_entity] = entity
        self.team = EntityData(team, "TEAM", self, organization=self.organization)
        self.entities[team] = self.team

    # --- paging ------------------------------------------------------------------

    def page(self, kind: str, items: list[Any], after: str | None, first: int | None) -> dict[str, Any]:
        """A Relay page: cursors are positions in the full listing."""
        start = 0
        if after:
            try:
                prefix, _, position = base64.b64decode(after).decode().partition(":")
                if prefix != kind:
                    raise ValueError(prefix)
                start = int(position) + 1
            except ValueError:
                raise GraphQLFailure(400, f"invalid cursor {after!r}") from None
        size = first if first and first > 0 else 50
        if self.quirks.empty_pages > 0:
            self.quirks.empty_pages -= 1
            cursor = after
            return {"pageInfo": {"endCursor": cursor, "hasNextPage": start < len(items)}, "edges": []}
        chunk = items[start : start + size]
        edges = [
            {"node": item, "cursor": base64.b64encode(f"{kind}:{start + i}".encode()).decode()}
            for i, item in enumerate(chunk)
        ]
        end = edges[-1]["cursor"] if edges else after
        has_next = start + size < len(items)
        if self.quirks.drop_end_cursor:
            end = None
        return {"pageInfo": {"endCursor": end, "hasNextPage": has_next}, "edges": edges}

    # --- seeding -----------------------------------------------------------------

    def add_registry(self, name: str, description: str | None = None) -> ProjectData:
        with self.lock:
            entity = self.organization.orgEntity
            key = (entity.name, REGISTRY_PREFIX + name)
            if key not in self.projects:
                self.projects[key] = ProjectData(REGISTRY_PREFIX + name, entity, description)
            return self.projects[key]

    def team_project(self, name: str) -> ProjectData:
        with self.lock:
            key = (self.team.name, name)
            if key not in self.projects:
                self.projects[key] = ProjectData(name, self.team, access="PRIVATE")
            return self.projects[key]

    def add_run(self, project: str, name: str, config: dict[str, Any], summary: dict[str, Any]) -> RunData:
        with self.lock:
            home = self.team_project(project)
            run = RunData(name, home, config, summary)
            home.runs[name] = run
            return run

    def log_artifact(
        self,
        project: str,
        name: str,
        type_name: str,
        *,
        run: RunData | None,
        digest: str,
        size: int,
        metadata: dict[str, Any] | None = None,
        description: str | None = None,
        references: list[str] | None = None,
    ) -> ArtifactData:
        """What ``run.log_artifact`` leaves on the server: a new version of the
        run's source collection."""
        with self.lock:
            home = self.team_project(project)
            key = (self.team.name, project, name)
            sequence = self.sequences.setdefault(key, SequenceData(name, home, type_name))
            artifact = ArtifactData(
                sequence,
                len(sequence.versions),
                digest,
                size,
                dict(metadata or {}),
                description,
                run,
                references=list(references or []),
            )
            sequence.versions.append(artifact)
            self.artifacts[artifact.id] = artifact
            if run is not None:
                run.logged.append(artifact)
            return artifact

    def link(
        self, artifact: ArtifactData, registry: str, collection: str, aliases: list[str] | None = None
    ) -> MembershipData:
        """What ``run.link_artifact`` / ``artifact.link`` leaves: a membership ``v<N>``
        of the registry collection (made on first link)."""
        with self.lock:
            project = self.add_registry(registry)
            found = next((c for c in self.collections if c.project is project and c.name == collection), None)
            if found is None:
                found = CollectionData(collection, project, artifact.sequence.type_name)
                self.collections.append(found)
            membership = MembershipData(found, artifact, len(found.memberships))
            found.memberships.append(membership)
            found.updated = now()
            for alias in aliases or ():
                self._move_alias(found, alias, membership)
            return membership

    def _move_alias(self, collection: CollectionData, alias: str, target: MembershipData) -> None:
        """Aliases are unique within a collection: setting one moves it."""
        for membership in collection.memberships:
            if alias in membership.alias_names and membership is not target:
                membership.alias_names.remove(alias)
        if alias not in target.alias_names:
            target.alias_names.append(alias)
        collection.updated = now()

    def memberships_of(self, artifact: ArtifactData) -> list[MembershipData]:
        return [m for c in self.collections for m in c.memberships if m.artifact is artifact]

    def collection(self, entity: str, project: str, name: str) -> CollectionData | None:
        return next(
            (
                c
                for c in self.collections
                if c.project.entity.name == entity and c.project.name == project and c.name == name
            ),
            None,
        )

    # --- mutations -----------------------------------------------------------------

    def change_aliases(
        self,
        artifact_id: str,
        aliases: list[dict[str, str]],
        *,
        add: bool,
        may_protect: bool,
        protected: set[str],
    ) -> None:
        with self.lock:
            artifact = self.artifacts.get(artifact_id)
            if artifact is None:
                raise GraphQLFailure(404, f"artifact {artifact_id} not found")
            for entry in aliases:
                alias = entry["alias"]
                if alias in protected and not may_protect:
                    raise GraphQLFailure(
                        403,
                        f"permission denied: alias {alias!r} is protected in this registry; "
                        "only registry admins may add or remove it",
                    )
                if alias == "latest" or (alias.startswith("v") and alias[1:].isdigit()):
                    raise GraphQLFailure(400, f"alias {alias!r} is reserved")
            for entry in aliases:
                collection = self.collection(
                    entry["entityName"], entry["projectName"], entry["artifactCollectionName"]
                )
                target = (
                    next((m for m in collection.memberships if m.artifact is artifact), None)
                    if collection
                    else None
                )
                if collection is None or target is None:
                    raise GraphQLFailure(
                        404,
                        f"artifact {artifact_id} is not in collection {entry['artifactCollectionName']!r}",
                    )
                if add:
                    self._move_alias(collection, entry["alias"], target)
                elif entry["alias"] in target.alias_names:
                    target.alias_names.remove(entry["alias"])
                    collection.updated = now()

    def update_artifact(self, data: dict[str, Any]) -> ArtifactData:
        with self.lock:
            artifact = self.artifacts.get(data["artifactID"])
            if artifact is None:
                raise GraphQLFailure(404, f"artifact {data['artifactID']} not found")
            if data.get("description") is not None:
                artifact.description = data["description"]
            if data.get("metadata") is not None:
                artifact.metadata = json.loads(data["metadata"])
            for tag in data.get("tagsToAdd") or ():
                if tag["tagName"] not in artifact.tag_names:
                    artifact.tag_names.append(tag["tagName"])
            for tag in data.get("tagsToDelete") or ():
                if tag["tagName"] in artifact.tag_names:
                    artifact.tag_names.remove(tag["tagName"])
            artifact.updated = now()
            for membership in self.memberships_of(artifact):
                membership.collection.updated = artifact.updated
            return artifact
