"""A Kubeflow Model Registry REST server for tests, faithful to the published spec.

The real server is Go over MySQL/PostgreSQL and cannot be built here. This fake
serves the spec's resources (``model-registry.yaml`` beside this file, from
kubeflow/hub) from memory: registered models, model versions, artifacts of
every type, serving environments and InferenceServices, with the server's
paging (``pageSize`` / ``nextPageToken`` / ``orderBy`` / ``sortOrder``), a
subset of ``filterQuery`` (``filters.py``), find-by-name endpoints, and PATCH
that replaces ``customProperties`` whole, as the server's reconciler does.

**Every request and every response is validated against the spec with
openapi-core.** A violation is recorded in ``violations`` and answered 500, and
the test fixture fails at teardown. Both API generations are served: the
published spec names only ``/api/model_registry/v1alpha3``, and ``/v1`` (what
the ``model-registry`` client calls) has the same paths under it, so requests
to ``/v1`` are validated as their ``v1alpha3`` twins. ``generations`` narrows
what the fake serves, to play an older server.

Test-only switches: ``tokens`` (accepted bearer tokens), ``forbidden_tokens``
(answered 403), ``fail_next`` (inject statuses).
"""

from __future__ import annotations

from tests.fakes.kubeflow.app import SPEC_FILE, FakeKubeflow, RecordedRequest
from tests.fakes.kubeflow.store import RegistryStore

__all__ = ["SPEC_FILE", "FakeKubeflow", "RecordedRequest", "RegistryStore"]
