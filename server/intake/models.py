"""Tables of the intake domain: equipment QR codes and public repair requests."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, UUIDPk, utcnow


class EquipmentQrCode(UUIDPk, TenantScoped, Base):
    """The QR token of one unit: one row per unit, so at most one token is ever valid.

    Regenerating replaces the token (the old one stops resolving at once); revoking stamps
    revoked_at. The token is kept in clear so label sheets can be printed again; it is a
    capability for filing a repair request, not a credential to anything else.
    """

    __tablename__ = "equipment_qr_codes"

    equipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("equipment.id", ondelete="CASCADE"), unique=True
    )
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]

    @property
    def active(self) -> bool:
        """Whether scanning the code opens the repair page."""
        return self.revoked_at is None


class IntakeRequest(UUIDPk, TenantScoped, Base):
    """A work order filed from a public page: its tracking token and duplicate fingerprint."""

    __tablename__ = "intake_requests"
    __table_args__ = (
        # The duplicate guard looks up "same unit, same text, recently".
        Index("ix_intake_requests_dedup", "equipment_id", "fingerprint", "created_at"),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    equipment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("equipment.id", ondelete="SET NULL")
    )
    # Unguessable capability of the tracking page (no login).
    tracking_token: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the normalised description.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # "qr" (page) or "api" (the JSON twin); the order's channel is qr either way.
    source: Mapped[str] = mapped_column(String(8), default="qr")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
