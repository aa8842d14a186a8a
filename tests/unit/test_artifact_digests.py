"""``gateway.artifacts.digests``: the sha256 an upload declares in its headers."""

from __future__ import annotations

import base64
import hashlib

import pytest

from gateway.artifacts.digests import AMZ_CHECKSUM, CONTENT_DIGEST, declared_sha256
from gateway.errors import BadInput

DATA = b"model bytes"
HEX = hashlib.sha256(DATA).hexdigest()
B64 = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
OTHER = base64.b64encode(hashlib.sha256(b"other").digest()).decode()


def test_no_header_declares_nothing() -> None:
    assert declared_sha256({}) is None


def test_rfc_9530_content_digest_ignores_other_algorithms_and_parameters() -> None:
    assert declared_sha256({CONTENT_DIGEST: f"sha-256=:{B64}:"}) == HEX
    value = f"sha-512=:{OTHER}:, SHA-256=:{B64}:;p=1"
    assert declared_sha256({CONTENT_DIGEST: value}) == HEX
    assert declared_sha256({CONTENT_DIGEST: f"sha-512=:{OTHER}:"}) is None


def test_amz_checksum_and_both_agreeing() -> None:
    assert declared_sha256({AMZ_CHECKSUM: B64}) == HEX
    assert declared_sha256({AMZ_CHECKSUM: B64, CONTENT_DIGEST: f"sha-256=:{B64}:"}) == HEX


def test_both_disagreeing_is_refused() -> None:
    with pytest.raises(BadInput) as caught:
        declared_sha256({AMZ_CHECKSUM: OTHER, CONTENT_DIGEST: f"sha-256=:{B64}:"})
    assert caught.value.code == "BAD_USER_INPUT"
    assert "different sha256" in caught.value.message


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({CONTENT_DIGEST: "sha-256"}, CONTENT_DIGEST),  # no algorithm=value
        ({CONTENT_DIGEST: f"sha-256={B64}"}, CONTENT_DIGEST),  # not a :byte sequence:
        ({CONTENT_DIGEST: "sha-256=:bm90IDMyIGJ5dGVz:"}, CONTENT_DIGEST),  # not 32 bytes
        ({AMZ_CHECKSUM: "not base64!"}, AMZ_CHECKSUM),
        ({AMZ_CHECKSUM: HEX}, AMZ_CHECKSUM),  # hex is not base64 of 32 bytes
    ],
)
def test_malformed_values_name_their_header(headers: dict[str, str], named: str) -> None:
    with pytest.raises(BadInput) as caught:
        declared_sha256(headers)
    assert caught.value.code == "BAD_USER_INPUT"
    assert caught.value.message.startswith(named)
