"""``modelgate artifacts migrate``: native versions' files move from the older
local store (``file://``) into a bucket on a real moto S3 server, checked from
outside with boto3: every byte where the new URI says, the digests verified,
the records rewritten, the sources untouched. A rerun changes nothing; a
corrupted source file is reported and neither copied nor re-pointed."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.base import RegistrationRequest
from gateway.auth.principal import Principal
from gateway.cli.artifacts import migrate
from gateway.config import Settings, settings_from_mapping
from gateway.domain import ModelVersion
from gateway.governance import audit
from gateway.runtime import Gateway
from tests.artifacts.conftest import raw_settings
from tests.support import served_gateway

WHO = {"olga": Principal("olga", teams=frozenset({"platform"}))}
FILES = {"fraud": os.urandom(2 * 1024 * 1024 + 5), "churn": os.urandom(70_000)}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def s3_objects(s3: Any, bucket: str) -> dict[str, Any]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o for page in pages for o in page.get("Contents", ())}


def settings_for(tmp_path: Path, artifacts: dict[str, Any]) -> Settings:
    return settings_from_mapping(
        raw_settings(f"sqlite:///{tmp_path}/modelgate.db", artifacts), environ=dict(os.environ)
    )


async def local_versions(tmp_path: Path, corrupt: bool = False) -> dict[str, str]:
    """Versions uploaded into a ``file://`` store (as the older local store kept
    them); with ``corrupt``, one more whose file is damaged after its upload.
    Returns model -> its artifact URI."""
    settings = settings_for(tmp_path, {"url": f"file://{tmp_path / 'old-artifacts'}"})
    uris = {}
    async with served_gateway(settings, WHO) as (gw, client):
        models = {**FILES, **({"broken": os.urandom(50_000)} if corrupt else {})}
        for model, data in models.items():
            stored = (await client.put(f"/artifacts/platform/{model}/model.bin", content=data)).json()
            version = ModelVersion(
                "platform", model, "0", artifact_uri=stored["uri"], artifact_digest=stored["digest"]
            )
            await gw.register_version("platform", RegistrationRequest(model, version, "setup"))
            uris[model] = stored["uri"]
    if corrupt:
        damage(Path(urlsplit(uris["broken"]).path))
    return uris


def damage(path: Path) -> None:
    """Bit rot on the old disk: the first byte changes."""
    path.write_bytes(b"X" + path.read_bytes()[1:])


def read(path: Path) -> bytes:
    return path.read_bytes()


async def artifact_uri(settings: Settings, model: str) -> str | None:
    gw = await Gateway.open(settings)
    try:
        await gw.sync.sync_all(full=True)
        version = await gw.index.get_version(f"mg://platform/{model}/1")
        assert version is not None
        return version.artifact_uri
    finally:
        await gw.aclose()


async def test_migrates_local_files_into_s3_and_a_rerun_changes_nothing(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    old = await local_versions(tmp_path)
    settings = settings_for(tmp_path, s3_artifacts)

    dry = io.StringIO()
    assert await migrate(settings, origin=None, to=None, dry_run=True, out=dry) == 0
    assert "2 versions to copy" in dry.getvalue() and "would copy" in dry.getvalue()
    assert s3_objects(s3, bucket) == {}, "a dry run copies nothing"

    out = io.StringIO()
    assert await migrate(settings, origin=None, to=None, dry_run=False, out=out) == 0, out.getvalue()
    assert "2 versions migrated" in out.getvalue() and "0 not migrated" in out.getvalue()

    objects = s3_objects(s3, bucket)
    for model, data in FILES.items():
        uri = await artifact_uri(settings, model)
        assert uri is not None and uri.startswith(f"s3://{bucket}/store/platform/{model}/"), uri
        key = uri[len(f"s3://{bucket}/") :]
        assert key in objects
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert sha256(body) == sha256(data) and key.split("/")[-2] == sha256(data)[7:]
        assert read(Path(urlsplit(old[model]).path)) == data, "the source stays"
    assert not [k for k in objects if k.startswith("store/.uploads/")], "no staging object left"

    gw = await Gateway.open(settings)
    try:
        events = [
            e async for e in audit.iter_events(gw.database, audit.AuditFilter(action="artifact.migrated"))
        ]
    finally:
        await gw.aclose()
    assert sorted(e.subject or "" for e in events) == ["mg://platform/churn/1", "mg://platform/fraud/1"]

    rerun = io.StringIO()
    assert await migrate(settings, origin=None, to=None, dry_run=False, out=rerun) == 0
    assert "0 versions to copy" in rerun.getvalue() and "2 there already" in rerun.getvalue()
    assert "0 versions migrated" in rerun.getvalue()
    after = s3_objects(s3, bucket)
    assert {k: (o["ETag"], o["LastModified"]) for k, o in after.items()} == {
        k: (o["ETag"], o["LastModified"]) for k, o in objects.items()
    }, "a rerun writes nothing"


async def test_a_corrupted_source_is_reported_and_not_migrated(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    old = await local_versions(tmp_path, corrupt=True)
    settings = settings_for(tmp_path, s3_artifacts)
    out = io.StringIO()
    assert await migrate(settings, origin=None, to=None, dry_run=False, out=out) == 1
    text = out.getvalue()
    assert "mg://platform/broken/1: NOT MIGRATED" in text and "is corrupt" in text, text
    assert "2 versions migrated" in text and "1 not migrated" in text
    assert await artifact_uri(settings, "broken") == old["broken"], "its record still names the source"
    assert not [k for k in s3_objects(s3, bucket) if "/broken/" in k or "/.uploads/" in k]
    assert (await artifact_uri(settings, "fraud") or "").startswith("s3://")


async def test_a_copy_found_in_the_store_is_verified_and_reused(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    """A run that copied a file but stopped before rewriting the record: the next
    run finds the copy, verifies it and only rewrites the record."""
    await local_versions(tmp_path)
    data = FILES["fraud"]
    s3.put_object(Bucket=bucket, Key=f"store/platform/fraud/{sha256(data)[7:]}/model.bin", Body=data)
    out = io.StringIO()
    assert (
        await migrate(settings_for(tmp_path, s3_artifacts), origin=None, to=None, dry_run=False, out=out) == 0
    )
    assert "1 already copied by an earlier run" in out.getvalue(), out.getvalue()


@pytest.mark.parametrize("option", ["--to", "--from"])
def test_store_urls_on_the_command_line_are_checked(tmp_path: Path, option: str) -> None:
    from gateway.cli import main

    config = tmp_path / "modelgate.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/mg.db"\n[[registries]]\nid = "p"\nkind = "native"\n'
    )
    assert main(["artifacts", "migrate", "--config", str(config), option, "ftp://nope"]) == 2


async def test_migrates_from_another_bucket(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    """``--from s3://old-bucket/prefix``: versions whose files lie in another
    bucket (same endpoint and credentials) move into the configured one."""
    old_bucket = f"old-{bucket}"
    s3.create_bucket(Bucket=old_bucket)
    old_settings = settings_for(tmp_path, {**s3_artifacts, "url": f"s3://{old_bucket}/models"})
    async with served_gateway(old_settings, WHO) as (gw, client):
        stored = (await client.put("/artifacts/platform/fraud/model.bin", content=FILES["fraud"])).json()
        version = ModelVersion(
            "platform", "fraud", "0", artifact_uri=stored["uri"], artifact_digest=stored["digest"]
        )
        await gw.register_version("platform", RegistrationRequest("fraud", version, "setup"))
    assert stored["uri"].startswith(f"s3://{old_bucket}/models/")

    settings = settings_for(tmp_path, s3_artifacts)
    out = io.StringIO()
    origin = f"s3://{old_bucket}/models"
    assert await migrate(settings, origin=origin, to=None, dry_run=False, out=out) == 0, out.getvalue()
    uri = await artifact_uri(settings, "fraud")
    assert uri == f"s3://{bucket}/store/platform/fraud/{sha256(FILES['fraud'])[7:]}/model.bin"
    body = s3.get_object(Bucket=bucket, Key=uri[len(f"s3://{bucket}/") :])["Body"].read()
    assert body == FILES["fraud"]
    assert s3_objects(s3, old_bucket), "the source bucket keeps its copy"


def test_the_command_line_lists_and_copies(
    tmp_path: Path, s3: Any, bucket: str, s3_artifacts: dict[str, Any], capsys: Any
) -> None:
    import asyncio

    from gateway.cli import main

    asyncio.run(local_versions(tmp_path))
    config = tmp_path / "modelgate.toml"
    lines = ["[storage]", f'url = "sqlite:///{tmp_path}/modelgate.db"', "[artifacts]"]
    lines += [f'{k} = "{v}"' for k, v in s3_artifacts.items()]
    lines += ["[[registries]]", 'id = "platform"', 'kind = "native"', 'team = "platform"']
    config.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["artifacts", "migrate", "--config", str(config), "--dry-run"]) == 0
    assert "dry run: 2 versions would be copied, nothing changed" in capsys.readouterr().out
    assert main(["artifacts", "migrate", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "[1/2] mg://platform/churn/1: s3://" in out and "2 versions migrated" in out, out
