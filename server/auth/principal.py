"""Who is calling: the authenticated principal of the current request, and role checks."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import g, request

from server.auth.security import decode_access_token
from server.db import db, set_tenant
from server.errors import Forbidden, Unauthorized
from workflow.lifecycle import Role

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the token describes them."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    technician_id: uuid.UUID | None = None

    @property
    def is_technician(self) -> bool:
        """Technicians see only their own work."""
        return self.role is Role.TECHNICIAN


def current() -> Principal:
    """The principal of this request; raises 401 when the request is anonymous."""
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise Unauthorized("Authentication required.", code="unauthorized")
    return principal


def authenticate_request() -> None:
    """Read the bearer token (if any), bind the DB session to its tenant."""
    g.principal = None
    header = request.headers.get("Authorization", "")
    if not header:
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Use 'Authorization: Bearer <token>'.", code="invalid_token")
    claims = decode_access_token(token.strip())
    if claims is None:
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token")
    try:
        role = Role(claims["role"])
        user_id = uuid.UUID(claims["sub"])
        tenant_id = uuid.UUID(claims["tid"])
    except (ValueError, KeyError) as exc:
        raise Unauthorized("The access token is malformed.", code="invalid_token") from exc
    set_tenant(db.session(), tenant_id)
    technician_id = None
    # Deactivation must bite before the token expires; one indexed lookup per request.
    from server.auth.models import User
    from server.technicians.models import Technician

    user = db.session.get(User, user_id)
    if user is None or not user.is_active or user.role != role.value:
        raise Unauthorized(
            "The account is disabled or changed; sign in again.", code="invalid_token"
        )
    if role is Role.TECHNICIAN:
        technician_id = db.session.scalar(
            Technician.__table__.select()
            .with_only_columns(Technician.id)
            .where(Technician.user_id == user_id, Technician.tenant_id == tenant_id)
        )
    g.principal = Principal(user_id, tenant_id, role, technician_id)


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Allow only these roles; anonymous callers get 401, others 403."""
    allowed = frozenset(roles)

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current()
            if principal.role not in allowed:
                raise Forbidden(
                    f"Role '{principal.role.value}' may not do this.", code="role_forbidden"
                )
            return func(*args, **kwargs)

        wrapper._roles = sorted(r.value for r in allowed)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


ALL_ROLES = tuple(Role)
OFFICE_ROLES = (Role.ADMIN, Role.DISPATCHER, Role.AGENT)
PLANNER_ROLES = (Role.ADMIN, Role.DISPATCHER)
ADMIN_ONLY = (Role.ADMIN,)
