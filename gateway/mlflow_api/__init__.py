"""MLflow's Model Registry REST API 2.0 over the federated catalogue.

Plain Python, no HTTP: ``names`` (MLflow model names and stages), ``filters``
(MLflow's search filter grammar), ``views`` (the JSON MLflow's client reads),
``service`` (the reads and the governed writes). ``gateway.endpoints.mlflow``
serves them under ``/mlflow``.
"""
