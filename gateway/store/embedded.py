"""The store API lent to registries that live in the gateway's own database.

The native registry keeps its models in tables the gateway's migrations create
(``native_models``, ``native_versions``, ``native_version_files``,
``native_changes``) and writes in the
same transaction as the gateway's audit events, so it cannot be an adapter that
knows nothing of the store. This module is the one door it goes through: the
import-linter contracts (``pyproject.toml``) let ``adapters.native`` import
this and nothing else of ``gateway.store`` or ``gateway.codec``, so the native
adapter stays as replaceable as any other and the rest of the store stays
private to the gateway.
"""

from __future__ import annotations

from gateway.codec import version_from_dict, version_to_dict
from gateway.store.database import Database, ReadConnection
from gateway.store.sql import insert_ignore
from gateway.store.tables import native_changes, native_models, native_version_files, native_versions

__all__ = [
    "Database",
    "ReadConnection",
    "insert_ignore",
    "native_changes",
    "native_models",
    "native_version_files",
    "native_versions",
    "version_from_dict",
    "version_to_dict",
]
