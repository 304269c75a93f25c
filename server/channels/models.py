"""Inbound messages: every e-mail and web-form request received, and what became of it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, UUIDPk, utcnow

INBOUND_CHANNELS = ("email", "web")
# created: became a new order; threaded: added to an order as a customer comment;
# unmatched: waits in the inbox for an agent; converted/dismissed: the agent's decision.
INBOUND_STATUSES = ("created", "threaded", "unmatched", "converted", "dismissed")


class InboundMessage(UUIDPk, TenantScoped, Base):
    """One received message; its e-mail Message-ID makes redelivery idempotent and lets
    replies thread onto the order it created."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        # NULL for web-form requests (no Message-ID); both databases allow many NULLs.
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_inbound_messages_tenant_status", "tenant_id", "status", "received_at"),
    )

    channel: Mapped[str] = mapped_column(String(8))
    message_id: Mapped[str | None] = mapped_column(String(255))
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    references: Mapped[list[Any]] = mapped_column(default=list)
    from_address: Mapped[str | None] = mapped_column(String(254))
    from_name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    # Why an unmatched message could not become an order (unknown_sender, ...).
    reason: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    # Checked at commit: the message is written in the same transaction as the order it
    # creates, and the work-order service flushes (and numbers) the order itself.
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL", deferrable=True, initially="DEFERRED"),
        index=True,
    )
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
