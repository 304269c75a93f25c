"""Knowledge base: everyone reads published articles, planners write and publish them."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ALL_ROLES, PLANNER_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint, paginate
from server.kb import service
from server.kb.schemas import (
    KbArticleCreateSchema,
    KbArticleQueryArgsSchema,
    KbArticleSchema,
    KbArticleUpdateSchema,
)

blp = Blueprint(
    "kb_articles",
    __name__,
    url_prefix="/kb-articles",
    description="Knowledge-base articles for technicians.",
)


@blp.route("")
class KbArticles(MethodView):
    """The tenant's knowledge base."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(KbArticleQueryArgsSchema, location="query")
    @blp.response(200, KbArticleSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List articles (technicians: published only); newest change first by default."""
        stmt = service.article_query(
            filters=args, dialect=db.dialect, published_only=current().is_technician
        )
        return paginate(stmt, pagination_parameters)

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(KbArticleCreateSchema)
    @blp.response(201, KbArticleSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Write an article (a draft unless published is true)."""
        return service.create_article(db_session=db.session(), data=data)


@blp.route("/<uuid:article_id>")
class KbArticleById(MethodView):
    """One article."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, KbArticleSchema)
    def get(self, article_id: uuid.UUID) -> Any:
        """Read an article (a draft is 404 for technicians)."""
        return service.get_article(
            db_session=db.session(),
            article_id=article_id,
            published_only=current().is_technician,
        )

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(KbArticleUpdateSchema)
    @blp.response(200, KbArticleSchema)
    def patch(self, data: dict[str, Any], article_id: uuid.UUID) -> Any:
        """Change an article; published=false unpublishes it (articles are never deleted)."""
        article = service.get_article(
            db_session=db.session(), article_id=article_id, published_only=False
        )
        return service.update_article(db_session=db.session(), article=article, data=data)
