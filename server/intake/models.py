"""Tables of the intake domain."""

from __future__ import annotations
