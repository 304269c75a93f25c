"""Shared HTTP plumbing for every blueprint: pagination, sorting, ETags, lookups."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from flask import request
from flask_smorest import Blueprint as _Blueprint
from sqlalchemy import Select, func, or_, select

from server.db import db
from server.errors import (
    DomainError,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)
from server.schemas import json_problem, storable_text_error

T = TypeVar("T")


# Generous for any real payload; far below where json/webargs would hit the recursion limit.
MAX_JSON_DEPTH = 64


def guard_request_text() -> None:
    """Refuse, before any handler runs, input no database can store or no parser survives.

    One place instead of every field: NUL and lone surrogates (PostgreSQL rejects them,
    SQLite silently keeps them), and JSON nested deep enough to exhaust recursion.
    """
    for key, value in request.args.items(multi=True):
        problem = storable_text_error(key) or storable_text_error(value)
        if problem:
            raise ValidationFailed(problem, code="invalid_text", errors={"query": {key: [problem]}})
    if not request.is_json or not request.content_length:
        return
    try:
        body = request.get_json(silent=True)
    except RecursionError as exc:
        raise DomainError("The JSON body is nested too deeply.", code="malformed_json") from exc
    problem = json_problem(body, max_depth=MAX_JSON_DEPTH)
    if problem:
        raise ValidationFailed(problem, code="invalid_text", errors={"json": [problem]})


class Blueprint(_Blueprint):
    """flask-smorest Blueprint with this API's pagination defaults."""

    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 200}


def paginate(stmt: Select[Any], pagination_parameters: Any, *, rows: bool = False) -> list[Any]:
    """Run a SELECT for one page and record the total for the X-Pagination header."""
    session = db.session()
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    pagination_parameters.item_count = int(total or 0)
    page, size = pagination_parameters.page, pagination_parameters.page_size
    offset = (page - 1) * size
    if offset >= pagination_parameters.item_count:
        # Past the end: empty, and no huge OFFSET that overflows the database's integers.
        return []
    page_stmt = stmt.limit(size).offset(offset)
    if rows:
        return list(session.execute(page_stmt).all())
    return list(session.scalars(page_stmt).unique())


def text_search(stmt: Select[Any], q: str | None, *columns: Any) -> Select[Any]:
    """Rows where any column contains ``q`` (case-insensitive; % and _ match literally)."""
    q = (q or "").strip()
    if not q:
        return stmt
    return stmt.where(or_(*(column.icontains(q, autoescape=True) for column in columns)))


def apply_sort(
    stmt: Select[Any], sort: str | None, allowed: dict[str, Any], default: list[Any], tiebreak: Any
) -> Select[Any]:
    """Order by ``sort`` ("-priority,created_at"); unknown keys answer 422 invalid_sort."""
    if not sort:
        return stmt.order_by(*default, tiebreak)
    clauses = []
    for raw in sort.split(","):
        key = raw.strip()
        desc = key.startswith("-")
        key = key.lstrip("-+")
        if key not in allowed:
            raise ValidationFailed(
                f"Cannot sort by '{key}'.",
                code="invalid_sort",
                errors={"sort": [f"Allowed: {', '.join(sorted(allowed))}."]},
            )
        column = allowed[key]
        clauses.append(column.desc().nulls_last() if desc else column.asc().nulls_last())
    return stmt.order_by(*clauses, tiebreak)


def get_or_404(model: type[T], ident: uuid.UUID, *, what: str | None = None) -> T:
    """Load one tenant-scoped row or answer 404 (other tenants' rows look absent)."""
    obj = db.session.get(model, ident)
    if obj is None:
        name = what or model.__name__
        raise NotFound(f"No {name} with id {ident}.")
    return obj


def etag_of(version: int, ident: uuid.UUID) -> str:
    """A strong ETag from id and version counter (cheap, exact)."""
    return f'"{ident.hex}-{version}"'


def check_if_match(current_etag: str, *, required: bool) -> None:
    """412 when If-Match names another version; 428 when it is required and absent."""
    header = request.headers.get("If-Match")
    if header is None:
        if required:
            raise PreconditionRequired(
                "Send If-Match with the ETag you read, so a concurrent change is not lost."
            )
        return
    # If-Match uses strong comparison (RFC 9110 13.1.1): a weak tag never matches.
    candidates = {part.strip() for part in header.split(",")}
    if "*" in candidates:
        return
    if current_etag not in candidates:
        raise PreconditionFailed(
            "The resource changed since you read it; re-read and retry.",
            current_etag=current_etag,
        )
