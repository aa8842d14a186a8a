"""The pieces of ``adapters.toolkit`` that several kinds' options and error bodies
share, on their own: registry URLs from the config, the ``{"error": {...}}``
envelope, key files, and inline secrets refused before parsing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adapters.toolkit.auth import read_credential_file
from adapters.toolkit.http import error_object, registry_url
from gateway.config import ConfigError, RegistrySettings, registry_options


@dataclass
class Options:
    token_env: str | None = None


def test_a_registry_url_loses_its_trailing_slash() -> None:
    assert registry_url("https://ml.example.com/api/", "r.url") == "https://ml.example.com/api"


@pytest.mark.parametrize(
    ("url", "options", "problem"),
    [
        ("ftp://example.com", {}, "expected an http(s) URL, got 'ftp://example.com'"),
        ("https://", {"expected": "the Hub's URL"}, "expected the Hub's URL, got 'https://'"),
        ("http://ml.example.com", {"https_off_loopback": True}, "must use https"),
        ("https://ml.example.com/?x=1", {"bare": True}, "must not carry a query or fragment"),
    ],
)
def test_a_wrong_registry_url_names_its_key(url: str, options: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        registry_url(url, "registries[0].url", **options)  # type: ignore[arg-type]
    assert caught.value.key == "registries[0].url" and problem in caught.value.problem


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost/x", "https://ml.example.com/?x=1"]
)
def test_what_a_registry_url_allows_unless_asked(url: str) -> None:
    assert registry_url(url, "k", https_off_loopback=True) == url.rstrip("/")


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b'{"error": {"code": "NotFound", "message": "gone"}}', {"code": "NotFound", "message": "gone"}),
        (b'{"error": "flat"}', None),
        (b"<html>502</html>", None),
        (b"[1]", None),
    ],
)
def test_the_error_envelope(content: bytes, found: dict[str, str] | None) -> None:
    response = httpx.Response(404, content=content, request=httpx.Request("GET", "https://x/y"))
    assert error_object(response) == found


def test_an_unreadable_key_file_names_its_key(tmp_path: Path) -> None:
    (tmp_path / "key.json").write_text("{}", encoding="utf-8")
    assert read_credential_file(str(tmp_path / "key.json"), "k") == "{}"
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.json: No such file") as caught:
        read_credential_file(str(tmp_path / "missing.json"), "registries[0].credentials_file")
    assert caught.value.key == "registries[0].credentials_file"


def test_inline_secrets_are_refused_before_the_unknown_key() -> None:
    """Without ``secrets`` an inline token is just an unknown key; with it, the
    error says what to write instead."""
    registry = RegistrySettings(id="x", kind="k", options={"token": "s3cret"}, key="registries[0]")
    with pytest.raises(ConfigError, match="unknown key"):
        registry_options(Options, registry)
    with pytest.raises(ConfigError) as caught:
        registry_options(Options, registry, secrets=["token"])
    assert caught.value.key == "registries[0].token"
    assert caught.value.problem == "secrets are never inline: use token_env or token_file"
    assert "s3cret" not in str(caught.value)
