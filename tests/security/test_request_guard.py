"""``gateway.http_guard`` on a real server (``modelgate serve``, auth.mode "none"):
state-changing routes take JSON only, and Host and Origin must be the gateway's own,
so neither a form on another site or port nor a DNS-rebound page can act as the
local operator. Uploads and webhooks keep their own bodies; the dashboard's own
requests still pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import modelgate_serve

REGISTER = """mutation { registerModelVersion(input: {registry: "platform", model: "fraud",
  artifactUri: "s3://models/fraud/model.bin"}) { uri } }"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("guard")
    with modelgate_serve(workdir, '[server]\nallowed_hosts = ["modelgate.internal"]\n') as url:
        yield url


@pytest.fixture(scope="module")
def version(base: str) -> str:
    response = httpx.post(f"{base}/graphql", json={"query": REGISTER}, timeout=30)
    assert response.status_code == 200, response.text
    uri: str = response.json()["data"]["registerModelVersion"]["uri"]
    return uri


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    (only,) = response.json()["errors"]
    assert only["extensions"]["code"] == code and only["extensions"]["requestId"]
    return dict(only["extensions"])


def deployment(uri: str, endpoint: str = "kserve/fraud") -> dict[str, Any]:
    return {"uri": uri, "endpoint": endpoint, "trafficPercent": 100}


def test_a_form_encoded_deployment_is_refused(base: str, version: str) -> None:
    form = httpx.post(f"{base}/deployments", data={"uri": version, "endpoint": "evil"}, timeout=30)
    error(form, 415, "UNSUPPORTED_MEDIA_TYPE")
    plain = httpx.post(
        f"{base}/deployments",
        content=b'{"uri": "%s", "endpoint": "evil"}' % version.encode(),
        headers={"content-type": "text/plain"},
        timeout=30,
    )
    error(plain, 415, "UNSUPPORTED_MEDIA_TYPE")
    deployments = httpx.post(
        f"{base}/graphql",
        json={"query": f'{{ modelVersion(uri: "{version}") {{ deployments {{ endpoint }} }} }}'},
        timeout=30,
    ).json()["data"]["modelVersion"]["deployments"]
    assert "evil" not in [d["endpoint"] for d in deployments]


def test_json_from_the_gateways_own_origin_is_recorded(base: str, version: str) -> None:
    port = base.rsplit(":", 1)[1]
    for host, origin in ((f"127.0.0.1:{port}", base), (f"localhost:{port}", f"http://localhost:{port}")):
        ok = httpx.post(
            f"{base}/deployments",
            json=deployment(version),
            headers={"host": host, "origin": origin},
            timeout=30,
        )
        assert ok.status_code == 200, ok.text
    named = httpx.get(f"{base}/healthz", headers={"host": "modelgate.internal"}, timeout=30)
    assert named.status_code == 200  # a name in server.allowed_hosts


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "[::2]"])
def test_a_foreign_host_is_refused(base: str, version: str, host: str) -> None:
    """DNS rebinding: the page's own name arrives as Host, whatever it resolved to."""
    for response in (
        httpx.get(f"{base}/graphql?query={{registries{{id}}}}", headers={"host": host}, timeout=30),
        httpx.post(f"{base}/deployments", json=deployment(version), headers={"host": host}, timeout=30),
        httpx.get(f"{base}/", headers={"host": host}, timeout=30),
    ):
        assert error(response, 403, "FORBIDDEN")["header"] == "host"


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:3000", "http://evil.example", "null", "https://127.0.0.1:{port}", "http://127.0.0.1"],
)
def test_a_cross_origin_request_is_refused(base: str, version: str, origin: str) -> None:
    """A page on another site, another local port or another scheme is another origin."""
    origin = origin.format(port=base.rsplit(":", 1)[1])
    for response in (
        httpx.post(f"{base}/deployments", json=deployment(version), headers={"origin": origin}, timeout=30),
        httpx.post(f"{base}/graphql", json={"query": REGISTER}, headers={"origin": origin}, timeout=30),
    ):
        assert error(response, 403, "FORBIDDEN")["header"] == "origin"


def test_uploads_and_webhooks_keep_their_own_bodies(base: str) -> None:
    upload = httpx.put(
        f"{base}/artifacts/platform/fraud/model.bin",
        content=b"\x00weights",
        headers={"content-type": "application/octet-stream"},
        timeout=30,
    )
    assert upload.status_code in (200, 201), upload.text
    foreign = httpx.put(
        f"{base}/artifacts/platform/fraud/model.bin",
        content=b"\x00weights",
        headers={"host": "evil.example"},
        timeout=30,
    )
    assert error(foreign, 403, "FORBIDDEN")["header"] == "host"
    # Signed: its own media type, and any Host (a registry may know the gateway by any name).
    hook = httpx.post(
        f"{base}/hooks/native/platform", content=b"x=1", headers={"host": "mg.example"}, timeout=30
    )
    assert hook.status_code not in (403, 415), hook.text
