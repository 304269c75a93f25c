"""Deterministic demo data (filled in by the seed work)."""

from __future__ import annotations


def seed_demo(*, if_empty: bool = False) -> str:
    """Load demo tenants; returns a printable summary with the demo logins."""
    raise NotImplementedError("demo seed not written yet")
