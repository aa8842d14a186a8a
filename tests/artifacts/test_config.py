"""``[artifacts]``: which store a URL names, where credentials come from, and
the errors that name their key. GCS is checked here only (no emulator runs in
the tests); S3 and the directory store are exercised end to end in test_upload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from obstore.store import AzureStore, GCSStore, LocalStore, S3Store

from gateway.artifacts import open_backend
from gateway.config import ConfigError, settings_from_mapping


def load(environ: dict[str, str] | None = None, **sections: object) -> object:
    return settings_from_mapping(sections, environ=environ or {})


def test_default_and_artifacts_dir_are_file_stores(tmp_path: Path) -> None:
    assert load().artifacts.url == "file://./data/artifacts"  # type: ignore[attr-defined]
    settings = load(storage={"artifacts_dir": str(tmp_path / "a")})
    assert settings.artifacts.url == f"file://{tmp_path / 'a'}"  # type: ignore[attr-defined]
    backend = open_backend(settings.artifacts)  # type: ignore[attr-defined]
    assert isinstance(backend.store, LocalStore) and not backend.signs
    assert backend.uri("m/x") == (tmp_path / "a" / "m" / "x").as_uri()


def test_artifacts_url_and_artifacts_dir_are_one_or_the_other() -> None:
    with pytest.raises(ConfigError) as error:
        load(storage={"artifacts_dir": "./a"}, artifacts={"url": "s3://b"})
    assert error.value.key == "artifacts.url" and "artifacts_dir" in str(error.value)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"url": "ftp://host/x"}, "artifacts.url"),
        ({"url": "s3://"}, "artifacts.url"),
        ({"url": "s3://AKIA:secret@bucket/x"}, "artifacts.url"),
        ({"url": "s3://b", "endpoint": "minio:9000"}, "artifacts.endpoint"),
        ({"url": "s3://b", "presigned_seconds": -1}, "artifacts.presigned_seconds"),
        ({"url": "s3://b", "max_artifact_bytes": 0}, "artifacts.max_artifact_bytes"),
        ({"url": "s3://b", "secret_access_key": "inline"}, "artifacts.secret_access_key"),
        ({"url": "s3://b", "access_key_id_env": "UNSET_VAR"}, "artifacts.access_key_id_env"),
        ({"url": "s3://b", "account_key_env": "K", "account_key_file": "f"}, "artifacts.account_key_file"),
    ],
)
def test_errors_name_their_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(artifacts=section)
    assert error.value.key == key
    assert "AKIA" not in str(error.value) and "inline" not in str(error.value)


def test_s3_with_endpoint_prefix_and_env_credentials() -> None:
    env = {"KEY_ID": "id", "SECRET": "s3cr3t"}
    settings = load(
        env,
        artifacts={
            "url": "s3://models/team/a/",
            "endpoint": "http://minio:9000",
            "region": "eu-west-1",
            "access_key_id_env": "KEY_ID",
            "secret_access_key_env": "SECRET",
        },
    )
    assert settings.artifacts.credentials(env) == {"access_key_id": "id", "secret_access_key": "s3cr3t"}  # type: ignore[attr-defined]
    backend = open_backend(settings.artifacts, env)  # type: ignore[attr-defined]
    assert isinstance(backend.store, S3Store) and backend.signs
    assert backend.store.config["endpoint"] == "http://minio:9000"
    assert backend.store.config["region"] == "eu-west-1"
    assert backend.store.client_options["allow_http"] in (True, "true")
    assert backend.key("p/m/x") == "team/a/p/m/x"
    assert backend.uri("team/a/p/m/x") == "s3://models/team/a/p/m/x"
    assert backend.key_of("s3://models/team/a/p/m/x") == "team/a/p/m/x"
    assert backend.key_of("s3://models/other/p") is None and backend.key_of("s3://elsewhere/team/a/x") is None


def service_account_key() -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": pem.decode(),
        "client_email": "models@p.iam.gserviceaccount.com",
    }


def test_gcs_unreadable_key_is_a_config_error(tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text('{"type": "service_account"}')
    settings = load(artifacts={"url": "gs://ml-models", "service_account_key_file": str(key_file)})
    with pytest.raises(ConfigError) as error:
        open_backend(settings.artifacts)  # type: ignore[attr-defined]
    assert error.value.key == "artifacts"


def test_gcs_service_account_key_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(service_account_key()))
    settings = load(artifacts={"url": "gs://ml-models/registry", "service_account_key_file": str(key_file)})
    backend = open_backend(settings.artifacts)  # type: ignore[attr-defined]
    assert isinstance(backend.store, GCSStore) and backend.signs
    assert backend.store.config["bucket"] == "ml-models"
    assert "client_email" in backend.store.config["service_account_key"]
    assert backend.uri(backend.key("p/m/h/model.pkl")) == "gs://ml-models/registry/p/m/h/model.pkl"


def test_azure_needs_an_account_and_reads_its_key_from_env() -> None:
    with pytest.raises(ConfigError) as error:
        open_backend(load(artifacts={"url": "az://models"}).artifacts)  # type: ignore[attr-defined]
    assert error.value.key == "artifacts.account_name"
    env = {"AZ_KEY": "a2V5"}
    settings = load(
        env, artifacts={"url": "az://models/p", "account_name": "acct", "account_key_env": "AZ_KEY"}
    )
    backend = open_backend(settings.artifacts, env)  # type: ignore[attr-defined]
    assert isinstance(backend.store, AzureStore)
    assert backend.store.config["account_name"] == "acct" and backend.store.config["account_key"] == "a2V5"
    assert backend.uri(backend.key("x")) == "az://models/p/x"


@pytest.mark.parametrize(
    ("artifacts", "problem"),
    [
        ({"url": "s3://models", "archive_after_days": 30}, "together"),
        ({"url": "s3://models", "archive_storage_class": "GLACIER_IR"}, "together"),
        (
            {"url": "s3://models", "archive_after_days": -1, "archive_storage_class": "GLACIER_IR"},
            "0 or more",
        ),
        (
            {"url": "s3://models", "archive_after_days": 9, "archive_storage_class": "DEEP_ARCHIVE"},
            "GLACIER_IR",
        ),
        ({"url": "az://models", "archive_after_days": 9, "archive_storage_class": "Archive"}, "Cool"),
    ],
)
def test_archive_keys_are_checked(artifacts: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        settings_from_mapping({"artifacts": {"account_name": "acct", **artifacts}})


def test_archive_classes_per_store() -> None:
    for url, storage_class in (("s3://m", "GLACIER_IR"), ("gs://m", "COLDLINE"), ("az://m", "Cold")):
        settings = settings_from_mapping(
            {
                "artifacts": {
                    "url": url,
                    "account_name": "a",
                    "archive_after_days": 1,
                    "archive_storage_class": storage_class,
                }
            }
        )
        assert settings.artifacts.archive_storage_class == storage_class
