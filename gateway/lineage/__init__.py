"""Cross-registry lineage: a graph kept beside the catalogue index, reference
resolution, bounded walks, impact analysis and OpenLineage export.

Modules: ``uris`` (dataset normalisation, registry references), ``graph``
(vocabulary), ``store`` (SQL), ``harvest`` (the index listener), ``walk``
(walks and impact), ``remote`` (registries' own lineage at query time),
``openlineage`` (export), ``visibility`` (redaction), ``service`` (the facade
the API, HTTP export and CLI use). Its HTTP export lives in
``gateway.endpoints.lineage``, its commands in ``gateway.cli.lineage``.

Importing this package imports nothing else (adapters import ``graph`` early).
"""
