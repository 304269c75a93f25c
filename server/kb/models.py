"""Knowledge-base articles technicians read in the field (procedures, known faults, tips)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk


class KbArticle(UUIDPk, TenantScoped, Timestamps, Base):
    """A Markdown article, targeted by skill codes and equipment models."""

    __tablename__ = "kb_articles"

    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    # Skill codes (skills.code) of the technicians it is for; empty = everyone.
    skill_codes: Mapped[list[Any]] = mapped_column(default=list)
    equipment_models: Mapped[list[Any]] = mapped_column(default=list)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # Drafts stay in the office: technicians (and their phones) only get published ones.
    published: Mapped[bool] = mapped_column(default=False)
