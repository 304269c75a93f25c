"""Alembic environment: same engine factory as the app, GeoAlchemy2-aware autogenerate."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

from server.alembic_support import include_object, render_item
from server.config import load
from server.db import make_engine
from server.models import metadata

config = context.config


def _url() -> str:
    return str(config.attributes.get("database_url") or load()["DATABASE_URL"])


def run_migrations_offline() -> None:
    """Emit SQL without a connection."""
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a live database (or a connection handed in by tests/CLI)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), spatialite_path=load()["SPATIALITE_LIBRARY_PATH"])
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=render_item,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
