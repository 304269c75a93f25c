"""HTTP edge of the intake domain."""

from __future__ import annotations

from typing import Any

# flask-smorest blueprints served under /api/v1, in documentation order.
BLUEPRINTS: list[Any] = []
