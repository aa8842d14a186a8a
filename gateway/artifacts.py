"""The gateway's artifact store (``PUT /artifacts/...``, for registries that
store artifacts through modelgate: the native ones): a local directory,
content-addressed.

Files land under ``<root>/<registry>/<model>/<sha256>/<filename>``; writing to a
temporary file and renaming means a crash never leaves a half-written artifact
at a final path.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import BadInput

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$")


@dataclass(frozen=True)
class StoredArtifact:
    uri: str
    digest: str  # "sha256:<hex>"
    size: int


class LocalArtifactStore:
    def __init__(self, root: Path):
        self.root = root.resolve()

    async def save(
        self,
        registry_id: str,
        model_name: str,
        filename: str,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int,
    ) -> StoredArtifact:
        for what, value in (("model", model_name), ("filename", filename)):
            if not SAFE_NAME.match(value):
                raise BadInput(f"{what} {value!r} may use only letters, digits, '.', '_' and '-'")
        folder = self.root / registry_id / model_name
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise BadInput(f"artifact larger than the limit of {max_bytes} bytes")
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            final_dir = folder / digest.hexdigest()
            final_dir.mkdir(exist_ok=True)
            final = final_dir / filename
            await asyncio.to_thread(os.replace, tmp_name, final)
        except BaseException:
            await asyncio.to_thread(Path(tmp_name).unlink, missing_ok=True)
            raise
        return StoredArtifact(final.as_uri(), f"sha256:{digest.hexdigest()}", size)
