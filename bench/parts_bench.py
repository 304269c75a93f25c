"""Spare-parts ledger benchmark (PostgreSQL): prints a table, writes bench/results/parts_bench.json.

Seeds a ledger of ``BENCH_MOVEMENTS`` rows (default 1,000,000) with set-based SQL: a year of
receipts into 20 warehouses, transfers to 200 vans and consumption at 2,000 sites over 500
parts, with balances derived from the movements. Then measures:
- on hand for one warehouse from the balance cache, and (baseline) the same figures summed
  from the movements;
- the consumption report for one quarter (by part and by technician);
- posting throughput with 8 concurrent writers (each posting commits: movement, two
  balances, change log), against plain SQLAlchemy inserts of the same movement rows by 8
  writers in the same run (baseline).

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1/fsm_parts_bench \
    python bench/parts_bench.py      (the database is dropped and re-created)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.database import database_name, fresh_postgis  # noqa: E402
from server import create_app  # noqa: E402
from server.db import db, set_tenant  # noqa: E402
from server.parts.models import Part  # noqa: E402
from server.stock import reports, service  # noqa: E402
from server.stock.models import StockBalance, StockLocation, StockMovement  # noqa: E402
from tests import factories as f  # noqa: E402

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/fsm_parts_bench")
MOVEMENTS = int(os.environ.get("BENCH_MOVEMENTS", "1000000"))
WAREHOUSES, VANS, SITES, PARTS = 20, 200, 2000, 500
WRITERS, POSTS_PER_WRITER = 8, int(os.environ.get("BENCH_POSTS", "250"))
SAMPLES = 20


def seed(app: Any) -> dict[str, Any]:
    """Tenant, locations, parts, technicians; the ledger and its balances in SQL."""
    with app.app_context(), Session(db.engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s)
        s.commit()
        set_tenant(s, tenant.id)
        parts = [
            Part(sku=f"P{i:04d}", name=f"Part {i}", unit_cost=Decimal(1 + i % 50))
            for i in range(PARTS)
        ]
        warehouses = [
            StockLocation(kind="warehouse", code=f"WH{i:02d}", name=f"Warehouse {i}")
            for i in range(WAREHOUSES)
        ]
        s.add_all(parts + warehouses)
        vans = []
        for i in range(VANS):
            tech = f.make_technician(s, tenant, name=f"Tech {i:03d}")
            vans.append(service.van_for(s, tech.id))
        sites = [
            StockLocation(kind="site", code=f"S{i:04d}", name=f"Site {i}") for i in range(SITES)
        ]
        s.add_all(sites)
        supplier = service.singleton(s, "supplier")
        s.commit()
        ids = {
            "tenant": tenant.id,
            "parts": [p.id for p in parts],
            "warehouses": [w.id for w in warehouses],
            "vans": [v.id for v in vans],
            "sites": [x.id for x in sites],
            "supplier": supplier.id,
        }
    started = time.perf_counter()
    with db.engine.begin() as conn:
        # 10% receipts, 30% transfers, 60% consumption; one year back from now.
        conn.execute(
            text(
                """
                INSERT INTO stock_movements (id, tenant_id, part_id, from_location_id,
                    to_location_id, quantity, serial_numbers, reason, source, occurred_at,
                    recorded_at)
                SELECT gen_random_uuid(), :tenant, (:parts)[1 + g % :np],
                    CASE WHEN g % 10 = 0 THEN :supplier
                         WHEN g % 10 < 4 THEN (:warehouses)[1 + g % :nw]
                         ELSE (:vans)[1 + g % :nv] END,
                    CASE WHEN g % 10 = 0 THEN (:warehouses)[1 + g % :nw]
                         WHEN g % 10 < 4 THEN (:vans)[1 + g % :nv]
                         ELSE (:sites)[1 + g % :ns] END,
                    1 + g % 5, '[]'::jsonb,
                    CASE WHEN g % 10 = 0 THEN 'receipt' WHEN g % 10 < 4 THEN 'transfer'
                         ELSE 'consumption' END,
                    'api', now() - (g % 365) * interval '1 day', now()
                FROM generate_series(1, :n) AS g
                """
            ),
            {
                "tenant": ids["tenant"],
                "parts": ids["parts"],
                "np": PARTS,
                "supplier": ids["supplier"],
                "warehouses": ids["warehouses"],
                "nw": WAREHOUSES,
                "vans": ids["vans"],
                "nv": VANS,
                "sites": ids["sites"],
                "ns": SITES,
                "n": MOVEMENTS,
            },
        )
        conn.execute(
            text(
                """
                INSERT INTO stock_balances (id, tenant_id, location_id, part_id, on_hand,
                    reserved, updated_at)
                SELECT gen_random_uuid(), :tenant, loc, part, sum(q), 0, now() FROM (
                    SELECT to_location_id AS loc, part_id AS part, quantity AS q
                    FROM stock_movements
                    UNION ALL
                    SELECT from_location_id, part_id, -quantity FROM stock_movements
                ) AS flows GROUP BY loc, part
                """
            ),
            {"tenant": ids["tenant"]},
        )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Fresh statistics everywhere, as autovacuum would have them in production.
        conn.execute(text("VACUUM ANALYZE"))
    ids["seed_s"] = round(time.perf_counter() - started, 1)
    return ids


def timed(fn: Any) -> dict[str, float]:
    """p50/p95/max in milliseconds over SAMPLES runs (after one warm-up)."""
    fn()
    runs = []
    for _ in range(SAMPLES):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    runs.sort()
    return {
        "p50_ms": round(statistics.median(runs), 2),
        "p95_ms": round(runs[int(0.95 * (len(runs) - 1))], 2),
        "max_ms": round(runs[-1], 2),
    }


def queries(app: Any, ids: dict[str, Any]) -> dict[str, Any]:
    """On hand for one warehouse (cache vs ledger) and quarterly consumption reports."""
    warehouse = ids["warehouses"][3]
    now = dt.datetime.now(dt.UTC)
    quarter = (now - dt.timedelta(days=180), now - dt.timedelta(days=90))
    out: dict[str, Any] = {}
    with app.app_context(), Session(db.engine) as s:
        set_tenant(s, ids["tenant"])

        def on_hand() -> None:
            stmt = (
                select(Part.sku, StockBalance.on_hand, StockBalance.reserved)
                .join(Part, Part.id == StockBalance.part_id)
                .where(StockBalance.location_id == warehouse)
            )
            assert len(s.execute(stmt).all()) > 0

        def from_ledger() -> None:
            inflow = (
                select(StockMovement.part_id, func.sum(StockMovement.quantity))
                .where(StockMovement.to_location_id == warehouse)
                .group_by(StockMovement.part_id)
            )
            outflow = (
                select(StockMovement.part_id, func.sum(StockMovement.quantity))
                .where(StockMovement.from_location_id == warehouse)
                .group_by(StockMovement.part_id)
            )
            assert len(s.execute(inflow).all()) + len(s.execute(outflow).all()) > 0

        def by_part() -> None:
            reports.consumption(
                db_session=s, group_by="part", period_from=quarter[0], period_to=quarter[1]
            )

        def by_technician() -> None:
            reports.consumption(
                db_session=s, group_by="technician", period_from=quarter[0], period_to=quarter[1]
            )

        out["on_hand_one_location"] = timed(on_hand)
        out["on_hand_summed_from_ledger"] = timed(from_ledger)
        out["consumption_quarter_by_part"] = timed(by_part)
        out["consumption_quarter_by_technician"] = timed(by_technician)
    return out


def throughput(app: Any, ids: dict[str, Any]) -> dict[str, Any]:
    """Postings per second with 8 writers, and plain inserts of the same rows as baseline."""
    with app.app_context(), Session(db.engine) as s:
        set_tenant(s, ids["tenant"])
        stocked = StockLocation(kind="warehouse", code="WH-BENCH", name="Bench warehouse")
        s.add(stocked)
        s.flush()
        supplier = s.get(StockLocation, ids["supplier"])
        for part_id in ids["parts"][:WRITERS]:
            part = s.get(Part, part_id)
            assert part is not None and supplier is not None
            service.post(
                s,
                part=part,
                source=supplier,
                destination=stocked,
                quantity=100000,
                reason="receipt",
            )
        s.commit()
        stocked_id = stocked.id

    def run(worker: Any) -> float:
        barrier = threading.Barrier(WRITERS)
        errors: list[BaseException] = []

        def body(i: int) -> None:
            try:
                with app.app_context(), Session(db.engine, expire_on_commit=False) as s:
                    set_tenant(s, ids["tenant"])
                    barrier.wait()
                    worker(s, i)
            except BaseException as exc:  # reported after the join
                errors.append(exc)

        threads = [threading.Thread(target=body, args=(i,)) for i in range(WRITERS)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        if errors:
            raise errors[0]
        return WRITERS * POSTS_PER_WRITER / elapsed

    def posting(s: Session, i: int) -> None:
        # Writers share the warehouse (hot rows); each has its own part and van.
        part = s.get(Part, ids["parts"][i])
        source = s.get(StockLocation, stocked_id)
        van = s.get(StockLocation, ids["vans"][i])
        assert part and source and van
        for _ in range(POSTS_PER_WRITER):
            service.post(
                s, part=part, source=source, destination=van, quantity=1, reason="transfer"
            )
            s.commit()

    def plain(s: Session, i: int) -> None:
        for _ in range(POSTS_PER_WRITER):
            s.add(
                StockMovement(
                    id=uuid.uuid4(),
                    tenant_id=ids["tenant"],
                    part_id=ids["parts"][i],
                    from_location_id=stocked_id,
                    to_location_id=ids["vans"][i],
                    quantity=Decimal(1),
                    serial_numbers=[],
                    reason="transfer",
                )
            )
            s.commit()

    baseline = run(plain)
    ledger = run(posting)
    return {
        "writers": WRITERS,
        "posts_per_writer": POSTS_PER_WRITER,
        "postings_per_s": round(ledger, 1),
        "plain_inserts_per_s": round(baseline, 1),
        "ratio_to_plain_inserts": round(ledger / baseline, 2),
    }


def main() -> None:
    """Seed, measure, print, write JSON."""
    database_name(URL)
    fresh_postgis(URL)
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": URL})
    load_before = os.getloadavg()
    ids = seed(app)
    results: dict[str, Any] = {
        "movements": MOVEMENTS,
        "seed_s": ids["seed_s"],
        "load_average_before": load_before,
    }
    results.update(queries(app, ids))
    results["throughput"] = throughput(app, ids)
    results["load_average_after"] = os.getloadavg()
    print(f"ledger rows: {MOVEMENTS:,} (seeded in {ids['seed_s']} s)")
    print(f"{'query':40} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for name in (
        "on_hand_one_location",
        "on_hand_summed_from_ledger",
        "consumption_quarter_by_part",
        "consumption_quarter_by_technician",
    ):
        r = results[name]
        print(f"{name:40} {r['p50_ms']:9.2f} {r['p95_ms']:9.2f} {r['max_ms']:9.2f}")
    cache, ledger = results["on_hand_one_location"], results["on_hand_summed_from_ledger"]
    results["on_hand_cache_speedup"] = round(ledger["p50_ms"] / cache["p50_ms"], 1)
    print(
        f"on hand from the balance cache: {results['on_hand_cache_speedup']}x faster than summing"
    )
    t = results["throughput"]
    print(
        f"posting, {t['writers']} writers: {t['postings_per_s']}/s; plain inserts "
        f"{t['plain_inserts_per_s']}/s; ratio {t['ratio_to_plain_inserts']}"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "parts_bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {out / 'parts_bench.json'}")


if __name__ == "__main__":
    main()
