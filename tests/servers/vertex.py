"""Session fixtures for the vertex registry tests (filled in with the vertex adapter)."""
