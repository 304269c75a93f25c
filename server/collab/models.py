"""Tables of the collab domain."""

from __future__ import annotations
