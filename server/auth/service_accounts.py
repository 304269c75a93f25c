"""Per-tenant service accounts: the actor recorded when no person is signed in.

A QR repair request, an inbound e-mail or an SLA escalation still needs an author in the
order history. Each gets an inactive user (no password, cannot sign in) per tenant and
kind, created on first use, so history rows keep a real foreign key and say where an
action came from.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.auth.models import User
from server.auth.principal import Principal
from server.db import system_scope
from server.tenants.models import Tenant
from workflow.lifecycle import Role

# kind -> display name; the role is agent (office) so lifecycle checks treat them as staff.
KINDS = {
    "portal": "Customer portal",
    "email": "Inbound e-mail",
    "sla": "SLA scheduler",
    "rules": "Routing rules",
}


# ".invalid" is reserved (RFC 2606): no person can hold such an address, so the suffix
# alone tells service accounts apart without a column of their own.
SERVICE_EMAIL_SUFFIX = ".service.invalid"


def service_email(tenant: Tenant, kind: str) -> str:
    """The reserved, undeliverable address of a tenant's service account."""
    return f"{kind}@{tenant.slug}{SERVICE_EMAIL_SUFFIX}"


def is_service_email(email: str) -> bool:
    """Whether an address is in the range reserved for service accounts."""
    return email.strip().lower().endswith(SERVICE_EMAIL_SUFFIX)


def service_principal(*, db_session: Session, tenant_id: uuid.UUID, kind: str) -> Principal:
    """The principal of the tenant's ``kind`` service account (created on first use)."""
    if kind not in KINDS:
        raise ValueError(f"unknown service account kind {kind!r}")
    with system_scope(db_session):
        tenant = db_session.get(Tenant, tenant_id)
        if tenant is None:
            raise ValueError(f"unknown tenant {tenant_id}")
        email = service_email(tenant, kind)
        user_id = db_session.scalar(select(User.id).where(User.email == email))
        if user_id is None:
            user = User(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                email=email,
                name=KINDS[kind],
                role=Role.AGENT.value,
                password_hash=None,
                is_active=False,
            )
            try:
                with db_session.begin_nested():
                    db_session.add(user)
                user_id = user.id
            except IntegrityError:  # a concurrent request created it first
                user_id = db_session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return Principal(user_id=user_id, tenant_id=tenant_id, role=Role.AGENT)
