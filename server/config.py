"""Environment-driven configuration classes."""

from __future__ import annotations

import os
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
    # Pagination defaults for every list endpoint.
    PAGINATION_MAX_PAGE_SIZE = 200


class TestingConfig(Config):
    """Fast hashing and a throwaway database; DATABASE_URL still selects the dialect."""

    ENV_NAME = "testing"
    TESTING = True
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_KIB = 8 * 1024


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
