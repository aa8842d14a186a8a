"""Alembic environment: always runs on the connection modelgate hands it."""

from alembic import context

from gateway.store.migrate import is_managed
from gateway.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=is_managed,
)
with context.begin_transaction():
    context.run_migrations()
