"""A W&B GraphQL server for tests, answering exactly the documents the ``wandb``
SDK (0.31) sends for the Registry (and the ones modelgate sends, which are the
same). W&B publishes no schema; ``schema.graphql`` is written from the SDK's
own documents, and every incoming document is parsed and validated against it
with graphql-core, so a field the SDK (or the adapter) starts to ask for that
the fake does not know fails the test.

What is faithful: org entity / registry projects (``wandb-registry-<name>``) /
collections (``ArtifactPortfolio``) / memberships ``v<N>`` with aliases unique
per collection (``latest`` and ``v<N>`` automatic), source artifacts in team
projects logged by runs (``config``, ``summaryMetrics``, input artifacts),
Relay paging, ``addAliases`` / ``deleteAliases`` / ``updateArtifact`` (tags),
HTTP Basic ``api:<key>``, protected aliases answering 403 to non-admins.
Not faithful: filters beyond names, ordering, file storage and manifests.
"""

from __future__ import annotations

from tests.fakes.wandb.app import SCHEMA_FILE, FakeWandb, RecordedRequest
from tests.fakes.wandb.store import FakeStore, GraphQLFailure

__all__ = ["SCHEMA_FILE", "FakeStore", "FakeWandb", "GraphQLFailure", "RecordedRequest"]
