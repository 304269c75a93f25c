"""Domain errors and the one place that maps them (and HTTP errors) to JSON responses.

Every error body has the same shape: ``{"code", "message", "status", "errors"?, ...}``
where ``code`` is a stable machine-readable string clients can switch on.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of every business-rule error; carries HTTP status and a stable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class ValidationFailed(DomainError):
    """Input has the right shape but breaks a business rule about its content."""

    status = 422
    code = "validation_error"


class NotFound(DomainError):
    """Missing, or belongs to another tenant (deliberately indistinguishable)."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """Authenticated but not allowed."""

    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    """No or bad credentials."""

    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    """The request clashes with the current state (illegal transition, duplicate)."""

    status = 409
    code = "conflict"


class PreconditionFailed(DomainError):
    """If-Match did not match the current version: someone else changed the resource."""

    status = 412
    code = "precondition_failed"


class PreconditionRequired(DomainError):
    """A write that must be conditional came without If-Match."""

    status = 428
    code = "precondition_required"


# Codes for plain HTTP errors raised by Flask/werkzeug/flask-smorest.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
}


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    """Build the canonical error body."""
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    code = _HTTP_CODES.get(status, "http_error")
    message = exc.description or exc.name
    errors = None
    if messages:
        # webargs nests by location ("json", "query", ...); keep that, it helps clients.
        errors = messages
        if status == 400 and "Invalid JSON" in str(messages.get("json", "")):
            code = "malformed_json"
        message = "The request did not validate; see errors."
    elif status == 400 and "JSON" in (exc.description or ""):
        code = "malformed_json"
    response = error_response(status, code, message, errors=errors)
    for header, value in (data.get("headers") or {}).items():
        response.headers[header] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Install JSON handlers for domain, HTTP and unexpected errors."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Response:
        response = error_response(exc.status, exc.code, exc.message, **exc.details)
        if exc.status == 429 and "retry_after" in exc.details:
            # Clients and proxies read the header, not the body.
            response.headers["Retry-After"] = str(exc.details["retry_after"])
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return _http_error(exc)

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError) -> Response:
        return error_response(
            412, "precondition_failed", "The resource was changed concurrently; re-read it."
        )

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError) -> Response:
        # Services check uniqueness first; this only fires on a lost race.
        log.info("integrity error mapped to 409: %s", exc.orig)
        return error_response(409, "conflict", "The change conflicts with existing data.")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Internal server error.")
