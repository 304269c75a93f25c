"""Sync chaos benchmark (full size): 20 devices x 100 offline edits through every fault.

Runs ``tests/e2e/chaos.py`` with ``FULL_CONFIG`` (or a smaller size from the command
line) against a real server process on loopback with a fresh SQLite database, kills and
restarts that server a few times, prints a table and writes
``bench/results/sync_chaos.json``. Exits 1 when an invariant fails.

Usage: python bench/sync_chaos.py [--devices N] [--edits M] [--kills K] [--seed S]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.chaos import FULL_CONFIG, ChaosResult, run_chaos  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sync_chaos.json"


def _table(result: ChaosResult) -> str:
    c = result.counts
    rows = [
        ("devices", result.config.devices),
        ("edits per device", result.config.edits),
        ("seed", result.config.seed),
        ("pushes (logical)", c.get("pushes", 0)),
        ("push requests", c.get("push_attempts", 0)),
        ("retries", c.get("retries", 0)),
        ("pulls", c.get("pulls", 0)),
        ("server kills", result.kills),
        ("connection errors", c.get("connection_errors", 0)),
        (
            "duplicates / concurrent",
            f"{c.get('fault_duplicate', 0)} / {c.get('fault_concurrent_duplicate', 0)}",
        ),
        ("replays", c.get("fault_replay", 0)),
        ("reordered pairs", c.get("fault_reorder", 0)),
        ("responses lost", c.get("fault_lost_response", 0)),
        ("disconnects", c.get("fault_disconnect", 0)),
        ("office priority changes", c.get("office_priority_changes", 0)),
        ("office reassignments", c.get("office_reassignments", 0)),
        ("conflicts logged", result.conflicts_logged),
        ("duration (s)", f"{result.duration_s:.1f}"),
    ]
    rows += [
        (f"invariant {name}", "PASS" if r["ok"] else "FAIL")
        for name, r in result.invariants.items()
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> int:
    """Run, print the table and the invariant summaries, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=FULL_CONFIG.devices)
    parser.add_argument("--edits", type=int, default=FULL_CONFIG.edits)
    parser.add_argument("--kills", type=int, default=FULL_CONFIG.kills)
    parser.add_argument("--seed", type=int, default=FULL_CONFIG.seed)
    args = parser.parse_args()
    config = dataclasses.replace(
        FULL_CONFIG, devices=args.devices, edits=args.edits, kills=args.kills, seed=args.seed
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sync-chaos-") as workdir:

        def log(message: str) -> None:
            print(f"[{time.monotonic() - started:7.1f}s] {message}", flush=True)

        result = run_chaos(config, Path(workdir), log=log)
    print(_table(result))
    print(result.summary())
    for name, invariant in result.invariants.items():
        if not invariant["ok"]:
            print(f"{name}:\n{json.dumps(invariant['detail'][:10], indent=1, default=str)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
