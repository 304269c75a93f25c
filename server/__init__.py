"""Application factory: extensions, blueprints, error handlers, commands - in that order."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask_smorest import Api

from server import config as config_module
from server.db import db

_INSECURE_SECRET = "dev-only-insecure-secret-change-me-0123456789"


class InsecureConfiguration(RuntimeError):
    """Raised at start-up when production settings would disable security."""


def create_app(config: Any = None) -> Flask:
    """Build a configured Flask app; ``config`` is a name, a Config class or a dict."""
    app = Flask(__name__)
    app.config.from_mapping(config_module.load(config))
    # Chinese names and addresses stay readable in responses (JSON is UTF-8 anyway).
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    _check_production_safety(app)
    register_extensions(app)
    _blueprints(app)
    _errorhandlers(app)
    _commands(app)
    return app


def _check_production_safety(app: Flask) -> None:
    if app.config["ENV_NAME"] != "production":
        return
    # The Firebase Admin SDK skips token signature checks when this is set.
    if os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
        raise InsecureConfiguration(
            "FIREBASE_AUTH_EMULATOR_HOST is set: refusing to start in production."
        )
    if app.config["SECRET_KEY"] == _INSECURE_SECRET or len(app.config["SECRET_KEY"]) < 32:
        raise InsecureConfiguration("Set SECRET_KEY to at least 32 random characters.")


def register_extensions(app: Flask) -> None:
    """Database, API/OpenAPI, request authentication."""
    db.init(
        app.config["DATABASE_URL"],
        spatialite_path=app.config["SPATIALITE_LIBRARY_PATH"],
        echo=app.config["SQL_ECHO"],
    )
    app.extensions["db"] = db
    # One Api (and OpenAPI spec) per app: tests build many apps in one process.
    app.extensions["api"] = Api(app)
    # Flask-Limiter with no default limits: only the public intake routes are limited.
    from server.intake.ratelimit import init_app as init_rate_limits

    init_rate_limits(app)
    from server.sla.background import init_app as init_sla_scheduler

    init_sla_scheduler(app)

    from server.auth.principal import authenticate_request
    from server.http import guard_request_text

    app.before_request(guard_request_text)
    app.before_request(authenticate_request)

    # One session per request, also when an outer app context spans several requests
    # (tests, scripts): a session kept across requests would serve the next caller rows
    # from its identity map, where Session.get never reaches the tenant filter.
    @app.teardown_request
    def _remove_request_session(exc: BaseException | None) -> None:
        db.session.remove()

    @app.teardown_appcontext
    def _remove_session(exc: BaseException | None) -> None:
        db.session.remove()

    @app.get("/")
    def index() -> Any:
        """Where to go next."""
        return {
            "name": app.config["API_TITLE"],
            "docs": "/api/docs",
            "openapi": "/api/openapi.json",
        }

    @app.get("/healthz")
    def healthz() -> Any:
        """Liveness: the process answers."""
        return {"status": "ok"}


def _blueprints(app: Flask) -> None:
    from server.views import BLUEPRINTS, PAGES

    api: Api = app.extensions["api"]
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=f"/api/v1{blueprint.url_prefix or ''}")
    for page in PAGES:
        app.register_blueprint(page)


def _errorhandlers(app: Flask) -> None:
    from server.errors import register_error_handlers

    register_error_handlers(app)


def _commands(app: Flask) -> None:
    from server.cli import register_commands

    register_commands(app)
