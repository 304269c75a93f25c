"""Tables of the routing domain (and, imported here, of the inbound channels)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

# server/models.py imports this module for Alembic's metadata; the channels package's
# table rides along from here.
from server.channels.models import InboundMessage
from server.db import Base, TenantScoped, Timestamps, UUIDPk

__all__ = ["InboundMessage", "RoutingRule"]


class RoutingRule(UUIDPk, TenantScoped, Timestamps, Base):
    """One entry of the tenant's ordered rule list: all conditions hold -> actions apply.

    ``conditions`` is ``[{"field", "op", "value"}]`` and ``actions`` is
    ``[{"action", "value"}]``; both are validated by workflow.routing_rules when saved.
    """

    __tablename__ = "routing_rules"
    __table_args__ = (Index("ix_routing_rules_tenant_position", "tenant_id", "position"),)

    name: Mapped[str] = mapped_column(String(120))
    # 1..n without gaps within a tenant; rules run in this order.
    position: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[list[Any]] = mapped_column(default=list)
    actions: Mapped[list[Any]] = mapped_column(default=list)
