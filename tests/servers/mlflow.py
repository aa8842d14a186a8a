"""Session fixtures for the mlflow registry tests (filled in with the mlflow adapter)."""
