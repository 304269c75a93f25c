"""End-to-end tests: real server processes driven by real third-party clients."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import IS_POSTGRES


def pytest_configure(config: Any) -> None:
    """Register the ``e2e`` marker (select or skip with ``-m e2e`` / ``-m 'not e2e'``)."""
    config.addinivalue_line(
        "markers", "e2e: starts the server as a subprocess and drives it with a real client"
    )


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Run once per CI run: the e2e server builds its own SQLite database, so the
    PostgreSQL pass would repeat exactly the same test."""
    if not IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="e2e builds its own SQLite server; it runs in the SQLite pass")
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(skip)
