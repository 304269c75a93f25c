"""The SLA scheduler inside the web process (embedded mode): a daemon thread per process.

At scale the scheduler runs as ``flask sla-worker`` processes (SLA_SCHEDULER=worker); the
embedded default starts it with the first request, so ``make run`` needs nothing else.
Several processes each running one is safe: orders are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

log = logging.getLogger(__name__)

EXTENSION = "sla_scheduler_thread"


def _loop(app: Flask, interval: float, stop: threading.Event) -> None:
    from server.sla.cli import run_pass

    while not stop.is_set():
        try:
            with app.app_context():
                run_pass(int(app.config["SLA_TICK_LIMIT"]))
        except Exception:  # a lost connection must not end the scheduler
            log.exception("sla scheduler pass failed")
        stop.wait(interval)


def start(app: Flask) -> threading.Thread | None:
    """Start this process's scheduler thread once (None when another mode is configured)."""
    if app.config["SLA_SCHEDULER"] != "thread":
        return None
    state = app.extensions.setdefault(
        EXTENSION, {"lock": threading.Lock(), "thread": None, "stop": threading.Event()}
    )
    with state["lock"]:
        thread: threading.Thread | None = state["thread"]
        if thread is None or not thread.is_alive():
            state["stop"] = threading.Event()
            thread = threading.Thread(
                target=_loop,
                args=(app, float(app.config["SLA_TICK_SECONDS"]), state["stop"]),
                name="sla-scheduler",
                daemon=True,
            )
            state["thread"] = thread
            thread.start()
    return thread


def init_app(app: Flask) -> None:
    """Start the scheduler with the first request, not at import: CLI commands (migrations,
    seeding) build the app too and must not start touching tables."""
    if app.config["SLA_SCHEDULER"] != "thread":
        return  # workers run it (or nothing does): no per-request check at all

    @app.before_request
    def _ensure_scheduler() -> None:
        state = app.extensions.get(EXTENSION)
        if state is None or state["thread"] is None:
            start(app)


def stop(app: Flask, timeout: float = 5.0) -> None:
    """Stop this process's scheduler thread (tests)."""
    state = app.extensions.get(EXTENSION)
    if state and state["thread"] is not None:
        state["stop"].set()
        state["thread"].join(timeout)
        state["thread"] = None
