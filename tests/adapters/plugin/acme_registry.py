"""A third-party registry adapter, as another team would publish it: the package
``acme-registry`` with the entry point ``modelgate.adapters: acme =
acme_registry:factory``. It is the example ``docs/writing-an-adapter.md`` walks
through; ``tests/adapters/test_plugin_entry_point.py`` installs it from this
source into a directory outside ``adapters/``, puts that on ``sys.path`` and runs
the adapter contract against it. Nothing in ``gateway/`` or ``adapters/`` names it.

It uses only what a plugin may: the contract (``adapters.protocol``), the shared
helpers (``adapters.base``), and ``gateway.domain``, ``gateway.config``,
``gateway.errors``. The "server" is an in-process store, the registry's own
side, which tests fill through ``SERVERS`` as a team would through the
registry's client. References look like ``acme://<account>/<model>/v<version>``
and belong to the registry configured with that ``account``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from adapters.base import archive_other_production, decode_token, encode_token
from adapters.protocol import (
    AdapterContext,
    ChangeSet,
    Health,
    Page,
    PromotionContext,
    ReferenceMatch,
    ReferenceParser,
)
from gateway.config import ConfigError, RegistrySettings
from gateway.domain import DatasetRef, LineageEdge, Model, ModelVersion, Stage, record_edges
from gateway.errors import RegistryNotFound

PAGE = 2  # small, so that every listing crosses pages
REFERENCE = re.compile(r"^acme://(?P<account>[^/]+)/(?P<model>[^/]+)/v(?P<version>[0-9]+)$")
WORDS = {Stage.DRAFT: "new", Stage.STAGING: "candidate", Stage.PRODUCTION: "live", Stage.ARCHIVED: "retired"}
STAGES = {word: stage for stage, word in WORDS.items()}
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class AcmeServer:
    """The registry's own side: models, versions and a change clock."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, object]] = {}
        self.versions: dict[str, list[dict[str, object]]] = {}
        self.changed: dict[str, int] = {}
        self.clock = 0

    def _tick(self, name: str) -> None:
        self.clock += 1
        self.changed[name] = self.clock

    def create_model(
        self, name: str, description: str | None = None, labels: dict[str, str] | None = None
    ) -> None:
        self.models[name] = {"description": description, "labels": dict(labels or {})}
        self.versions.setdefault(name, [])
        self._tick(name)

    def add_version(self, name: str, uri: str, **fields: object) -> str:
        if name not in self.models:
            self.create_model(name)
        number = str(len(self.versions[name]) + 1)
        self.versions[name].append({"number": number, "uri": uri, "state": "new", **fields})
        self._tick(name)
        return number


SERVERS: dict[str, AcmeServer] = {}


def _page(items: list, token: str | None) -> tuple[list, str | None]:  # type: ignore[type-arg]
    start = decode_token(token)["at"] if token else 0
    more = start + PAGE < len(items)
    return items[start : start + PAGE], encode_token({"at": start + PAGE}) if more else None


class AcmeRegistry:
    """``RegistryAdapter``, and the optional ``SourceLinker``."""

    kind = "acme"

    def __init__(self, registry_id: str, server: AcmeServer, team: str | None, account: str):
        self.registry_id = registry_id
        self.server = server
        self.team = team
        self.account = account

    def _model(self, name: str) -> Model:
        raw = self.server.models[name]
        return Model(
            self.registry_id,
            name,
            description=raw["description"],  # type: ignore[arg-type]
            tags=raw["labels"],  # type: ignore[arg-type]
            team=self.team,
            created_at=EPOCH,
            updated_at=EPOCH + timedelta(seconds=self.server.changed.get(name, 0)),
        )

    def _version(self, name: str, raw: dict[str, object]) -> ModelVersion:
        datasets = raw.get("datasets") or ()
        return ModelVersion(
            self.registry_id,
            name,
            str(raw["number"]),
            stage=STAGES[str(raw["state"])],
            native_stage=str(raw["state"]),
            description=raw.get("description"),  # type: ignore[arg-type]
            artifact_uri=str(raw["uri"]),
            tags=dict(raw.get("labels") or {}),  # type: ignore[call-overload]
            metrics=dict(raw.get("metrics") or {}),  # type: ignore[call-overload]
            hyperparameters=dict(raw.get("params") or {}),  # type: ignore[call-overload]
            training_data=tuple(DatasetRef(str(uri), role="training") for uri in datasets),  # type: ignore[attr-defined]
            team=self.team,
            created_at=EPOCH + timedelta(seconds=int(str(raw["number"]))),
        )

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        names, token = _page(sorted(self.server.models), page_token)
        return Page([self._model(n) for n in names], token)

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        raws, token = _page(self.server.versions.get(model_name, []), page_token)
        return Page([self._version(model_name, r) for r in raws], token)

    async def get_model(self, name: str) -> Model | None:
        return self._model(name) if name in self.server.models else None

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        for raw in self.server.versions.get(name, []):
            if raw["number"] == version:
                return self._version(name, raw)
        return None

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        since = int(cursor or 0)
        changed = sorted(n for n, at in self.server.changed.items() if at > since)
        return ChangeSet(cursor=str(self.server.clock), changed=changed)

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        current = await self.get_version(version.model_name, version.version)
        return record_edges(current) if current else []

    async def set_stage(self, version: ModelVersion, stage: Stage, context: PromotionContext) -> ModelVersion:
        for raw in self.server.versions.get(version.model_name, []):
            if raw["number"] == version.version:
                raw["state"] = WORDS[stage]
                self.server._tick(version.model_name)
                written = self._version(version.model_name, raw)
                if stage is Stage.PRODUCTION:
                    await archive_other_production(
                        self, written, lambda other: self.set_stage(other, Stage.ARCHIVED, context)
                    )
                return written
        raise RegistryNotFound(self.registry_id, f"{version.uri} does not exist")

    async def health(self) -> Health:
        return Health(True)

    async def aclose(self) -> None:
        pass

    # SourceLinker (optional): where a person finds the model in Acme's own UI.
    def source_url(self, model_name: str, version: str | None = None) -> str | None:
        page = f"https://console.acme.example/{self.account}/models/{model_name}"
        return f"{page}/v{version}" if version else page


class AcmeFactory(ReferenceParser):
    """The entry point's object. Subclassing ``ReferenceParser`` declares the
    capability and inherits the defaults of its optional members."""

    kind = "acme"

    def validate(self, registry: RegistrySettings) -> None:
        if not str(registry.options.get("account") or "").strip():
            raise ConfigError(f"{registry.key}.account", "required: the Acme account this registry reads")

    def create(self, registry: RegistrySettings, context: AdapterContext) -> AcmeRegistry:
        self.validate(registry)
        account = str(registry.options["account"])
        return AcmeRegistry(registry.id, SERVERS.setdefault(account, AcmeServer()), registry.team, account)

    # ReferenceParser: lineage resolves acme:// references with no change to the core.
    def is_reference(self, text: str) -> bool:
        return text.strip().startswith("acme://")

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        match = REFERENCE.match(text.strip())
        if match is None or match["account"] != registry.options.get("account"):
            return None
        return ReferenceMatch(match["model"], match["version"])


factory = AcmeFactory()
