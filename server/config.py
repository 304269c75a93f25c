"""Environment-driven configuration classes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class Config:
    """Defaults for every environment; each value can be overridden by an env var."""

    ENV_NAME = "development"
    TESTING = False
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-secret-change-me-0123456789")
    DATABASE_URL = os.environ.get(
        "DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'fieldservice.sqlite3'}"
    )
    SPATIALITE_LIBRARY_PATH = os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    SQL_ECHO = False
    # Requests above this answer 413 before any parsing.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(1 * 1024 * 1024)))
    ACCESS_TOKEN_TTL_SECONDS = int(os.environ.get("ACCESS_TOKEN_TTL_SECONDS", "900"))
    REFRESH_TOKEN_TTL_SECONDS = int(os.environ.get("REFRESH_TOKEN_TTL_SECONDS", str(30 * 86400)))
    # Argon2id parameters (RFC 9106 "second recommended" profile by default).
    PASSWORD_HASH_TIME_COST = 3
    PASSWORD_HASH_MEMORY_KIB = 64 * 1024
    FIREBASE_AUTH_ENABLED = os.environ.get("FIREBASE_AUTH_ENABLED", "0") == "1"
    FIREBASE_PROJECT_ID = os.environ.get("FIREBASE_PROJECT_ID")

    API_TITLE = "Field Service API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist/"
    OPENAPI_REDOC_PATH = "/redoc"
    OPENAPI_REDOC_URL = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
    API_SPEC_OPTIONS: dict[str, Any] = {
        "info": {
            "description": "Field-service management backend: work orders, technicians, "
            "customers, sites and equipment."
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
        "security": [{"bearerAuth": []}],
    }
    # Sync: finished orders stay on devices this long; check-ins within this radius count
    # as on site; change-log entries older than the tombstone window are pruned.
    SYNC_HISTORY_DAYS = int(os.environ.get("SYNC_HISTORY_DAYS", "30"))
    SYNC_GEOFENCE_M = float(os.environ.get("SYNC_GEOFENCE_M", "200"))
    SYNC_TOMBSTONE_DAYS = int(os.environ.get("SYNC_TOMBSTONE_DAYS", "30"))
    # Dispatch: runs execute in a thread ("thread", embedded mode), by `flask dispatch-worker`
    # ("worker", at scale) or inside the request ("inline", tests). Travel times come from
    # OSRM when OSRM_URL is set, else straight-line distance x detour factor / speed.
    DISPATCH_RUNNER = os.environ.get("DISPATCH_RUNNER", "thread")
    DISPATCH_DEFAULT_TIME_LIMIT_S = float(os.environ.get("DISPATCH_DEFAULT_TIME_LIMIT_S", "10"))
    # Solve in a child process so a native solver crash fails the run, not the server.
    DISPATCH_ISOLATE = os.environ.get("DISPATCH_ISOLATE", "1") != "0"
    OSRM_URL = os.environ.get("OSRM_URL") or None
    TRAVEL_SPEED_KMH = float(os.environ.get("TRAVEL_SPEED_KMH", "30"))
    TRAVEL_DETOUR_FACTOR = float(os.environ.get("TRAVEL_DETOUR_FACTOR", "1.3"))
    # Pagination defaults for every list endpoint.
    PAGINATION_MAX_PAGE_SIZE = 200
    # Photos (content-addressed blobs): upload size and decoded-pixel limits, thumbnail
    # edge, and where the bytes live - a local directory (tenant-separated) by default,
    # S3-compatible object storage when a bucket is named (credentials come from the
    # usual AWS_* environment variables / boto3 credential chain).
    BLOB_MAX_BYTES = int(os.environ.get("BLOB_MAX_BYTES", str(15 * 1024 * 1024)))
    BLOB_MAX_PIXELS = int(os.environ.get("BLOB_MAX_PIXELS", str(40_000_000)))
    BLOB_THUMBNAIL_PX = int(os.environ.get("BLOB_THUMBNAIL_PX", "320"))
    BLOB_DIR = os.environ.get("BLOB_DIR", str(ROOT / "instance" / "blobs"))
    BLOB_S3_BUCKET = os.environ.get("BLOB_S3_BUCKET") or None
    BLOB_S3_ENDPOINT_URL = os.environ.get("BLOB_S3_ENDPOINT_URL") or None
    BLOB_S3_REGION = os.environ.get("BLOB_S3_REGION") or None
    BLOB_S3_PREFIX = os.environ.get("BLOB_S3_PREFIX", "")
    # `flask blobs-gc`: a phone uploads the bytes before pushing the row that references
    # them, possibly days later after being offline, so unreferenced blobs are only deleted
    # once they are older than this.
    BLOB_ORPHAN_GRACE_HOURS = int(os.environ.get("BLOB_ORPHAN_GRACE_HOURS", "72"))
    # Push notifications (FCM): with neither credentials key set, a fake sender records
    # messages instead of sending. GOOGLE_APPLICATION_CREDENTIALS is read by google-auth.
    FIREBASE_CREDENTIALS_FILE = os.environ.get("FIREBASE_CREDENTIALS_FILE") or None
    GOOGLE_APPLICATION_CREDENTIALS = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or None
    NOTIFICATIONS_MAX_ATTEMPTS = int(os.environ.get("NOTIFICATIONS_MAX_ATTEMPTS", "8"))
    NOTIFICATIONS_BATCH_SIZE = int(os.environ.get("NOTIFICATIONS_BATCH_SIZE", "100"))
    # `flask outbox-prune`: delivered and given-up outbox rows are kept this long (to see
    # what was sent and why a push failed); pending ones are never pruned.
    OUTBOX_RETENTION_DAYS = int(os.environ.get("OUTBOX_RETENTION_DAYS", "14"))
    # Parts requisitions worth less than this (sum of quantity x unit cost) are approved
    # without a person; the tenants table has no settings column for a per-tenant value yet.
    REQUISITION_AUTO_APPROVE_LIMIT = os.environ.get("REQUISITION_AUTO_APPROVE_LIMIT", "200")
    # SLA scheduler: "thread" runs it inside each web process (embedded default), "worker"
    # leaves it to `flask sla-worker` processes, "off" runs none (tests tick explicitly).
    SLA_SCHEDULER = os.environ.get("SLA_SCHEDULER", "thread")
    SLA_TICK_SECONDS = float(os.environ.get("SLA_TICK_SECONDS", "30"))
    SLA_TICK_LIMIT = int(os.environ.get("SLA_TICK_LIMIT", "100"))
    # Shared secret the mail provider sends in X-Webhook-Secret; unset = inbound e-mail off.
    INBOUND_EMAIL_SECRET = os.environ.get("INBOUND_EMAIL_SECRET") or None
    # Customer intake (QR repair and tracking pages): the origin printed in QR links (else
    # the request's), Flask-Limiter storage (in-process memory:// embedded, redis:// at
    # scale) and limits of the public routes only, upload limits, duplicate window.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL") or None
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_ENABLED = os.environ.get("RATELIMIT_ENABLED", "1") != "0"
    INTAKE_SUBMIT_LIMIT_PER_TOKEN = os.environ.get("INTAKE_SUBMIT_LIMIT_PER_TOKEN", "20/hour")
    INTAKE_SUBMIT_LIMIT_PER_ADDRESS = os.environ.get("INTAKE_SUBMIT_LIMIT_PER_ADDRESS", "30/hour")
    INTAKE_VIEW_LIMIT_PER_ADDRESS = os.environ.get("INTAKE_VIEW_LIMIT_PER_ADDRESS", "300/minute")
    INTAKE_MAX_PHOTOS = int(os.environ.get("INTAKE_MAX_PHOTOS", "3"))
    INTAKE_MAX_PHOTO_BYTES = int(os.environ.get("INTAKE_MAX_PHOTO_BYTES", str(5 * 1024 * 1024)))
    INTAKE_MAX_BODY_BYTES = int(os.environ.get("INTAKE_MAX_BODY_BYTES", str(16 * 1024 * 1024)))
    INTAKE_DUPLICATE_WINDOW_MINUTES = int(os.environ.get("INTAKE_DUPLICATE_WINDOW_MINUTES", "10"))
    INTAKE_POLL_SECONDS = int(os.environ.get("INTAKE_POLL_SECONDS", "5"))


class TestingConfig(Config):
    """Fast hashing and a throwaway database; DATABASE_URL still selects the dialect."""

    ENV_NAME = "testing"
    TESTING = True
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_KIB = 8 * 1024
    # Never write test uploads into the repository's instance/ directory.
    BLOB_DIR = os.environ.get("BLOB_DIR", os.path.join(tempfile.gettempdir(), "fsm-test-blobs"))
    # Runs finish inside the request so tests see the plan in the same transaction.
    DISPATCH_RUNNER = "inline"
    DISPATCH_DEFAULT_TIME_LIMIT_S = 2.0
    DISPATCH_ISOLATE = False
    SLA_SCHEDULER = "off"
    # The suite shares one client address; rate-limit tests lower these per test.
    INTAKE_SUBMIT_LIMIT_PER_TOKEN = "10000/minute"
    INTAKE_SUBMIT_LIMIT_PER_ADDRESS = "10000/minute"
    INTAKE_VIEW_LIMIT_PER_ADDRESS = "10000/minute"


class ProductionConfig(Config):
    """Production refuses insecure defaults at start-up (see ``server.create_app``)."""

    ENV_NAME = "production"


CONFIGS: dict[str, type[Config]] = {
    "development": Config,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load(config: Any = None) -> dict[str, Any]:
    """Resolve a config object, name, or dict (overrides) into a flat settings dict."""
    base: type[Config] = CONFIGS[os.environ.get("FSM_ENV", "development")]
    overrides: dict[str, Any] = {}
    if isinstance(config, str):
        base = CONFIGS[config]
    elif isinstance(config, dict):
        overrides = config
        if "ENV_NAME" in config:
            base = CONFIGS[config["ENV_NAME"]]
    elif config is not None:
        base = config
    settings = {k: getattr(base, k) for k in dir(base) if k.isupper()}
    settings.update(overrides)
    return settings
