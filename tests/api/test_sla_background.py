"""The in-process SLA scheduler of the embedded mode: one thread per process, started by
the first request (never by CLI commands), passes repeated, stoppable; other modes none."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask

from server import create_app
from server.sla import background, cli
from server.sla.scheduler import TickReport


def _app(database_url: str, mode: str) -> Flask:
    return create_app(
        {
            "ENV_NAME": "testing",
            "DATABASE_URL": database_url,
            "SLA_SCHEDULER": mode,
            "SLA_TICK_SECONDS": 0.02,
        }
    )


@pytest.fixture()
def passes(monkeypatch: Any) -> list[int]:
    """Scheduler passes recorded instead of run (the thread has no test transaction)."""
    calls: list[int] = []

    def fake(limit: int) -> TickReport:
        calls.append(limit)
        return TickReport()

    monkeypatch.setattr(cli, "run_pass", fake)
    return calls


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sla-scheduler" and t.is_alive()]


def test_first_request_starts_one_scheduler_thread(
    app: Flask, database_url: str, passes: list[int]
) -> None:
    embedded = _app(database_url, "thread")
    assert embedded.extensions.get(background.EXTENSION) is None  # building it starts nothing
    before = len(_threads())
    try:
        client = embedded.test_client()
        for _ in range(3):
            client.get("/api/v1/auth/me")
        deadline = time.monotonic() + 5
        while len(passes) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(passes) >= 3 and set(passes) == {100}
        assert len(_threads()) == before + 1
    finally:
        background.stop(embedded)
    assert len(_threads()) == before


@pytest.mark.parametrize("mode", ["worker", "off"])
def test_other_modes_start_no_thread(
    app: Flask, database_url: str, passes: list[int], mode: str
) -> None:
    other = _app(database_url, mode)
    other.test_client().get("/api/v1/auth/me")
    assert background.start(other) is None
    time.sleep(0.05)
    assert passes == []
