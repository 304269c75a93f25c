"""Alembic: upgrade, downgrade to nothing, upgrade again, and no model/migration drift."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from server.alembic_support import include_object
from server.cli import alembic_config
from server.db import make_engine
from server.models import metadata
from tests.conftest import DATABASE_URL, IS_POSTGRES


@pytest.fixture()
def scratch_url() -> Iterator[str]:
    """A separate empty database so the main test database is never downgraded."""
    if not IS_POSTGRES:
        yield f"sqlite:///{tempfile.mkdtemp(prefix='fsm-mig-')}/mig.sqlite3"
        return
    base, _, name = DATABASE_URL.rpartition("/")
    scratch = f"{name}_migrations"
    admin = make_engine(f"{base}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}"'))
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    url = f"{base}/{scratch}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
    admin.dispose()


def app_tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) & set(metadata.tables)
    finally:
        engine.dispose()


def drift(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"include_object": include_object, "compare_type": True}
            )
            return list(compare_metadata(ctx, metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_without_drift(scratch_url: str) -> None:
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "head")
    assert app_tables(scratch_url) == set(metadata.tables)
    assert drift(scratch_url) == []
    command.downgrade(cfg, "base")
    assert app_tables(scratch_url) == set()
    command.upgrade(cfg, "head")
    assert app_tables(scratch_url) == set(metadata.tables)
    assert drift(scratch_url) == []
