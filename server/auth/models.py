"""Users and refresh tokens."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk


class User(UUIDPk, TenantScoped, Timestamps, Base):
    """A person who signs in: admin, dispatcher, agent (service desk) or technician."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email"), UniqueConstraint("firebase_uid"))

    # Globally unique so login needs no tenant picker.
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    firebase_uid: Mapped[str | None] = mapped_column(String(128))
    last_login_at: Mapped[dt.datetime | None]


class RefreshToken(UUIDPk, TenantScoped, Base):
    """A long-lived, single-use token; only its SHA-256 is stored."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Tokens minted by rotation share a family; replaying a used one revokes the family.
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    issued_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
