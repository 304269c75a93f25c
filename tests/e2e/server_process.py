"""A real server process for end-to-end tests and benchmarks.

Builds a fresh SQLite database (Alembic migrations + the demo seed) in a directory of its
own, runs ``flask run`` on a free loopback port as a subprocess and waits for ``/healthz``.
Only the processes started here are ever signalled, always by their own PID: ``stop()``
terminates politely, ``kill()`` sends SIGKILL (a crash, for chaos tests) and ``start()``
brings the server back on the same port and the same database.

This module imports nothing from the server package, so it is safe in a pytest process
(``create_app()`` rebinds the process-wide engine) and in plain scripts under ``bench/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 60
SETUP_TIMEOUT_S = 300

# Migrations and the demo seed, run in a child interpreter. The testing config only makes
# the demo password hashes cheap, so logins are fast.
SETUP_DATABASE = """
import sys
from server import create_app
from server.cli import upgrade_database
from server.seed import seed_demo

url = sys.argv[1]
upgrade_database(url)
app = create_app({"ENV_NAME": "testing", "DATABASE_URL": url})
with app.app_context():
    print(seed_demo())
"""


def free_port() -> int:
    """A loopback port that was free a moment ago (callers retry if it is taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str) -> dict[str, str]:
    """The environment of a server child: our database, no inherited FLASK_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "FSM_ENV": "development",
            "FLASK_DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def flask_run(port: int) -> list[str]:
    """The command line of one threaded, reloader-free development server on loopback."""
    return [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "server:create_app()",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-reload",
        "--no-debugger",
    ]


def build_database(workdir: Path) -> str:
    """Create and seed ``workdir/e2e.sqlite3``; returns its SQLAlchemy URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{workdir / 'e2e.sqlite3'}"
    setup_log = workdir / "setup.log"
    with setup_log.open("wb") as out:
        setup = subprocess.Popen(
            [sys.executable, "-c", SETUP_DATABASE, database_url],
            cwd=ROOT,
            env={**server_env(database_url), "FSM_ENV": "testing"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        code = setup.wait(timeout=SETUP_TIMEOUT_S)
    finally:
        stop_process(setup)
    if code != 0:
        raise RuntimeError(f"database setup failed:\n{setup_log.read_text()}")
    return database_url


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop one process this module started (by its PID), whatever happened."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class ServerProcess:
    """One server on one loopback port and one database, restartable after a kill."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        """Remember where to run; nothing starts until :meth:`start`."""
        self.workdir = workdir
        self.database_url = database_url
        self.log = workdir / "server.log"
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (only once started)."""
        if self.port is None:
            raise RuntimeError("the server has not been started")
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            out.write(f"\n--- start {self.starts + 1} on port {port} ---\n".encode())
            out.flush()
            return subprocess.Popen(
                flask_run(port),
                cwd=ROOT,
                env=server_env(self.database_url),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> None:
        """Start (or restart, on the same port) and wait until ``/healthz`` answers."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the server is already running")
        fixed = self.port is not None
        for _attempt in range(1 if fixed else 3):  # a probed port can be taken meanwhile
            port = self.port if self.port is not None else free_port()
            self.process = self._spawn(port)
            self.starts += 1
            try:
                self._wait_healthy(f"http://127.0.0.1:{port}")
            except RuntimeError:
                exited = self.process.poll() is not None
                if not fixed and exited and "Address already in use" in self.log.read_text():
                    continue
                raise
            self.port = port
            return
        raise RuntimeError(f"could not bind a loopback port:\n{self.tail()}")

    def _wait_healthy(self, base_url: str) -> None:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not healthy after {SERVER_START_TIMEOUT_S}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the server process this object started (a crash: no cleanup at all)."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("the server is not running")
        self.process.kill()  # our own child, by its PID
        self.process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        """Stop the server politely (idempotent)."""
        if self.process is not None:
            stop_process(self.process)

    def tail(self, chars: int = 4000) -> str:
        """The end of the server log (every start appends to it)."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def __enter__(self) -> ServerProcess:
        """Start on entering a ``with`` block."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Always stop what was started."""
        self.stop()
