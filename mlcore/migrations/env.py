"""Alembic's entry point for the run store: migrates the connection mlcore.store hands it
(config.attributes["connection"]), or, for `alembic revision --autogenerate` run by a
developer, the URL in the config's sqlalchemy.url."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mlcore.store_schema import metadata


def _migrate(connection) -> None:
    """Run the pending migrations on `connection`, batch mode so SQLite can alter tables."""
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _migrate(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as own:
        _migrate(own)
    engine.dispose()
