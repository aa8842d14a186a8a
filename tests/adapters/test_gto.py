"""The GTO adapter against real Git remotes on this machine.

A bare repository served by ``git daemon`` on loopback (``git://``, push
enabled) and another reached over ``file://``, populated as a team does it:
``dvc.yaml`` commits with ``git``, versions and stages with the real ``gto``
API pushing its tags. What the adapter writes is checked with ``gto show`` in
a fresh clone of the remote, GTO's own view.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import iterate_pages
from adapters.gto import GtoRegistry, factory, load_settings
from adapters.gto.tags import TagRecord, build_state
from adapters.protocol import PromotionContext
from gateway.config import ConfigError, RegistrySettings
from gateway.domain import Stage
from gateway.errors import RegistryRejected, RegistryUnavailable
from tests.adapters.contract import (
    HYPERPARAMETERS,
    METRICS,
    MODEL_TAGS,
    VERSION_DESCRIPTION,
    VERSION_TAGS,
    AdapterContract,
    SeedModel,
    unique_name,
)
from tests.servers.gto import GitDaemon, GtoRemote, free_port, git, git_daemon, in_thread, unique_repo

REGISTRY = "nlp-gto"


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitDaemon]:
    base = tmp_path_factory.mktemp("gto-remotes")
    with git_daemon(base) as served:
        yield served


def new_remote(daemon: GitDaemon, stem: str = "models", *, over: str = "git", **kwargs: Any) -> GtoRemote:
    name = unique_repo(stem)
    url = daemon.url(name) if over == "git" else f"file://{daemon.base}/{name}.git"
    return GtoRemote.create(daemon.base, name, url, **kwargs)


def make_adapter(url: str, mirrors: Path, registry_id: str = REGISTRY, **options: Any) -> GtoRegistry:
    registry = RegistrySettings(id=registry_id, kind="gto", team="nlp", options={"repo": url, **options})
    settings = load_settings(registry, environ={})
    return GtoRegistry(registry_id, settings, mirrors / f"{registry_id}.git", team="nlp")


@pytest.fixture
def remote(daemon: GitDaemon) -> GtoRemote:
    return new_remote(daemon)


@pytest.fixture
async def adapter(remote: GtoRemote, tmp_path: Path) -> AsyncIterator[GtoRegistry]:
    gto = make_adapter(remote.url, tmp_path)
    yield gto
    await gto.aclose()


def seed_churn(remote: GtoRemote) -> tuple[str, str]:
    first = remote.commit_artifact(
        "churn",
        path="models/churn.pkl",
        desc="Churn classifier",
        labels=["nlp", "owner=ana", "parent=base@v0.1.0"],
        meta={"framework": "sklearn", "window": 30},
        metrics={"auc": 0.91, "eval": {"f1": 0.8}},
        params={"train": {"lr": 0.1, "epochs": 5}},
    )
    remote.register("churn", "v1.0.0")
    second = remote.commit_artifact("churn", path="models/churn.pkl", desc="Churn v2", metrics={"auc": 0.93})
    remote.register("churn", "v1.1.0")
    return first, second


# --- reads ------------------------------------------------------------------------


async def test_version_carries_dvc_yaml_metrics_params_and_the_tag(
    adapter: GtoRegistry, remote: GtoRemote
) -> None:
    first, _ = await in_thread(seed_churn, remote)
    version = await adapter.get_version("churn", "v1.0.0")
    assert version is not None
    assert version.uri == f"mg://{REGISTRY}/churn/v1.0.0"
    assert version.semver == "1.0.0" and version.stage is Stage.DRAFT and version.native_stage is None
    assert version.description == "Churn classifier"
    assert version.tags == {
        "nlp": "",
        "owner": "ana",
        "parent": "base@v0.1.0",
        "framework": "sklearn",
        "window": "30",
    }
    assert version.parent == f"mg://{REGISTRY}/base/v0.1.0"  # a GTO reference into this repository
    assert version.metrics == {"auc": 0.91, "eval.f1": 0.8}
    assert version.hyperparameters == {"train.lr": "0.1", "train.epochs": "5"}
    assert version.artifact_uri == f"{remote.url}#models/churn.pkl@{first}"
    assert version.training_code is not None
    assert (version.training_code.repository, version.training_code.commit) == (remote.url, first)
    assert version.created_by == "Team Member"
    assert version.created_at is not None and version.created_at.tzinfo is not None
    assert (
        version.native["tag"] == "churn@v1.0.0" and version.native["registeredByEmail"] == "team@example.com"
    )
    assert version.native["commit"] == first and version.native["path"] == "models/churn.pkl"
    # the second version reads its own commit's files
    second = await adapter.get_version("churn", "1.1.0")
    assert second is not None and second.description == "Churn v2" and second.metrics == {"auc": 0.93}
    model = await adapter.get_model("churn")
    assert model is not None and model.description == "Churn v2"  # the newest version's metadata


async def test_declared_models_without_versions_are_listed(adapter: GtoRegistry, remote: GtoRemote) -> None:
    await in_thread(remote.commit_artifact, "draft-model", path="m.bin", desc="Not yet registered")
    await in_thread(remote.commit_artifact, "dataset", path="data.csv", type="dataset")
    names = [m.name async for m in iterate_pages(adapter.list_models)]
    assert "draft-model" in names and "dataset" not in names
    model = await adapter.get_model("draft-model")
    assert model is not None and model.description == "Not yet registered" and model.created_at is not None
    assert (await adapter.list_versions("draft-model")).items == []


async def test_nested_artifact_names_are_escaped_in_uris(adapter: GtoRegistry, remote: GtoRemote) -> None:
    def seed() -> None:
        remote.commit_artifact("team/ranker", path="r.pt", directory="services/search", metrics={"ndcg": 0.5})
        remote.register("services/search:team/ranker", "v0.1.0")

    await in_thread(seed)
    name = "services%2Fsearch:team%2Franker"  # GTO's dir:name, with "/" escaped for the URI
    (version,) = (await adapter.list_versions(name)).items
    assert version.uri == f"mg://{REGISTRY}/{name}/v0.1.0"
    assert version.native["artifact"] == "services/search:team/ranker"
    assert version.metrics == {"ndcg": 0.5}  # services/search/metrics.json, beside its dvc.yaml


# --- GTO's rules for what is in effect ----------------------------------------------------


async def test_stages_follow_gtos_rules(adapter: GtoRegistry, remote: GtoRemote) -> None:
    def seed() -> None:
        seed_churn(remote)
        remote.assign("churn", "prod", "v1.0.0")
        remote.assign("churn", "staging", "v1.1.0")
        remote.assign("churn", "dev", "v1.1.0")

    await in_thread(seed)
    one, two = (await adapter.list_versions("churn")).items
    assert (one.version, one.stage, one.native_stage) == ("v1.0.0", Stage.PRODUCTION, "prod")
    assert (two.stage, two.native_stage, set(two.aliases)) == (
        Stage.STAGING,
        "staging,dev",
        {"staging", "dev"},
    )
    shown = await in_thread(remote.stages_shown, "churn")
    assert {v: sorted(s) for v, s in shown.items()} == {"v1.0.0": ["prod"], "v1.1.0": ["dev", "staging"]}


async def test_the_latest_assignment_of_a_stage_wins_and_the_highest_stage_counts(
    adapter: GtoRegistry, remote: GtoRemote
) -> None:
    def seed() -> None:
        seed_churn(remote)
        remote.assign("churn", "staging", "v1.0.0")
        remote.assign("churn", "prod", "v1.0.0")
        remote.assign("churn", "prod", "v1.1.0")  # takes prod from v1.0.0 (one version per stage)

    await in_thread(seed)
    shown = await in_thread(remote.stages_shown, "churn")
    one, two = (await adapter.list_versions("churn")).items
    assert shown["v1.1.0"] == ["prod"] and two.stage is Stage.PRODUCTION
    assert shown["v1.0.0"] == ["staging"] and (one.stage, one.native_stage) == (Stage.STAGING, "staging")


async def test_unassigned_deregistered_and_deprecated(adapter: GtoRegistry, remote: GtoRemote) -> None:
    def seed() -> None:
        seed_churn(remote)
        remote.assign("churn", "prod", "v1.0.0")
        remote.unassign("churn", "prod", "v1.0.0")
        remote.deregister("churn", "v1.1.0")

    await in_thread(seed)
    one, two = (await adapter.list_versions("churn")).items
    assert one.stage is Stage.DRAFT
    assert (two.stage, two.native_stage) == (Stage.ARCHIVED, "deregistered")
    await in_thread(remote.deprecate, "churn")
    await adapter.changes_since(None)
    assert {v.native_stage for v in (await adapter.list_versions("churn")).items} == {
        "deprecated",
        "deregistered",
    }


def test_state_rules_without_git() -> None:
    """Same-second tags: the counter orders them, as GTO's own numbering does."""
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    c1, c2 = "a" * 40, "b" * 40

    def tag(name: str, commit: str) -> TagRecord:
        return TagRecord(name, name, commit, "t", "t@x", at, "")

    state = build_state(
        [
            tag("m@v1.0.0", c1),
            tag("m@v2.0.0", c2),
            tag("m#prod#2", c2),
            tag("m#prod#1", c1),
            tag("x@created", c1),
        ]
    )
    assert state["m"].in_effect == {"prod": "v2.0.0"}
    assert "x" not in state


async def test_stage_mapping_is_configurable(remote: GtoRemote, tmp_path: Path) -> None:
    def seed() -> None:
        seed_churn(remote)
        remote.assign("churn", "live", "v1.0.0")
        remote.assign("churn", "prod", "v1.1.0")

    await in_thread(seed)
    gto = make_adapter(remote.url, tmp_path, production_stages=["live"], staging_stages=["prod", "qa"])
    one, two = (await gto.list_versions("churn")).items
    assert (one.stage, two.stage) == (Stage.PRODUCTION, Stage.STAGING)


# --- freshness --------------------------------------------------------------------------


async def test_change_feed_costs_one_round_trip_when_nothing_changed(
    adapter: GtoRegistry, remote: GtoRemote
) -> None:
    await in_thread(seed_churn, remote)
    await in_thread(remote.commit_artifact, "other", path="o.bin")
    await in_thread(remote.register, "other", "v1.0.0")
    start = await adapter.changes_since(None)
    assert start.changed is None  # a first pass lists everything
    fetched = adapter.fetches
    again = await adapter.changes_since(start.cursor)
    assert again.changed == [] and again.cursor == start.cursor and adapter.fetches == fetched
    await in_thread(remote.assign, "churn", "prod", "v1.1.0")  # a team pushes a stage tag
    later = await adapter.changes_since(again.cursor)
    assert later.changed == ["churn"] and adapter.fetches == fetched + 1
    version = await adapter.get_version("churn", "v1.1.0")
    assert version is not None and version.stage is Stage.PRODUCTION


async def test_mirror_is_reused_not_recloned(remote: GtoRemote, tmp_path: Path) -> None:
    await in_thread(seed_churn, remote)
    first = make_adapter(remote.url, tmp_path)
    cursor = (await first.changes_since(None)).cursor
    # a restarted gateway: the same mirror directory, and the feed state it saved
    second = make_adapter(remote.url, tmp_path)
    again = await second.changes_since(cursor)
    assert again.changed == [] and second.fetches == 0


# --- write-through -------------------------------------------------------------------------


async def test_promotion_writes_a_gto_stage_tag_seen_by_gto_show(
    adapter: GtoRegistry, remote: GtoRemote
) -> None:
    def seed() -> None:
        seed_churn(remote)
        remote.assign("churn", "prod", "v1.0.0")

    await in_thread(seed)
    version = await adapter.get_version("churn", "v1.1.0")
    assert version is not None
    staged = await adapter.set_stage(version, Stage.STAGING, PromotionContext("alice"))
    assert (staged.stage, staged.native_stage) == (Stage.STAGING, "staging")
    promoted = await adapter.set_stage(staged, Stage.PRODUCTION, PromotionContext("alice"))
    assert (promoted.stage, promoted.native_stage) == (Stage.PRODUCTION, "prod")
    shown = await in_thread(remote.stages_shown, "churn")
    assert shown == {"v1.1.0": ["prod"], "v1.0.0": []}
    tags = git("tag", "--list", "churn#*", cwd=remote.bare).split()
    assert set(tags) == {"churn#prod#1", "churn#staging#2", "churn#staging!#3", "churn#prod#4"}
    message = remote.tag_message("churn#prod#4")
    assert message.startswith("Assigning stage prod to artifact churn version v1.1.0") and "alice" in message
    old = await adapter.get_version("churn", "v1.0.0")
    assert old is not None and old.stage is Stage.DRAFT


async def test_archiving_unassigns_and_deregisters(adapter: GtoRegistry, remote: GtoRemote) -> None:
    def seed() -> None:
        seed_churn(remote)
        remote.assign("churn", "prod", "v1.0.0")

    await in_thread(seed)
    version = await adapter.get_version("churn", "v1.0.0")
    assert version is not None
    archived = await adapter.set_stage(version, Stage.ARCHIVED, PromotionContext("bob"))
    assert (archived.stage, archived.native_stage) == (Stage.ARCHIVED, "deregistered")
    shown = await in_thread(remote.show, "churn")
    gone = next(v for v in shown if v["version"] == "v1.0.0")
    assert gone["stages"] == [] and gone["is_active"] is False
    with pytest.raises(RegistryRejected, match="deregistered"):
        await adapter.set_stage(archived, Stage.STAGING, PromotionContext("bob"))


async def test_a_rejected_push_fails_with_the_remotes_message(daemon: GitDaemon, tmp_path: Path) -> None:
    hook = "#!/bin/sh\necho 'stage tags need a signed approval' >&2\nexit 1\n"
    remote = new_remote(daemon, "locked")
    await in_thread(seed_churn, remote)
    (remote.bare / "hooks" / "pre-receive").write_text(hook)
    (remote.bare / "hooks" / "pre-receive").chmod(0o755)
    gto = make_adapter(remote.url, tmp_path)
    version = await gto.get_version("churn", "v1.0.0")
    assert version is not None
    with pytest.raises(RegistryRejected, match="signed approval"):
        await gto.set_stage(version, Stage.PRODUCTION, PromotionContext("alice"))
    assert git("tag", "--list", "churn#*", cwd=gto.mirror.path) == ""  # dropped locally too
    reread = await gto.get_version("churn", "v1.0.0")
    assert reread is not None and reread.stage is Stage.DRAFT


# --- remotes and errors ---------------------------------------------------------------------


async def test_file_urls_work_too(daemon: GitDaemon, tmp_path: Path) -> None:
    remote = new_remote(daemon, "local", over="file")
    await in_thread(seed_churn, remote)
    gto = make_adapter(remote.url, tmp_path)
    version = await gto.get_version("churn", "v1.1.0")
    assert version is not None
    await gto.set_stage(version, Stage.PRODUCTION, PromotionContext("alice"))
    assert (await in_thread(remote.stages_shown, "churn"))["v1.1.0"] == ["prod"]


@pytest.mark.parametrize("kind", ["refused", "missing"])
async def test_an_unreachable_or_missing_remote_is_unavailable(
    kind: str, daemon: GitDaemon, tmp_path: Path
) -> None:
    url = f"git://127.0.0.1:{free_port()}/x.git" if kind == "refused" else f"file://{tmp_path}/nothing.git"
    gto = make_adapter(url, tmp_path / "mirrors")
    with pytest.raises(RegistryUnavailable) as raised:
        await gto.list_models()
    assert url in raised.value.message and raised.value.extensions["registry"] == REGISTRY
    health = await gto.health()
    assert not health.ok and health.detail and url in health.detail


async def test_a_known_mirror_serves_reads_while_the_remote_is_down(
    remote: GtoRemote, tmp_path: Path
) -> None:
    await in_thread(seed_churn, remote)
    await make_adapter(remote.url, tmp_path).changes_since(None)
    moved = remote.bare.with_name(remote.bare.name + ".away")
    remote.bare.rename(moved)
    try:
        restarted = make_adapter(remote.url, tmp_path)
        assert [v.version for v in (await restarted.list_versions("churn")).items] == ["v1.0.0", "v1.1.0"]
        with pytest.raises(RegistryUnavailable, match=remote.url):
            await restarted.changes_since(None)
    finally:
        moved.rename(remote.bare)


# --- configuration and references -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"repo": "git://h/r.git", "colour": "x"}, "registries[3].colour", "unknown key"),
        ({"repo": "ftp://h/r.git"}, "registries[3].repo", "Git URL"),
        ({"repo": "https://h/r.git", "token": "abc"}, "registries[3].token", "never inline"),
        ({"repo": "git://h/r.git", "token_env": "T"}, "registries[3].token_env", "https"),
        ({"repo": "git://h/r.git", "staging_stages": ["prod"]}, "registries[3].staging_stages", "PRODUCTION"),
        (
            {"repo": "git://h/r.git", "production_stages": ["bad stage"]},
            "registries[3].production_stages",
            "GTO",
        ),
        ({"repo": "https://h/r.git", "token_env": "UNSET_X"}, "registries[3].token_env", "not set"),
        ({"repo": "git@h:r.git", "ssh_key_file": "/no/such/key"}, "registries[3].ssh_key_file", "no such"),
    ],
)
def test_options_are_validated_naming_the_key(options: dict[str, Any], key: str, message: str) -> None:
    registry = RegistrySettings(id="g", kind="gto", options=options, key="registries[3]")
    with pytest.raises(ConfigError) as raised:
        load_settings(registry, environ={"T": "tok"})
    assert raised.value.key == key and message in str(raised.value)


def test_https_token_comes_from_the_environment_and_stays_off_the_command_line(tmp_path: Path) -> None:
    registry = RegistrySettings(id="g", kind="gto", options={"repo": "https://h/r.git", "token_env": "T"})
    gto = GtoRegistry("g", load_settings(registry, environ={"T": "s3cret"}), tmp_path / "g.git")
    env = gto.mirror.git._env
    assert any(
        v.startswith("Authorization: Basic ") for k, v in env.items() if k.startswith("GIT_CONFIG_VALUE")
    )
    assert "s3cret" not in " ".join(env.values())  # only its base64 form, in a header, in the environment


def test_references_resolve_to_the_owning_registry() -> None:
    mine = RegistrySettings(id="g", kind="gto", options={"repo": "git://h/models.git"})
    assert factory.is_reference("churn@v1.2.0") and factory.is_reference("git://h/models.git:churn@v1.2.0")
    assert not factory.is_reference("churn#prod") and not factory.is_reference("models:/churn/3")
    weak = factory.parse_reference("dir:nlp/churn@v1.2.0", mine)
    assert weak is not None and (weak.model_name, weak.version, weak.weak) == (
        "dir:nlp%2Fchurn",
        "v1.2.0",
        True,
    )
    strong = factory.parse_reference("git://h/models.git:churn@v1.2.0", mine)
    assert strong is not None and (strong.model_name, strong.weak) == ("churn", False)
    assert factory.parse_reference("git://other/x.git:churn@v1.2.0", mine) is None


# --- the shared contract ----------------------------------------------------------------------


class GtoSubject:
    # No LINEAGE: GTO's artifact metadata names no training data the adapter reads.
    capabilities = {VERSION_DESCRIPTION, VERSION_TAGS, METRICS, HYPERPARAMETERS, MODEL_TAGS}
    writable_stages = {Stage.STAGING, Stage.PRODUCTION}
    page_size = 2  # the adapter's page_size option in the contract's fixture

    def __init__(self, remote: GtoRemote, adapter: GtoRegistry):
        self.remote = remote
        self.adapter = adapter
        self._counts: dict[str, int] = {}

    def _add_version(self, model: SeedModel, i: int, version: Any) -> None:
        self.remote.commit_artifact(
            model.name,
            path=version.artifact_uri,
            desc=version.description,
            meta={**model.tags, **version.tags},
            metrics=version.metrics,
            params=version.params,
        )
        self.remote.register(model.name, f"v1.{i}.0")

    async def seed(self, models: list[SeedModel]) -> None:
        def run() -> None:
            for model in models:
                for i, version in enumerate(model.versions):
                    self._add_version(model, i, version)
                self._counts[model.name] = len(model.versions)

        await in_thread(run)

    async def touch(self, model_name: str) -> None:
        def run() -> None:
            n = self._counts.get(model_name, 0)
            self.remote.commit_artifact(model_name, path=f"s3://contract/{model_name}/touched")
            self.remote.register(model_name, f"v1.{n}.0")
            self._counts[model_name] = n + 1

        await in_thread(run)


@pytest.fixture(scope="module")
def contract_remote(daemon: GitDaemon) -> GtoRemote:
    return new_remote(daemon, "contract")


class TestGtoContract(AdapterContract):
    @pytest.fixture
    async def subject(self, contract_remote: GtoRemote, tmp_path: Path) -> AsyncIterator[GtoSubject]:
        gto = make_adapter(contract_remote.url, tmp_path, page_size=GtoSubject.page_size)  # forces paging
        yield GtoSubject(contract_remote, gto)
        await gto.aclose()


def test_unique_names_are_gto_names() -> None:
    from adapters.gto.tags import FULLNAME_RE

    assert FULLNAME_RE.match(unique_name("x"))


# --- through the gateway ------------------------------------------------------------------------

E2E_POLICIES = """
policies: []
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD, LEGAL]
"""
VERSION_QUERY = (
    "query($uri: String!) { modelVersion(uri: $uri) { version semver stage nativeStage trainingCode } }"
)
REQUEST = """mutation($uri: String!) { requestPromotion(uri: $uri, targetStage: PRODUCTION, reason: "launch") {
  id status requiredApprovals } }"""
APPROVE = """mutation($id: ID!) { approvePromotion(requestId: $id, comment: "ok") { id status requiredApprovals } }"""


async def test_gateway_federates_follows_and_promotes_through_gto(daemon: GitDaemon, tmp_path: Path) -> None:
    """Config entry point, sync engine, GraphQL search, a team's pushed stage tag
    picked up by an incremental pass, and an approved promotion written back as a
    GTO tag that ``gto show`` sees in a fresh clone."""
    from asgi_lifespan import LifespanManager
    from starlette.requests import Request

    from gateway.auth.principal import Principal
    from gateway.runtime import Gateway
    from gateway.server import create_app
    from tests.support import data_of, gql, make_settings

    remote = new_remote(daemon, "e2e")

    def seed() -> None:
        remote.commit_artifact("base", path="models/base.pkl", desc="Base model")
        remote.register("base", "v0.1.0")
        seed_churn(remote)  # v1.0.0 carries the label parent=base@v0.1.0
        remote.assign("churn", "prod", "v1.0.0")

    await in_thread(seed)
    policies = tmp_path / "policies.yaml"
    policies.write_text(E2E_POLICIES)
    down = f"git://127.0.0.1:{free_port()}/gone.git"
    registries = [
        {"id": REGISTRY, "kind": "gto", "team": "nlp", "repo": remote.url},
        {"id": "down-gto", "kind": "gto", "team": "nlp", "repo": down},
    ]
    settings = make_settings(
        f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=registries, governance={"policies": str(policies)}
    )
    people = {
        "alice": Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"nlp"})),
        "bob": Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"nlp"})),
        "carol": Principal("carol", frozenset({"LEGAL"})),
    }

    async def principal_for(request: Request) -> Principal:
        return people[request.headers.get("x-test-principal", "alice")]

    def data_of_up(body: dict[str, Any]) -> dict[str, Any]:
        return data_of(body, down=frozenset({"down-gto"}))  # the unreachable one is named, as it should be

    gateway = await Gateway.open(settings)
    try:
        first = await gateway.sync.sync_registry(REGISTRY, full=True)
        assert first.error is None and first.models == 2
        failed = await gateway.sync.sync_registry("down-gto", full=True)
        assert failed.error is not None and down in failed.error
        app = create_app(
            gateway.settings, gateway=gateway, background_sync=False, principal_for_request=principal_for
        )
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
        ):
            found = data_of_up(await gql(client, '{ models(query: "churn") { edges { node { uri } } } }'))
            assert [e["node"]["uri"] for e in found["models"]["edges"]] == [f"mg://{REGISTRY}/churn"]
            lineage = data_of_up(
                await gql(
                    client,
                    "query($uri: String!) { lineage(uri: $uri, direction: UPSTREAM) { edges { target relation } } }",
                    {"uri": f"mg://{REGISTRY}/churn/v1.0.0"},
                )
            )["lineage"]["edges"]
            assert {"target": f"mg://{REGISTRY}/base/v0.1.0", "relation": "DERIVED_FROM"} in lineage
            assert any(e["relation"] == "PRODUCED_BY" and remote.url in e["target"] for e in lineage)
            uri = f"mg://{REGISTRY}/churn/v1.1.0"
            served = data_of_up(await gql(client, VERSION_QUERY, {"uri": f"mg://{REGISTRY}/churn/v1.0.0"}))
            assert (
                served["modelVersion"]["stage"] == "PRODUCTION"
                and served["modelVersion"]["nativeStage"] == "prod"
            )
            assert served["modelVersion"]["semver"] == "1.0.0"

            await in_thread(remote.assign, "churn", "staging", "v1.1.0")  # the team pushes a stage tag
            again = await gateway.sync.sync_registry(REGISTRY)
            assert again.error is None and not again.full and again.models == 1
            staged = data_of_up(await gql(client, VERSION_QUERY, {"uri": uri}))["modelVersion"]
            assert (staged["stage"], staged["nativeStage"]) == ("STAGING", "staging")

            requested = data_of_up(await gql(client, REQUEST, {"uri": uri}))["requestPromotion"]
            assert requested["status"] == "PENDING"
            for who in ("bob", "carol"):
                client.headers["x-test-principal"] = who
                result = data_of_up(await gql(client, APPROVE, {"id": requested["id"]}))["approvePromotion"]
            assert result["status"] == "APPLIED", result
            promoted = data_of_up(await gql(client, VERSION_QUERY, {"uri": uri}))["modelVersion"]
            assert (promoted["stage"], promoted["nativeStage"]) == ("PRODUCTION", "prod")
    finally:
        await gateway.aclose()
    shown = await in_thread(remote.stages_shown, "churn")
    assert shown == {"v1.1.0": ["prod"], "v1.0.0": []}  # GTO's own view of the remote
    written = git("tag", "--list", "churn#prod#*", "--sort=-creatordate", cwd=remote.bare).split()[0]
    message = remote.tag_message(written)
    assert message.startswith("Assigning stage prod to artifact churn version v1.1.0")
    assert f"Promotion request {requested['id']} by alice: launch" in message
    assert "Approved by: bob (TEAM_LEAD), carol (LEGAL)" in message


DVC_YAMLS = [
    "artifacts:\n  a:\n    path: x\n    meta: {k: 1}\n  'b':\n    path: y\nstages:\n  train:\n    cmd: python t.py\n"
    "    metrics:\n    - m.json:\n        cache: false\nparams:\n- p.yaml\n",
    "artifacts: {a: {path: x}}\n",
    "# comment\nartifacts:\n\n  # c\n  a:   # c\n    path: x\n    labels:\n    - l1\n    - l2\nmetrics:\n- m.json\n",
    "x: &anchor {path: 1}\nartifacts:\n  a: *anchor\n",
    "artifacts:\n  a:\n    desc: |\n      multi\n\n      line\n  b:\n    path: q\n",
    "metrics: [m.json]\n",
]


@pytest.mark.parametrize("text", DVC_YAMLS)
@pytest.mark.parametrize("name", ["a", "b", "missing"])
def test_one_artifacts_part_of_dvc_yaml_reads_as_yaml_does(text: str, name: str) -> None:
    import yaml

    from adapters.gto.dvcyaml import load_for_artifact

    full = yaml.safe_load(text)
    got = load_for_artifact(text, name)
    if got == full:  # fell back to the whole file: always right
        return
    expected = {k: full[k] for k in ("metrics", "params", "stages") if k in full}
    entries = full.get("artifacts") or {}
    expected["artifacts"] = {name: entries[name]} if name in entries else {}
    if "artifacts" not in full:
        expected.pop("artifacts")
    assert got == expected
