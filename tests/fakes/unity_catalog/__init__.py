"""A Unity Catalog server for tests (its model registry, catalogs and schemas),
faithful to the published OpenAPI file.

The real server is Java (Armeria + Hibernate) and cannot run here. This fake
serves, from memory, what modelgate and the clients use: catalogs, schemas,
registered models and model versions, with the OSS server's paging, ordering,
version numbering, registration status and error bodies (``store.py`` names the
server code it follows).

**Every request and every 200 response is validated against ``all.yaml``**
(unitycatalog/unitycatalog's ``api/all.yaml``, commit in SOURCE.md) with
openapi-core. A violation is recorded in ``violations`` and the test fixture
fails at teardown. The spec declares no error responses, so error bodies (the
server's ``{"error_code", "message", "details"}``) are not spec-checked.

``flavor="databricks"`` plays Databricks' managed Unity Catalog instead: the
spec gains Databricks' alias additions (``databricks.yaml``, from Databricks'
REST reference) and the store keeps aliases. That mode is documented, not
published as an OpenAPI file by Databricks.

Test-only switches: ``tokens`` (accepted bearer tokens; empty: no auth, like an
OSS server without authorization), ``forbidden_tokens`` (403), ``fail_next``.
"""

from __future__ import annotations

from tests.fakes.unity_catalog.app import FakeUnityCatalog, RecordedRequest
from tests.fakes.unity_catalog.store import UnityCatalogStore

__all__ = ["FakeUnityCatalog", "RecordedRequest", "UnityCatalogStore"]
