"""Rate limits of the public intake routes, on Flask-Limiter's configured storage.

Flask-Limiter owns the storage (RATELIMIT_STORAGE_URI: memory:// in the embedded mode,
redis:// when several processes serve) and the strategy; it has no default or application
limits, so the rest of the API is never throttled. The public routes call ``enforce``
explicitly instead of decorating endpoints, because one bucket per QR token must be shared
by the repair page and its JSON twin, and the limits are read from the config on every
request (tests and operators change them without re-registering routes).
"""

from __future__ import annotations

import math
import time

import limits
from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from server.errors import DomainError

EXTENSION = "intake_limiter"


class RateLimited(DomainError):
    """Too many requests for one token or client address; retry after ``retry_after`` s."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


def build_limiter(app: Flask) -> Limiter:
    """A Flask-Limiter on the app's storage settings, with no limits of its own."""
    # default_limits and application_limits stay empty: only routes calling enforce() count.
    return Limiter(get_remote_address, app=app, default_limits=[], application_limits=[])


def init_app(app: Flask) -> None:
    """Create the app's limiter (called from ``register_extensions``)."""
    app.extensions[EXTENSION] = build_limiter(app)


def client_address() -> str:
    """The caller's address (behind a proxy, configure ProxyFix so this is the client)."""
    return get_remote_address() or "unknown"


def enforce(setting: str, scope: str, key: str) -> None:
    """Count one hit against the limit named by config ``setting``; 429 past it."""
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None or not limiter.enabled:
        return
    item = limits.parse(current_app.config[setting])
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or "fsm"
    strategy = limiter.limiter
    identifiers = (prefix, "intake", scope, key)
    if strategy.hit(item, *identifiers):
        return
    stats = strategy.get_window_stats(item, *identifiers)
    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
    raise RateLimited(
        f"Too many requests; try again in {retry_after} seconds.", retry_after=retry_after
    )


def enforce_views() -> None:
    """The loose per-address limit of page views and status polling."""
    enforce("INTAKE_VIEW_LIMIT_PER_ADDRESS", "view-addr", client_address())


def enforce_writes(token: str) -> None:
    """The per-address and per-token limits of submissions and tracking actions."""
    enforce("INTAKE_SUBMIT_LIMIT_PER_ADDRESS", "write-addr", client_address())
    enforce("INTAKE_SUBMIT_LIMIT_PER_TOKEN", "write-token", token)
