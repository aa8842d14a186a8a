"""``modelgate artifacts retain``: files of versions ARCHIVED longer than
``archive_after_days`` move to ``archive_storage_class`` on a real moto S3
server, read back with boto3 (moto records the class): same key, same bytes,
audited; a file another version still uses stays; a rerun moves nothing; a
``file://`` store is a no-op that says so."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from adapters.base import RegistrationRequest
from adapters.protocol import PromotionContext
from gateway.auth.principal import Principal
from gateway.cli.artifacts import retain
from gateway.config import Settings, settings_from_mapping
from gateway.domain import ModelVersion, Stage, utcnow
from gateway.governance import audit
from gateway.runtime import Gateway
from gateway.store.tables import native_versions, stage_changes
from tests.artifacts.conftest import raw_settings
from tests.support import served_gateway

WHO = {"olga": Principal("olga", teams=frozenset({"platform"}))}
OLD, SHARED, FRESH = os.urandom(3 * 1024 * 1024), os.urandom(40_000), os.urandom(30_000)


def settings_for(tmp_path: Path, artifacts: dict[str, Any]) -> Settings:
    return settings_from_mapping(
        raw_settings(f"sqlite:///{tmp_path}/modelgate.db", artifacts), environ=dict(os.environ)
    )


async def versions(settings: Settings) -> dict[str, str]:
    """``old/1`` archived 40 days ago; ``shared/1`` too, but ``shared/2`` (the same
    bytes, so the same object) is in PRODUCTION; ``fresh/1`` archived today.
    Returns version -> its file's URI."""
    uris: dict[str, str] = {}
    async with served_gateway(settings, WHO) as (gw, client):
        for model, data, count in (("old", OLD, 1), ("shared", SHARED, 2), ("fresh", FRESH, 1)):
            for _ in range(count):
                stored = (await client.put(f"/artifacts/platform/{model}/model.bin", content=data)).json()
                v = ModelVersion(
                    "platform", model, "0", artifact_uri=stored["uri"], artifact_digest=stored["digest"]
                )
                registered = await gw.register_version("platform", RegistrationRequest(model, v, "setup"))
                uris[registered.uri] = stored["uri"]
        adapter = gw.adapters["platform"]
        for uri, stage in (
            ("mg://platform/old/1", Stage.ARCHIVED),
            ("mg://platform/shared/1", Stage.ARCHIVED),
            ("mg://platform/shared/2", Stage.PRODUCTION),
            ("mg://platform/fresh/1", Stage.ARCHIVED),
        ):
            _, _, model, number = uri.rsplit("/", 3)
            version = await adapter.get_version(model, number)
            assert version is not None
            await adapter.set_stage(version, stage, PromotionContext("ops"))
        await gw.sync.sync_all(full=True)  # records the stage changes
        long_ago = utcnow() - timedelta(days=40)
        async with gw.database.write() as conn:
            for uri in ("mg://platform/old/1", "mg://platform/shared/1"):
                await conn.execute(
                    update(stage_changes).where(stage_changes.c.version_uri == uri).values(at=long_ago)
                )
            await conn.execute(update(native_versions).values(updated_at=long_ago))
    return uris


def storage_class(s3: Any, bucket: str, uri: str) -> str:
    head = s3.head_object(Bucket=bucket, Key=uri[len(f"s3://{bucket}/") :])
    return str(head.get("StorageClass", "STANDARD"))


async def test_archived_files_move_to_the_colder_class_in_place(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    settings = settings_for(
        tmp_path, {**s3_artifacts, "archive_after_days": 30, "archive_storage_class": "GLACIER_IR"}
    )
    uris = await versions(settings)
    old, shared, fresh = (
        uris["mg://platform/old/1"],
        uris["mg://platform/shared/1"],
        uris["mg://platform/fresh/1"],
    )
    assert shared == uris["mg://platform/shared/2"], "the same bytes are one object"

    plan = io.StringIO()
    assert await retain(settings, dry_run=True, out=plan) == 0
    assert f"{shared}  kept: still named by mg://platform/shared/2" in plan.getvalue(), plan.getvalue()
    assert "1 file (3.0 MiB) would move to GLACIER_IR" in plan.getvalue()
    assert storage_class(s3, bucket, old) == "STANDARD", "a dry run moves nothing"

    out = io.StringIO()
    assert await retain(settings, dry_run=False, out=out) == 0, out.getvalue()
    assert f"{old}  3.0 MiB  MOVED" in out.getvalue()
    assert storage_class(s3, bucket, old) == "GLACIER_IR"
    for kept in (shared, fresh):
        assert storage_class(s3, bucket, kept) == "STANDARD"
    body = s3.get_object(Bucket=bucket, Key=old[len(f"s3://{bucket}/") :])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == old.split("/")[-2], "the same bytes under the same key"

    # Downloads still serve it, with its digest.
    async with served_gateway(settings, WHO) as (_, client):
        response = await client.get("/artifacts/platform/old/1/model.bin")
        assert response.status_code == 200 and response.content == OLD

    gw = await Gateway.open(settings)
    try:
        events = [
            e async for e in audit.iter_events(gw.database, audit.AuditFilter(action="artifact.tiered"))
        ]
    finally:
        await gw.aclose()
    assert [(e.subject, e.details["storageClass"], e.details["artifact"]) for e in events] == [
        ("mg://platform/old/1", "GLACIER_IR", old)
    ]

    rerun = io.StringIO()
    assert await retain(settings, dry_run=False, out=rerun) == 0
    assert f"{old}  3.0 MiB  ALREADY" in rerun.getvalue() and "0 files" in rerun.getvalue(), rerun.getvalue()


async def test_a_file_that_no_longer_matches_its_digest_is_left_as_it_was(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    settings = settings_for(
        tmp_path, {**s3_artifacts, "archive_after_days": 30, "archive_storage_class": "STANDARD_IA"}
    )
    old = (await versions(settings))["mg://platform/old/1"]
    key = old[len(f"s3://{bucket}/") :]
    rotten = b"X" + OLD[1:]
    s3.put_object(Bucket=bucket, Key=key, Body=rotten)
    out = io.StringIO()
    assert await retain(settings, dry_run=False, out=out) == 1
    assert "FAILED" in out.getvalue() and "does not hash to" in out.getvalue(), out.getvalue()
    assert storage_class(s3, bucket, old) == "STANDARD"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == rotten, "left exactly as it was"


async def test_a_directory_store_has_no_classes(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        {"url": f"file://{tmp_path / 'artifacts'}", "archive_after_days": 1, "archive_storage_class": "COLD"},
    )
    out = io.StringIO()
    assert await retain(settings, dry_run=False, out=out) == 0
    assert "has no storage classes" in out.getvalue()


async def test_off_unless_configured(tmp_path: Path) -> None:
    out = io.StringIO()
    assert await retain(settings_for(tmp_path, {"url": f"file://{tmp_path}/a"}), dry_run=False, out=out) == 0
    assert "archive_after_days and archive_storage_class are not set" in out.getvalue()


def test_retention_plan_and_apply_take_the_files_along(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any], capsys: Any
) -> None:
    """``modelgate retention plan|apply``: the policy file's rules (none here), then
    the archived files ``[artifacts]`` would move, with their bytes."""
    import asyncio

    from gateway.cli import main

    artifacts = {**s3_artifacts, "archive_after_days": 30, "archive_storage_class": "GLACIER_IR"}
    old = asyncio.run(versions(settings_for(tmp_path, artifacts)))["mg://platform/old/1"]
    config = tmp_path / "modelgate.toml"
    lines = ["[storage]", f'url = "sqlite:///{tmp_path}/modelgate.db"', "[artifacts]"]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in artifacts.items()]
    lines += ["[[registries]]", 'id = "platform"', 'kind = "native"', 'team = "platform"']
    config.write_text("\n".join(lines) + "\n")
    capsys.readouterr()

    assert main(["retention", "plan", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "0 versions would be archived" in out and "1 file (3.0 MiB) would move to GLACIER_IR" in out, out
    assert storage_class(s3, bucket, old) == "STANDARD"

    assert main(["retention", "apply", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"{old}  3.0 MiB  MOVED" in out, out
    assert storage_class(s3, bucket, old) == "GLACIER_IR"


async def test_azure_blobs_move_to_the_cool_tier(
    tmp_path: Path, container: Any, az_artifacts: dict[str, Any]
) -> None:
    """The same on Azure Blob (Azurite): the tier read back with azure-storage-blob."""
    settings = settings_for(
        tmp_path, {**az_artifacts, "archive_after_days": 30, "archive_storage_class": "Cool"}
    )
    uris = await versions(settings)
    out = io.StringIO()
    assert await retain(settings, dry_run=False, out=out) == 0, out.getvalue()
    prefix = f"az://{container.container_name}/"

    def tier(uri: str) -> str:
        return str(container.get_blob_client(uri[len(prefix) :]).get_blob_properties().blob_tier)

    assert tier(uris["mg://platform/old/1"]) == "Cool"
    assert tier(uris["mg://platform/shared/1"]) == tier(uris["mg://platform/fresh/1"]) == "Hot"
    blob = container.download_blob(uris["mg://platform/old/1"][len(prefix) :]).readall()
    assert blob == OLD
    rerun = io.StringIO()
    assert await retain(settings, dry_run=False, out=rerun) == 0
    assert "ALREADY" in rerun.getvalue(), rerun.getvalue()


async def test_a_folder_a_version_in_use_names_keeps_its_files(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    """A version whose artifactUri is a folder (a directory version) protects every
    file under it, though it names none of them one by one."""
    settings = settings_for(
        tmp_path, {**s3_artifacts, "archive_after_days": 30, "archive_storage_class": "GLACIER_IR"}
    )
    old = (await versions(settings))["mg://platform/old/1"]
    folder = old.rsplit("/", 1)[0] + "/"
    async with served_gateway(settings, WHO) as (gw, _):
        v = ModelVersion("platform", "old", "0", artifact_uri=folder)
        await gw.register_version("platform", RegistrationRequest("old", v, "setup"))
    out = io.StringIO()
    assert await retain(settings, dry_run=False, out=out) == 0
    assert f"{old}  kept: still named by mg://platform/old/2" in out.getvalue(), out.getvalue()
    assert storage_class(s3, bucket, old) == "STANDARD"
