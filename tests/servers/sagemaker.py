"""Session fixtures for the sagemaker registry tests (filled in with the sagemaker adapter)."""
