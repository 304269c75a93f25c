"""Test fixtures: one migrated database per run, one rolled-back transaction per test.

DATABASE_URL picks the engine: SQLite+SpatiaLite by default, PostgreSQL+PostGIS when it
points there. The same suite runs on both.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from server import create_app
from server.cli import upgrade_database
from server.db import db, make_engine

_TMP = tempfile.mkdtemp(prefix="fsm-test-")
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{_TMP}/test.sqlite3"
IS_POSTGRES = DATABASE_URL.startswith("postgresql")


class UnsafeTestDatabase(RuntimeError):
    """The suite was pointed at a database it must not wipe."""


def reset_database(url: str) -> None:
    """Start from an empty database (PostGIS is re-created in an empty public schema)."""
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        # The reset drops every table: refuse anything not obviously a test database.
        if "test" not in name and not name.startswith(("fsm_ci_", "fsm_")):
            raise UnsafeTestDatabase(
                f"refusing to wipe database {name!r}: test databases must have 'test' in "
                "their name (or start with 'fsm_ci_' / 'fsm_')"
            )
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()
    else:
        path = url[len("sqlite:///") :]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Skip PostGIS-only tests on SQLite."""
    if IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL + PostGIS (set DATABASE_URL)")
    for item in items:
        if "postgis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url() -> str:
    """The URL of the migrated test database."""
    return DATABASE_URL


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    """The app on a freshly migrated database."""
    reset_database(database_url)
    upgrade_database(database_url)
    application = create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url})
    yield application
    assert db.engine is not None
    db.engine.dispose()


@pytest.fixture()
def connection(app: Flask) -> Iterator[Any]:
    """An outer transaction rolled back after the test; service commits become savepoints."""
    assert db.engine is not None
    with db.engine.connect() as conn:
        trans = conn.begin()
        db.bind_connection(conn)
        try:
            yield conn
        finally:
            db.unbind_connection()
            if trans.is_active:
                trans.rollback()


@pytest.fixture()
def session(app: Flask, connection: Any) -> Iterator[Any]:
    """A system-mode session inside the test transaction, for arranging data."""
    from sqlalchemy.orm import Session

    # Separate from the request-scoped session (which is removed after every request),
    # so arranged objects stay attached; expire-on-commit shows what requests wrote.
    with app.app_context():
        s = Session(bind=connection, join_transaction_mode="rollback_only")
        s.info["system"] = True
        yield s
        s.close()


@pytest.fixture()
def client(app: Flask, connection: Any) -> FlaskClient:
    """A test client sharing the test transaction."""
    return app.test_client()


@pytest.fixture()
def world(app: Flask, session: Any, client: FlaskClient) -> Any:
    """Two tenants: A with one user per role (technician linked), B with an admin."""
    from types import SimpleNamespace

    from tests import factories as f

    a = f.make_tenant(session, name="Tenant A")
    b = f.make_tenant(session, name="Tenant B")
    users = {
        role: f.make_user(session, a, role)
        for role in ("admin", "dispatcher", "agent", "technician")
    }
    other_tech_user = f.make_user(session, a, "technician")
    tech = f.make_technician(session, a, users["technician"], name="Li Wei")
    other_tech = f.make_technician(session, a, other_tech_user, name="Zhang Min")
    b_admin = f.make_user(session, b, "admin")
    session.commit()
    api = f.Api(client, app)
    return SimpleNamespace(
        a=a,
        b=b,
        users=users,
        tech=tech,
        other_tech=other_tech,
        other_tech_user=other_tech_user,
        b_admin=b_admin,
        api=api,
        admin=api.as_(users["admin"]),
        dispatcher=api.as_(users["dispatcher"]),
        agent=api.as_(users["agent"]),
        technician=api.as_(users["technician"]),
        other_technician=api.as_(other_tech_user),
        b_api=api.as_(b_admin),
    )
