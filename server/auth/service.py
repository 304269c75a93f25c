"""Sign-in, token rotation, sign-out, Firebase exchange, and user administration."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.auth.models import RefreshToken, User
from server.auth.security import (
    hash_password,
    hash_refresh_secret,
    issue_access_token,
    new_refresh_secret,
    verify_password,
)
from server.auth.service_accounts import is_service_email
from server.db import system_scope, utcnow
from server.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from workflow.lifecycle import Role


def _token_pair(
    db_session: Session, user: User, family_id: uuid.UUID | None = None
) -> dict[str, Any]:
    access, ttl = issue_access_token(user_id=user.id, tenant_id=user.tenant_id, role=user.role)
    refresh, digest = new_refresh_secret()
    now = utcnow()
    db_session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=digest,
            family_id=family_id or uuid.uuid4(),
            issued_at=now,
            expires_at=now + dt.timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL_SECONDS"]),
        )
    )
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "user": user,
    }


def login(*, db_session: Session, email: str, password: str) -> dict[str, Any]:
    """Exchange email + password for an access/refresh token pair."""
    with system_scope(db_session):
        user = db_session.scalar(select(User).where(User.email == email.strip().lower()))
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok or not user.is_active:
            raise Unauthorized("Email or password is wrong.", code="invalid_credentials")
        user.last_login_at = utcnow()
        pair = _token_pair(db_session, user)
        db_session.commit()
    return pair


def refresh(*, db_session: Session, refresh_token: str) -> dict[str, Any]:
    """Rotate a refresh token; replaying a used one revokes its whole family."""
    with system_scope(db_session):
        row = db_session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == hash_refresh_secret(refresh_token)
            )
        )
        now = utcnow()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise Unauthorized(
                "The refresh token is invalid or expired.", code="invalid_refresh_token"
            )
        if row.used_at is not None:
            # Someone holds a copy of an old token: assume theft, end every session of it.
            _revoke_family(db_session, row.family_id, now)
            db_session.commit()
            raise Unauthorized("The refresh token was already used.", code="refresh_token_reused")
        user = db_session.get(User, row.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("The account is disabled.", code="invalid_refresh_token")
        row.used_at = now
        pair = _token_pair(db_session, user, row.family_id)
        db_session.commit()
    return pair


def _revoke_family(db_session: Session, family_id: uuid.UUID, now: dt.datetime) -> None:
    db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def logout(*, db_session: Session, refresh_token: str) -> None:
    """Revoke the session (token family) a refresh token belongs to; idempotent."""
    with system_scope(db_session):
        row = db_session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == hash_refresh_secret(refresh_token)
            )
        )
        if row is not None:
            _revoke_family(db_session, row.family_id, utcnow())
            db_session.commit()


Verifier = Callable[[str], dict[str, Any]]


def _firebase_verifier() -> Verifier:
    verifier: Verifier | None = current_app.extensions.get("firebase_verifier")
    if verifier is not None:
        return verifier
    import firebase_admin
    from firebase_admin import auth as fb_auth

    if not firebase_admin._apps:
        options = {"projectId": current_app.config["FIREBASE_PROJECT_ID"]}
        firebase_admin.initialize_app(options=options)

    def verify(token: str) -> dict[str, Any]:
        return dict(fb_auth.verify_id_token(token, check_revoked=False))

    return verify


def firebase_login(*, db_session: Session, id_token: str) -> dict[str, Any]:
    """Exchange a verified Firebase ID token for our tokens (user mapped by uid or email)."""
    if not current_app.config["FIREBASE_AUTH_ENABLED"]:
        raise Forbidden("Firebase sign-in is not enabled on this server.", code="firebase_disabled")
    try:
        claims = _firebase_verifier()(id_token)
    except Exception as exc:  # the SDK raises several unrelated types for bad tokens
        raise Unauthorized(
            "The Firebase ID token is invalid.", code="invalid_firebase_token"
        ) from exc
    uid = claims.get("uid") or claims.get("sub")
    with system_scope(db_session):
        user = db_session.scalar(select(User).where(User.firebase_uid == uid)) if uid else None
        email = (claims.get("email") or "").lower()
        if user is None and email and claims.get("email_verified"):
            user = db_session.scalar(select(User).where(User.email == email))
            if user is not None and user.firebase_uid is None:
                user.firebase_uid = uid
        if user is None or not user.is_active:
            raise Unauthorized(
                "No active account is linked to this Firebase user.", code="firebase_user_unknown"
            )
        pair = _token_pair(db_session, user)
        db_session.commit()
    return pair


def create_user(*, db_session: Session, data: dict[str, Any]) -> User:
    """Create a user in the caller's tenant."""
    email = data["email"].strip().lower()
    if is_service_email(email):
        raise ValidationFailed(
            "Addresses ending in .service.invalid are reserved for service accounts.",
            code="reserved_email",
        )
    with system_scope(db_session):
        if db_session.scalar(select(User.id).where(User.email == email)) is not None:
            raise Conflict("A user with this email exists.", code="email_taken")
    user = User(
        email=email,
        name=data["name"],
        role=Role(data["role"]).value,
        password_hash=hash_password(data["password"]),
        is_active=data.get("is_active", True),
    )
    db_session.add(user)
    db_session.commit()
    return user


def update_user(
    *, db_session: Session, user: User, data: dict[str, Any], actor_id: uuid.UUID
) -> User:
    """Change name, role, activity or password; admins cannot lock themselves out."""
    if is_service_email(user.email):
        # A service account with a password or an active flag could sign in as "SLA
        # scheduler"; they are the system's, not an administrator's, to change.
        raise Conflict("Service accounts cannot be changed.", code="service_account")
    if user.id == actor_id and (
        data.get("is_active") is False or data.get("role", "admin") != "admin"
    ):
        raise ValidationFailed("You cannot demote or deactivate yourself.", code="self_lockout")
    for key in ("name", "role", "is_active"):
        if key in data:
            setattr(user, key, data[key])
    if "password" in data:
        user.password_hash = hash_password(data["password"])
    db_session.commit()
    return user
