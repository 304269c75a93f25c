"""Use cases for knowledge-base articles, and what each technician should carry offline."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from server.errors import NotFound, ValidationFailed
from server.http import apply_sort, text_search
from server.json_lists import json_list_has_any, json_list_is_empty
from server.kb.models import KbArticle
from server.organization.service import resolve_skill_codes
from server.technicians.models import Technician

SORTS = {
    "title": KbArticle.title,
    "created_at": KbArticle.created_at,
    "updated_at": KbArticle.updated_at,
}


def article_query(
    *, filters: dict[str, Any], dialect: str, published_only: bool
) -> Select[tuple[KbArticle]]:
    """The sorted, filtered article list; ``published_only`` hides drafts (technicians)."""
    model = KbArticle
    stmt = select(model)
    stmt = text_search(stmt, filters.get("q"), model.title, model.body)
    if published_only:
        stmt = stmt.where(model.published.is_(True))
    if "published" in filters:
        stmt = stmt.where(model.published == filters["published"])
    if "skill" in filters:
        stmt = stmt.where(json_list_has_any(model.skill_codes, [filters["skill"]], dialect))
    if "equipment_model" in filters:
        stmt = stmt.where(
            json_list_has_any(
                model.equipment_models, [filters["equipment_model"]], dialect, casefold=True
            )
        )
    if "tag" in filters:
        stmt = stmt.where(json_list_has_any(model.tags, [filters["tag"]], dialect, casefold=True))
    return apply_sort(stmt, filters.get("sort"), SORTS, [model.updated_at.desc()], model.id)


def get_article(*, db_session: Session, article_id: uuid.UUID, published_only: bool) -> KbArticle:
    """One article; drafts look absent (404) when ``published_only``."""
    article = db_session.get(KbArticle, article_id)
    if article is None or (published_only and not article.published):
        raise NotFound(f"No knowledge-base article with id {article_id}.")
    return article


def _skill_codes(db_session: Session, codes: list[str]) -> list[str]:
    """Unique codes, each one a skill of the tenant (else 422 unknown_skill)."""
    try:
        resolve_skill_codes(db_session=db_session, codes=codes)
    except ValidationFailed as exc:
        # Same code as everywhere skills are referenced, but point at this field.
        unknown = exc.details.get("errors", {}).get("skills", {})
        raise ValidationFailed(exc.message, code=exc.code, errors={"skill_codes": unknown}) from exc
    return list(dict.fromkeys(codes))


def _strings(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values))


def _clean(db_session: Session, data: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(data)
    if "title" in cleaned:
        cleaned["title"] = cleaned["title"].strip()
    if "skill_codes" in cleaned:
        cleaned["skill_codes"] = _skill_codes(db_session, cleaned["skill_codes"])
    for key in ("equipment_models", "tags"):
        if key in cleaned:
            cleaned[key] = _strings(cleaned[key])
    return cleaned


def create_article(*, db_session: Session, data: dict[str, Any]) -> KbArticle:
    """Write an article (a draft unless published is true)."""
    article = KbArticle(**_clean(db_session, data))
    db_session.add(article)
    db_session.commit()
    return article


def update_article(*, db_session: Session, article: KbArticle, data: dict[str, Any]) -> KbArticle:
    """Change an article; published=false takes it back from technicians."""
    for key, value in _clean(db_session, data).items():
        setattr(article, key, value)
    db_session.commit()
    return article


def articles_for_technician(
    *, db_session: Session, technician_id: uuid.UUID
) -> Select[tuple[KbArticle]]:
    """Published articles for everyone or for one of the technician's skills, oldest first.

    Raises NotFound when the technician is not visible in this session.
    """
    technician = db_session.get(Technician, technician_id)
    if technician is None:
        raise NotFound(f"No technician with id {technician_id}.")
    codes = sorted({held.skill.code for held in technician.skills})
    dialect = db_session.get_bind().dialect.name
    model = KbArticle
    return (
        select(model)
        .where(
            # Explicit, so the statement stays right even in a system-scope session.
            model.tenant_id == technician.tenant_id,
            model.published.is_(True),
            or_(
                json_list_is_empty(model.skill_codes, dialect),
                json_list_has_any(model.skill_codes, codes, dialect),
            ),
        )
        .order_by(model.created_at, model.id)
    )
