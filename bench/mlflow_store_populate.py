"""Populate an MLflow server's SQLite backend through MLflow's own store API,
before the server starts: the same models, runs and versions as
``sync_vs_listing.populate`` writes over REST, without an HTTP round trip and a
server worker per entity (5,000 models x 2 versions take minutes, not the half
hour the REST API takes on a shared 2-core machine).

Used by ``bench/sync_vs_listing.py --populate-via store``.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path


def populate_store(workdir: Path, models: int, per_model: int) -> None:
    """Write into ``workdir/mlflow.db`` (created and migrated by the store itself),
    with artifacts under ``workdir/artifacts`` as ``start_mlflow_server`` serves them."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    workdir.mkdir(parents=True, exist_ok=True)
    db_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    tracking = TrackingStore(db_uri, str(workdir / "artifacts"))
    registry = RegistryStore(db_uri)
    for engine in {tracking.engine, registry.engine}:
        _unsynced(engine)
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    experiment = tracking.create_experiment(prefix)
    started = time.perf_counter()
    for i in range(models):
        name = f"{prefix}-{i:05d}"
        registry.create_registered_model(name, tags=[_model_tag("bench", "1")])
        for v in range(per_model):  # in order: MLflow numbers a model's versions 1, 2, ...
            run = tracking.create_run(experiment, "bench", 0, [RunTag("mlflow.user", "bench")], None)
            run_id = run.info.run_id
            tracking.log_batch(
                run_id,
                metrics=[Metric("auc", 0.8, 0, 0)],
                params=[Param("max_depth", str((i + v) % 10))],
                tags=[],
            )
            dataset = Dataset(
                name="train",
                digest=f"{i:08x}{v:02x}",
                source_type="s3",
                source=f'{{"uri": "s3://bench/{name}/{v}/train.parquet"}}',
            )
            tracking.log_inputs(
                run_id, datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])]
            )
            registry.create_model_version(name, f"s3://bench/{name}/{v}", run_id=run_id)
        if (i + 1) % 500 == 0:
            print(f"  populated {i + 1}/{models} models ({time.perf_counter() - started:.0f} s)", flush=True)


def _unsynced(engine: object) -> None:
    """No fsync per commit: a bench's throw-away data, and the store commits each entity."""
    from sqlalchemy import event

    def pragmas(connection: object, _record: object) -> None:
        cursor = connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # type: ignore[attr-defined]  # connections opened before now lack it


def _model_tag(key: str, value: str) -> object:
    from mlflow.entities.model_registry import RegisteredModelTag

    return RegisteredModelTag(key, value)
