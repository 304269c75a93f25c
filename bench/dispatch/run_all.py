"""Run every dispatcher benchmark in turn (one solver process at a time) and summarise.

Usage: python bench/dispatch/run_all.py [--quick]. Each script prints its own table and
writes its JSON to bench/results/; this prints how long each took and which failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("solomon.py", "field_bench.py", "emergency_bench.py", "timelimit_bench.py")


def main(argv: list[str] | None = None) -> int:
    """Run the scripts sequentially; exit non-zero if any failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run of every script")
    ap.add_argument("--only", default="", help="comma-separated subset, e.g. solomon,field_bench")
    args = ap.parse_args(argv)
    wanted = {s.strip().removesuffix(".py") for s in args.only.split(",") if s.strip()}
    timings: list[tuple[str, float, int]] = []
    for script in SCRIPTS:
        if wanted and script.removesuffix(".py") not in wanted:
            continue
        cmd = [sys.executable, str(HERE / script)] + (["--quick"] if args.quick else [])
        print(f"\n### {script}{' --quick' if args.quick else ''}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd)
        timings.append((script, time.perf_counter() - t0, code))
    print("\nscript               wall s  exit")
    for script, wall, code in timings:
        print(f"{script:<20} {wall:>6.0f}  {code}")
    return max((code for _, _, code in timings), default=0)


if __name__ == "__main__":
    sys.exit(main())
