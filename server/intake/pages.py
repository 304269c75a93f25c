"""Public (no login) HTML pages: plain Flask blueprints outside /api/v1."""

from __future__ import annotations

from flask import Blueprint

PAGES: list[Blueprint] = []
