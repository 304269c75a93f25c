"""Tables of the sla domain."""

from __future__ import annotations
