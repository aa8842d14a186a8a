"""The governance fixtures (a gateway over two native registries with the test policies)."""

from tests.governance.conftest import gov

__all__ = ["gov"]
