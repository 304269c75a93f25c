"""Declarative base, portable column types, engine/session factory and tenant scoping.

Tenant isolation is enforced here, not in views: every ORM SELECT/UPDATE/DELETE issued
through a session carries ``tenant_id = <current tenant>`` for every tenant-scoped
entity it touches, and a session with no tenant refuses to query tenant data unless it
was opened explicitly in system mode (login, seeding, migrations).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from typing import Any

from geoalchemy2.admin.dialects.sqlite import init_spatialite
from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, Uuid, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    scoped_session,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every dialect (SQLite has no tz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store UTC-aware values only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Root of every model; naming convention keeps Alembic diffs stable across dialects."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dt.datetime: UTCDateTime,
        uuid.UUID: Uuid,
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


class UUIDPk:
    """Client- or server-generated UUID primary key."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    """Creation and last-change times."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantScoped:
    """Marks a model whose rows belong to one tenant; scoping is automatic."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class TenantScopeMissing(RuntimeError):
    """A tenant-scoped query ran in a session that has neither a tenant nor system mode."""


class CrossTenantWrite(RuntimeError):
    """A flush tried to write a row that belongs to another tenant."""


TENANT_KEY = "tenant_id"
SYSTEM_KEY = "system"


def set_tenant(session: Session, tenant_id: uuid.UUID) -> None:
    """Bind a session to one tenant: every later query is filtered to it."""
    session.info[TENANT_KEY] = tenant_id
    session.info.pop(SYSTEM_KEY, None)


@contextlib.contextmanager
def system_scope(session: Session) -> Iterator[Session]:
    """Temporarily lift tenant scoping (login lookups, seeding). Use sparingly."""
    previous = session.info.get(SYSTEM_KEY)
    session.info[SYSTEM_KEY] = True
    try:
        yield session
    finally:
        if previous is None:
            session.info.pop(SYSTEM_KEY, None)
        else:
            session.info[SYSTEM_KEY] = previous


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    for mapper in state.all_mappers:
        if issubclass(mapper.class_, TenantScoped):
            return True
    return False


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load:
        return  # criteria already propagated from the parent statement
    if state.session.info.get(SYSTEM_KEY) or state.execution_options.get("skip_tenant_scope"):
        return
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None:
        if _touches_tenant_data(state):
            raise TenantScopeMissing("query on tenant data outside a tenant or system scope")
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, flush_context: Any, instances: Any) -> None:
    tenant_id = session.info.get(TENANT_KEY)
    system = session.info.get(SYSTEM_KEY)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        current = obj.tenant_id
        if current is None:
            if tenant_id is None:
                raise TenantScopeMissing(f"{type(obj).__name__} written without a tenant")
            obj.tenant_id = tenant_id
        elif tenant_id is not None and current != tenant_id and not system:
            raise CrossTenantWrite(f"{type(obj).__name__} belongs to another tenant")


def _sqlite_module() -> Any:
    import sqlean

    return sqlean


def make_engine(url: str, *, spatialite_path: str = "mod_spatialite", echo: bool = False) -> Engine:
    """Create an engine for PostgreSQL/PostGIS or SQLite/SpatiaLite with the right hooks."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            os.makedirs(os.path.dirname(os.path.abspath(url[len("sqlite:///") :])), exist_ok=True)
        engine = create_engine(
            url,
            module=_sqlite_module(),
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, record: Any) -> None:
            # Take transaction control away from the driver so SAVEPOINTs and BEGIN
            # behave as on PostgreSQL (SQLAlchemy's documented pysqlite recipe).
            dbapi_conn.isolation_level = None
            dbapi_conn.enable_load_extension(True)
            dbapi_conn.load_extension(spatialite_path)
            dbapi_conn.enable_load_extension(False)
            init_spatialite(dbapi_conn, init_mode="WGS84", transaction=True)
            dbapi_conn.execute("PRAGMA foreign_keys = ON")
            dbapi_conn.execute("PRAGMA busy_timeout = 30000")
            if ":memory:" not in url:
                dbapi_conn.execute("PRAGMA journal_mode = WAL")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, so a read-then-write transaction
            # waits (busy_timeout) for another writer instead of failing to upgrade its
            # read lock with "database is locked". SQLite has one writer at a time anyway.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


class Database:
    """Owns the engine and the request-scoped session; tests can rebind the factory."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.factory: sessionmaker[Session] = sessionmaker(expire_on_commit=False)
        self.session = scoped_session(self.factory)

    def init(
        self, url: str, *, spatialite_path: str = "mod_spatialite", echo: bool = False
    ) -> None:
        """Create the engine and bind the session factory to it."""
        self.engine = make_engine(url, spatialite_path=spatialite_path, echo=echo)
        self.factory.configure(bind=self.engine)

    def bind_connection(self, connection: Any) -> None:
        """Run every session inside an outer transaction (tests): commits become savepoints."""
        self.session.remove()
        self.factory.configure(bind=connection, join_transaction_mode="create_savepoint")

    def unbind_connection(self) -> None:
        """Undo ``bind_connection``."""
        self.session.remove()
        self.factory.configure(bind=self.engine, join_transaction_mode="conservative_savepoint")

    @property
    def dialect(self) -> str:
        """'postgresql' or 'sqlite'."""
        assert self.engine is not None
        return self.engine.dialect.name


db = Database()
