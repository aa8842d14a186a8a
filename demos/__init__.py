"""The registries ``modelgate demo`` starts and fills beside the native sample data:
a Git/GTO repository, a SageMaker Model Registry served by moto, and (with
``--with-mlflow``) a local MLflow server. Each speaks its registry's own client or
wire format, which is why they live here and not in ``gateway`` (the federation
core knows no registry kind)."""
