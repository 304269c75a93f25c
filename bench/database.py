"""The one way benchmarks get a fresh PostGIS database (they drop it first)."""

from __future__ import annotations

from sqlalchemy import text

from server.cli import upgrade_database
from server.db import make_engine


def database_name(url: str) -> str:
    """The database part of a URL, refusing anything that is not obviously a bench copy."""
    if not url.startswith("postgresql"):
        raise SystemExit("BENCH_DATABASE_URL must be PostgreSQL (benchmarks need PostGIS).")
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    return name


def fresh_postgis(url: str) -> None:
    """Drop and recreate the bench database, enable PostGIS, migrate to head."""
    name = database_name(url)
    base = url.rsplit("/", 1)[0]
    admin = make_engine(f"{base}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    upgrade_database(url)
