"""Device tokens (where to push) and the notification outbox (what to push, after commit)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, UUIDPk, utcnow

PLATFORMS = ("android", "ios", "web")
KIND_SYNC_TICKLE = "sync_tickle"
KIND_ASSIGNMENT = "assignment"
KINDS = (KIND_SYNC_TICKLE, KIND_ASSIGNMENT)
# FCM registration tokens are ~160 characters; the cap keeps the unique index cheap.
TOKEN_MAX_LENGTH = 512


class DeviceToken(UUIDPk, TenantScoped, Base):
    """An FCM registration token of one app install, owned by the user signed in on it."""

    __tablename__ = "device_tokens"
    __table_args__ = (Index("ix_device_tokens_user_active", "user_id", "revoked_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Globally unique: a token names one app install, whoever is signed in on it now.
    token: Mapped[str] = mapped_column(String(TOKEN_MAX_LENGTH), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    app_version: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(128))
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set when FCM reports the token unregistered or invalid; a new PUT re-activates it.
    revoked_at: Mapped[dt.datetime | None]


class NotificationOutbox(TenantScoped, Base):
    """A push to deliver to every active device of a user, written in the causing transaction.

    Pending rows have ``sent_at`` NULL and a ``next_attempt_at``; rows the worker gave up
    on keep ``last_error`` and have ``next_attempt_at`` NULL.
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (
        Index(
            "ix_notification_outbox_due",
            "next_attempt_at",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
        ),
        Index("ix_notification_outbox_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    collapse_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
