"""Password hashing (Argon2id) and signed access tokens (JWT, HS256)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from server.db import utcnow

ISSUER = "fieldservice"


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["PASSWORD_HASH_TIME_COST"], memory_cost=cfg["PASSWORD_HASH_MEMORY_KIB"]
    )


def hash_password(password: str) -> str:
    """Argon2id hash with the configured cost."""
    return _hasher().hash(password)


# Verifying against this keeps login time constant when the email is unknown.
_DUMMY_HASH: dict[tuple[int, int], str] = {}


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; spends the same effort for unknown users."""
    hasher = _hasher()
    if password_hash is None:
        key = (hasher.time_cost, hasher.memory_cost)
        if key not in _DUMMY_HASH:
            _DUMMY_HASH[key] = hasher.hash(secrets.token_hex(16))
        password_hash = _DUMMY_HASH[key]
        try:
            hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_access_token(*, user_id: uuid.UUID, tenant_id: uuid.UUID, role: str) -> tuple[str, int]:
    """A short-lived bearer token; returns (token, lifetime seconds)."""
    ttl = int(current_app.config["ACCESS_TOKEN_TTL_SECONDS"])
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "tid": str(tenant_id),
        "role": role,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(seconds=ttl)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256"), ttl


def decode_access_token(token: str) -> dict[str, Any] | None:
    """Claims of a valid, unexpired access token, else None."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            current_app.config["SECRET_KEY"],
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "tid", "role"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    return claims


def new_refresh_secret() -> tuple[str, str]:
    """A random refresh token and the SHA-256 hex we store instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_secret(token)


def hash_refresh_secret(token: str) -> str:
    """SHA-256 of a refresh token (high-entropy, so no slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
