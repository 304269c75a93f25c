"""Knowledge-base articles: representation, create/patch bodies, list filters."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from server.organization.schemas import CODE, NOT_BLANK, StrictBool, name_field
from server.schemas import ListArgsSchema, Text, Timestamp

MAX_BODY = 100_000


def _skill_codes_field(**kwargs: Any) -> fields.List[str]:
    return fields.List(
        fields.String(validate=CODE),
        validate=validate.Length(max=50),
        metadata={"description": "Codes of the tenant's skills it is for; empty = everyone."},
        **kwargs,
    )


def _strings_field(max_length: int, **kwargs: Any) -> fields.List[str]:
    return fields.List(
        Text(validate=[validate.Length(min=1, max=max_length), NOT_BLANK]),
        validate=validate.Length(max=50),
        **kwargs,
    )


class KbArticleSchema(Schema):
    """An article as the API shows it."""

    id = fields.UUID(dump_only=True)
    title = fields.String(dump_only=True)
    body = fields.String(dump_only=True, metadata={"description": "Markdown."})
    skill_codes = fields.List(fields.String(), dump_only=True)
    equipment_models = fields.List(fields.String(), dump_only=True)
    tags = fields.List(fields.String(), dump_only=True)
    published = fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class KbArticleCreateSchema(Schema):
    """Fields of a new article; it stays a draft until published."""

    title = name_field(300, required=True)
    body = Text(
        load_default="",
        validate=validate.Length(max=MAX_BODY),
        metadata={"description": f"Markdown, at most {MAX_BODY} characters."},
    )
    skill_codes = _skill_codes_field(load_default=list)
    equipment_models = _strings_field(100, load_default=list)
    tags = _strings_field(50, load_default=list)
    published = StrictBool(load_default=False)


class KbArticleUpdateSchema(Schema):
    """Changeable article fields; published=false takes it back (there is no delete)."""

    title = name_field(300)
    body = Text(validate=validate.Length(max=MAX_BODY))
    skill_codes = _skill_codes_field()
    equipment_models = _strings_field(100)
    tags = _strings_field(50)
    published = StrictBool()


class KbArticleQueryArgsSchema(ListArgsSchema):
    """Filters for the article list (q matches title or body)."""

    skill = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Articles listing this skill code."},
    )
    equipment_model = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Articles listing this model (case-insensitive)."},
    )
    tag = fields.String(validate=validate.Length(min=1, max=50))
    published = fields.Boolean(
        metadata={"description": "Technicians only ever see published articles."}
    )
