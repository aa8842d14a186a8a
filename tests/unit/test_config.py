"""Configuration: the shipped file loads; every mistake names the file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.base import load_factories
from gateway.config import ConfigError, RegistrySettings, load_settings, resolve_secret, settings_from_mapping
from gateway.runtime import validate_settings

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "modelgate.toml"
    path.write_text(text)
    return path


def test_shipped_config_is_valid() -> None:
    settings = load_settings(REPO / "config" / "modelgate.toml", environ={})
    validate_settings(settings)
    assert settings.storage.url.startswith("sqlite:///")
    assert settings.cache.url == "memory://"
    assert [r.kind for r in settings.registries] == ["native", "native"]


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[server]\nprot = 8080\n", "server.prot", "unknown key"),
        ('[server]\nport = "8080"\n', "server.port", "expected an integer"),
        ("[serevr]\nport = 1\n", "serevr", "unknown section"),
        ('[auth]\nmode = "ldap"\n', "auth.mode", "must be one of"),
        ('[cache]\nurl = "memcached://x"\n', "cache.url", "memory:// or redis://"),
        ('[storage]\nurl = "mysql://x/y"\n', "storage.url", "sqlite:/// or postgresql://"),
        ('[[registries]]\nkind = "native"\n', "registries[0].id", "is required"),
        ('[[registries]]\nid = "Bad_Id"\nkind = "native"\n', "registries[0].id", "[a-z0-9-]+"),
        (
            '[[registries]]\nid = "a"\nkind = "native"\n[[registries]]\nid = "a"\nkind = "native"\n',
            "registries[1].id",
            "duplicate",
        ),
        (
            '[[registries]]\nid = "a"\nkind = "native"\nsync_interval_seconds = 0\n',
            "registries[0].sync_interval_seconds",
            "greater than 0",
        ),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(path) in str(caught.value)


def test_unknown_registry_kind_is_named(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[[registries]]\nid = "x"\nkind = "mlfow"\n'), environ={})
    with pytest.raises(ConfigError, match=r"registries\[0\]\.kind: unknown registry kind 'mlfow'"):
        validate_settings(settings)


def test_adapter_options_are_checked(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, '[[registries]]\nid = "x"\nkind = "native"\nflavour = "vanilla"\n'), environ={}
    )
    with pytest.raises(ConfigError, match=r"registries\[0\]\.flavour: unknown key"):
        validate_settings(settings)


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ('[[registries]]\nid = "x"\nkind = "mlfow"\n', "registries[0].kind", "did you mean 'mlflow'?"),
        (
            '[[registries]]\nid = "x"\nkind = "native"\nteem = "a"\n',
            "registries[0].teem",
            "did you mean 'team'?",
        ),
        (
            '[[registries]]\nid = "x"\nkind = "mlflow"\nurl = "http://127.0.0.1:1"\nstagign_aliases = []\n',
            "registries[0].stagign_aliases",
            "did you mean 'staging_aliases'?",
        ),
        ("[storag]\nurl = 'x'\n", "storag", "did you mean 'storage'?"),
        ("[server]\nprot = 8080\n", "server.prot", "did you mean 'port'?"),
    ],
)
def test_typos_get_a_suggestion(tmp_path: Path, text: str, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_settings(load_settings(write(tmp_path, text), environ={}))
    assert caught.value.key == key
    assert hint in caught.value.problem


def test_unknown_registry_key_lists_every_known_key(tmp_path: Path) -> None:
    """A native registry takes no options of its own, but the keys every registry
    has are still listed (they were missing: "known keys: " and nothing)."""
    settings = load_settings(
        write(tmp_path, '[[registries]]\nid = "x"\nkind = "native"\nzzz = 1\n'), environ={}
    )
    with pytest.raises(ConfigError) as caught:
        validate_settings(settings)
    assert "did you mean" not in caught.value.problem
    listed = caught.value.problem.split("known keys: ", 1)[1].rstrip(")").split(", ")
    assert {"id", "kind", "team", "sync_interval_seconds", "restricted"} <= set(listed)


@pytest.mark.parametrize("kind", sorted(load_factories()))
def test_every_kind_reads_its_options_one_way(kind: str) -> None:
    """Every adapter parses its options with ``registry_options``: an unknown key is
    named, and the keys every registry has are listed beside the kind's own (the
    kubeflow adapter once parsed its own way and listed only its own keys)."""
    registry = RegistrySettings(id="x", kind=kind, options={"zzz": 1}, key="registries[0]")
    with pytest.raises(ConfigError) as caught:
        load_factories()[kind].validate(registry)
    assert caught.value.key == "registries[0].zzz"
    listed = caught.value.problem.split("known keys: ", 1)[1].rstrip(")").split(", ")
    assert {"id", "kind", "team", "sync_interval_seconds", "restricted"} <= set(listed)


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML") as caught:
        load_settings(path)
    assert caught.value.file == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.toml")


def test_environment_overrides(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, "[server]\nport = 1\n"),
        environ={"MODELGATE_SERVER_PORT": "9999", "MODELGATE_STORAGE_URL": "postgresql://db/x"},
    )
    assert settings.server.port == 9999
    assert settings.storage.url == "postgresql://db/x"


def test_environment_override_with_bad_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MODELGATE_SERVER_PORT: expected an integer"):
        load_settings(write(tmp_path, ""), environ={"MODELGATE_SERVER_PORT": "eighty"})


def test_defaults_are_the_embedded_setup() -> None:
    settings = settings_from_mapping({}, environ={})
    assert settings.storage.url == "sqlite:///./data/modelgate.db"
    assert settings.cache.url == "memory://"
    assert settings.auth.mode == "none"


def test_secrets_come_from_env_or_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n")
    assert resolve_secret({"token_env": "TOK"}, "token", "registries[0]", {"TOK": "from-env"}) == "from-env"
    assert resolve_secret({"token_file": str(secret_file)}, "token", "registries[0]", {}) == "from-file"
    assert resolve_secret({}, "token", "registries[0]", {}) is None
    with pytest.raises(ConfigError, match=r"registries\[0\]\.token: secrets are never inline"):
        resolve_secret({"token": "hunter2"}, "token", "registries[0]", {})
    with pytest.raises(ConfigError, match="TOK is not set"):
        resolve_secret({"token_env": "TOK"}, "token", "registries[0]", {})
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_secret({"token_file": str(tmp_path / "missing")}, "token", "registries[0]", {})


@pytest.mark.parametrize(
    ("registry", "key"),
    [
        ({"kind": "mlflow", "url": "http://ml:hunter2@127.0.0.1:5000"}, "registries[0].url"),
        (
            {"kind": "mlflow", "url": "http://m", "ui_url": "https://u:hunter2@ml.acme"},
            "registries[0].ui_url",
        ),
        ({"kind": "wandb", "url": "https://hunter2@api.wandb.ai"}, "registries[0].url"),  # a token as user
        ({"kind": "kubeflow", "url": "http://k:hunter2@mr:8080"}, "registries[0].url"),
        ({"kind": "unity_catalog", "url": "http://u:hunter2@uc:8080"}, "registries[0].url"),
        ({"kind": "huggingface", "endpoint": "https://x:hunter2@hf.acme"}, "registries[0].endpoint"),
        ({"kind": "azureml", "endpoint": "https://a:hunter2@arm.acme"}, "registries[0].endpoint"),
        ({"kind": "vertex", "token_url": "https://v:hunter2@oauth.acme/token"}, "registries[0].token_url"),
        (
            {"kind": "sagemaker", "endpoint_url": "http://s:hunter2@localhost:4566"},
            "registries[0].endpoint_url",
        ),
        ({"kind": "gto", "repo": "ssh://git:hunter2@git.acme/m.git"}, "registries[0].repo"),
        ({"kind": "plugin", "servers": [{"at": "https://p:hunter2@h"}]}, "registries[0].servers[0].at"),
    ],
)
def test_credentials_in_a_registry_url_are_a_config_error(registry: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({"registries": [{"id": "r", **registry}]}, environ={})
    assert raised.value.key == key and "never sit in the URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_a_login_name_without_a_secret_is_no_credential() -> None:
    registries = [
        {"id": "a", "kind": "gto", "repo": "ssh://git@git.acme/m.git"},
        {"id": "b", "kind": "gto", "repo": "git@git.acme:m.git"},
        {"id": "c", "kind": "plugin", "store": "abfss://container@acct.dfs.core.windows.net/m"},
    ]
    assert len(settings_from_mapping({"registries": registries}, environ={}).registries) == 3


def test_a_url_with_a_password_stops_serve_with_exit_2(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[[registries]]\nid = "ml"\nkind = "mlflow"\nurl = "http://u:hunter2@127.0.0.1:5000"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}: registries[0].url: credentials never sit in the URL" in result.stderr
    assert "hunter2" not in result.stderr


def test_serve_with_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = "eighty"\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{path}: server.port: expected an integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_unauthenticated_remote_listening(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhost = "0.0.0.0"\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "server.host" in result.stderr and "allow_unauthenticated_remote" in result.stderr
