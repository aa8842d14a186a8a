"""A sha256 an upload declares up front, from either standard header:

- ``Content-Digest: sha-256=:<base64>:`` (RFC 9530; a structured-field
  dictionary, other algorithms in it are ignored);
- ``x-amz-checksum-sha256: <base64>`` (S3's, as boto3 and the AWS CLI send it).

Both name the sha256 of the bytes sent. Given both, they must agree.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from gateway.errors import BadInput

CONTENT_DIGEST = "content-digest"
AMZ_CHECKSUM = "x-amz-checksum-sha256"


def _sha256_of(text: str, header: str) -> str:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise BadInput(f"{header}: the sha-256 value must be the base64 of 32 bytes", field=header)
    return raw.hex()


def _from_content_digest(value: str) -> str | None:
    found: str | None = None
    for member in value.split(","):
        key, sep, item = member.strip().partition("=")
        if not sep:
            raise BadInput(
                f"{CONTENT_DIGEST}: {member.strip()!r} is not <algorithm>=:<base64>:", field=CONTENT_DIGEST
            )
        if key.strip().lower() != "sha-256":
            continue  # another algorithm: not checked here (RFC 9530 lets a receiver ignore it)
        item = item.split(";", 1)[0].strip()  # parameters, if any, say nothing of the bytes
        if len(item) < 2 or not (item.startswith(":") and item.endswith(":")):
            raise BadInput(
                f"{CONTENT_DIGEST}: sha-256 must be a byte sequence, :<base64>:", field=CONTENT_DIGEST
            )
        found = _sha256_of(item[1:-1], CONTENT_DIGEST)
    return found


def declared_sha256(headers: Mapping[str, str]) -> str | None:
    """The hex sha256 the request declares, or None; ``BadInput`` naming the header
    when one is malformed or the two disagree."""
    content_digest = headers.get(CONTENT_DIGEST)
    amz = headers.get(AMZ_CHECKSUM)
    from_rfc = _from_content_digest(content_digest) if content_digest else None
    from_amz = _sha256_of(amz, AMZ_CHECKSUM) if amz else None
    if from_rfc and from_amz and from_rfc != from_amz:
        raise BadInput(
            f"{CONTENT_DIGEST} and {AMZ_CHECKSUM} declare different sha256 values", field=AMZ_CHECKSUM
        )
    return from_rfc or from_amz
