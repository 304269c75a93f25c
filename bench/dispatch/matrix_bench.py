"""Travel-time matrix benchmark: prints a table and writes bench/results/matrix_bench.json.

Measures, for seeded random points inside Shanghai's extent (lon 121.2-121.8,
lat 30.9-31.4) and each size in --sizes:
- HaversineProvider.matrix (best and median of --repeats runs);
- CachedProvider(HaversineProvider) cold (empty cache), warm (the same points again) and
  warm + 1 (the same points plus one new stop: only 2n+1 pairs are computed).

The cache is sized to hold the whole matrix (the 200,000-pair default holds ~447 points).
Targets from the issue: a 1,000-point haversine matrix well under 100 ms, and every
1,000-point figure well under a second; the exit status is 1 when one is missed.

Usage: python bench/dispatch/matrix_bench.py [--sizes 100 500 1000 2000] [--repeats 5]
(or python -m bench.dispatch.matrix_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from geo.points import Point  # noqa: E402
from geo.travel import CachedProvider, HaversineProvider, Matrix  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "matrix_bench.json"
LON, LAT = (121.2, 121.8), (30.9, 31.4)
HAVERSINE_TARGET_MS = 100.0  # 1,000 points, from the issue
ANY_TARGET_MS = 1000.0


def points(n: int, rng: random.Random) -> list[Point]:
    """n uniform random points inside the Shanghai box."""
    return [Point(rng.uniform(*LAT), rng.uniform(*LON)) for _ in range(n)]


def timed(call: Callable[[list[Point]], Matrix], pts: list[Point]) -> tuple[float, Matrix]:
    """Milliseconds for one call, and its result."""
    start = time.perf_counter()
    result = call(pts)
    return (time.perf_counter() - start) * 1000, result


def summary(samples: list[float]) -> dict[str, float]:
    """Best and median of a list of milliseconds."""
    return {"best_ms": min(samples), "median_ms": statistics.median(samples)}


def measure(n: int, repeats: int, seed: int) -> dict[str, Any]:
    """Every figure for one matrix size."""
    rng = random.Random(seed + n)
    pts = points(n, rng)
    extra = points(repeats, rng)
    provider = HaversineProvider()
    reference = provider.matrix(pts)  # also warms NumPy up before timing

    haversine = [timed(provider.matrix, pts)[0] for _ in range(repeats)]

    capacity = (n + repeats + 1) ** 2
    cold, warm, plus_one = [], [], []
    for r in range(repeats):
        cache = CachedProvider(HaversineProvider(), max_entries=capacity)
        ms, first = timed(cache.matrix, pts)
        cold.append(ms)
        ms, second = timed(cache.matrix, pts)
        warm.append(ms)
        grown = [*pts, extra[r]]
        ms, third = timed(cache.matrix, grown)
        plus_one.append(ms)
        # A fast wrong answer is worthless: the cache must agree with the provider it wraps.
        for got in (first, second):
            if not np.array_equal(got.durations_s, reference.durations_s):
                raise SystemExit(f"cached matrix differs from the direct one at n={n}")
        if not np.array_equal(third.durations_s[:n, :n], reference.durations_s):
            raise SystemExit(f"cached n+1 matrix differs from the direct one at n={n}")

    return {
        "points": n,
        "haversine": summary(haversine),
        "cached_cold": summary(cold),
        "cached_warm": summary(warm),
        "cached_warm_plus_one": summary(plus_one),
        "cache_capacity_pairs": capacity,
    }


def _table(results: list[dict[str, Any]]) -> str:
    header = ("points", "haversine best/median", "cached cold", "cached warm", "warm + 1 point")
    rows = [header] + [
        (
            f"{r['points']:,}",
            f"{r['haversine']['best_ms']:.1f} / {r['haversine']['median_ms']:.1f} ms",
            f"{r['cached_cold']['median_ms']:.1f} ms",
            f"{r['cached_warm']['median_ms']:.1f} ms",
            f"{r['cached_warm_plus_one']['median_ms']:.1f} ms",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


def _checks(results: list[dict[str, Any]]) -> dict[str, bool]:
    """The issue's targets, judged on medians for 1,000 points (when that size was run)."""
    checks: dict[str, bool] = {}
    for r in results:
        if r["points"] == 1000:
            checks["haversine_1000_under_100ms"] = r["haversine"]["median_ms"] < HAVERSINE_TARGET_MS
            checks["every_1000_figure_under_1s"] = all(
                r[k]["median_ms"] < ANY_TARGET_MS
                for k in ("haversine", "cached_cold", "cached_warm", "cached_warm_plus_one")
            )
    return checks


def main() -> int:
    """Run every size, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000, 2000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    results = [measure(n, args.repeats, args.seed) for n in args.sizes]
    checks = _checks(results)
    print(_table(results))
    for name, ok in checks.items():
        print(f"{name}: {'PASS' if ok else 'FAIL'}")
    report = {
        "seed": args.seed,
        "repeats": args.repeats,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "sizes": results,
        "checks": checks,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
