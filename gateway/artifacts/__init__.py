"""Native registries' artifacts in object storage (``[artifacts]``): see
``gateway.artifacts.store`` for the layout and ``gateway.artifacts.backends``
for the stores and the choice of library."""

from gateway.artifacts.backends import Backend, open_backend
from gateway.artifacts.store import ArtifactStore, StoredArtifact, TooLarge

__all__ = ["ArtifactStore", "Backend", "StoredArtifact", "TooLarge", "open_backend"]
