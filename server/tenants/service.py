"""Tenant settings use cases."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from server.db import system_scope
from server.http import get_or_404
from server.tenants.models import Tenant


def get_tenant(*, db_session: Session, tenant_id: uuid.UUID) -> Tenant:
    """The caller's tenant (tenants are not tenant-scoped rows themselves)."""
    with system_scope(db_session):
        return get_or_404(Tenant, tenant_id)


def tenant_zone(session: Session, tenant_id: uuid.UUID) -> ZoneInfo:
    """The tenant's IANA zone for calendars and local days (UTC when unset or unknown)."""
    with system_scope(session):
        tenant = session.get(Tenant, tenant_id)
    try:
        return ZoneInfo(tenant.timezone if tenant else "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def update_tenant(*, db_session: Session, tenant_id: uuid.UUID, data: dict[str, Any]) -> Tenant:
    """Change name or time zone."""
    with system_scope(db_session):
        tenant = get_or_404(Tenant, tenant_id)
        for key, value in data.items():
            setattr(tenant, key, value)
        db_session.commit()
    return tenant
