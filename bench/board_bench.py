"""Board benchmark on PostgreSQL: prints a table and writes bench/results/board_bench.json.

Seeds 100k work orders around Shanghai with set-based SQL (history over a year, open orders
for the map, a planned week for 50 technicians with six visits a day), then times through
the real Flask stack in-process (test client: routing, auth, validation, serialisation,
no network hop):
- Gantt for all 50 technicians, one day and seven days;
- map GeoJSON for the city at zoom 11 (clustered) and a district at zoom 15 (single orders);
and reports p50/p95 plus whether PostgreSQL used the spatial index for the map queries.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1/fsm_board_bench \
    python bench/board_bench.py      (the database is dropped and re-created)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.database import database_name, fresh_postgis  # noqa: E402
from geo import Point  # noqa: E402
from geo.sql import point_element  # noqa: E402
from server import create_app  # noqa: E402
from server.auth.security import issue_access_token  # noqa: E402
from server.db import db  # noqa: E402
from server.technicians.models import Shift, TechnicianSkill  # noqa: E402
from tests import factories as f  # noqa: E402

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/fsm_board_bench")
ORDERS = int(os.environ.get("BENCH_ORDERS", "100000"))
TECHNICIANS, SITES, VISITS_PER_DAY = 50, 5000, 6
MONDAY = dt.date(2026, 12, 7)
SAMPLES, WARMUP = 30, 3
CITY = "121.0,30.9,121.9,31.5"
DISTRICT = "121.44,31.20,121.50,31.25"
SPATIAL_INDEX = "idx_work_orders_location"


def setup(app: Any) -> dict[str, Any]:
    """A tenant, an admin, 50 technicians with shifts, skills, homes and fresh positions."""
    with app.app_context(), Session(db.engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s, timezone="Asia/Shanghai")
        admin = f.make_user(s, tenant, "admin", password_hash="x")
        customer = f.make_customer(s, tenant)
        skill = f.make_skill(s, tenant, "hvac")
        now = dt.datetime.now(dt.UTC)
        for i in range(TECHNICIANS):
            # Homes and positions on a ring around People's Square, 2-20 km out.
            angle, radius = i * 0.7, 0.02 + 0.16 * (i % 10) / 10
            home = Point(31.23 + radius * 0.8 * math.sin(angle), 121.47 + radius * math.cos(angle))
            tech = f.make_technician(s, tenant, name=f"Tech {i:02d}", home=home)
            tech.last_position = point_element(
                Point(home.lat + 0.01 * math.sin(i), home.lon + 0.01 * math.cos(i))
            )
            tech.last_position_at = now - dt.timedelta(minutes=i % 30)
            tech.skills.append(TechnicianSkill(tenant_id=tenant.id, skill_id=skill.id, level=3))
            for weekday in range(7):
                s.add(
                    Shift(
                        tenant_id=tenant.id,
                        technician_id=tech.id,
                        weekday=weekday,
                        start_time=dt.time(8),
                        end_time=dt.time(18),
                        break_start=dt.time(12),
                        break_minutes=60,
                    )
                )
        s.commit()
        token, _ = issue_access_token(user_id=admin.id, tenant_id=tenant.id, role="admin")
        return {"tenant": tenant.id, "customer": customer.id, "token": token}


COLUMNS = (
    "id, tenant_id, number, title, description, order_type, priority, support_tier, status, "
    "channel, required_skills, estimated_duration_minutes, scheduled_start, scheduled_end, "
    "customer_id, site_id, lead_technician_id, location, custom_fields, checklist_answers, "
    "version, created_at, updated_at, crew_size, pin_technician, lock_schedule"
)
# Normal-ish scatter around People's Square: dense downtown, thin suburbs.
SCATTER = (
    "ST_SetSRID(ST_MakePoint("
    "121.47 + 0.12 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()), "
    "31.23 + 0.10 * sqrt(-2 * ln(1 - random())) * sin(2 * pi() * random())), 4326)"
)


def seed_orders(world: dict[str, Any]) -> dict[str, Any]:
    """Sites and 100k orders with set-based SQL; returns counts and seconds taken."""
    engine = db.engine
    assert engine is not None
    start = time.perf_counter()
    # Even technicians have no visit of their own in the third slot (they help then).
    week = VISITS_PER_DAY * 7 * TECHNICIANS - 7 * (TECHNICIANS // 2)
    params = {
        "t": world["tenant"],
        "c": world["customer"],
        "n": ORDERS - week,
        "sites": SITES,
        "techs": TECHNICIANS,
        # 09:00 Shanghai on the bench Monday is 01:00 UTC.
        "day": dt.datetime.combine(MONDAY, dt.time(1), tzinfo=dt.UTC),
    }
    numbered = (
        "WITH s AS (SELECT id, customer_id, location, row_number() OVER (ORDER BY id) AS rn "
        "FROM sites WHERE tenant_id = :t), "
        "tt AS (SELECT id, row_number() OVER (ORDER BY name) AS rn FROM technicians "
        "WHERE tenant_id = :t) "
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sites (id, tenant_id, customer_id, name, address, location, "
                "timezone, created_at, updated_at) "
                f"SELECT gen_random_uuid(), :t, :c, 'Site ' || g, g || ' Bench Road', {SCATTER}, "
                "'Asia/Shanghai', now(), now() FROM generate_series(1, :sites) g"
            ),
            params,
        )
        # History (70%: closed/completed, led by someone, scheduled over the past year) and
        # open work (30%: new/triaged/on hold, unassigned) for the map.
        conn.execute(
            text(
                numbered + f"INSERT INTO work_orders ({COLUMNS}) "
                "SELECT gen_random_uuid(), :t, 'WO-B-' || lpad(g::text, 7, '0'), "
                "'Bench order ' || g, '', 'repair', "
                "(ARRAY['low','normal','normal','high','urgent'])[1 + g % 5], 'L2', "
                "CASE WHEN g % 10 < 6 THEN 'closed' WHEN g % 10 = 6 THEN 'completed' "
                "WHEN g % 10 = 7 THEN 'new' WHEN g % 10 = 8 THEN 'triaged' ELSE 'on_hold' END, "
                "'api', '[]'::jsonb, 60, "
                "CASE WHEN g % 10 < 7 THEN :day - (1 + g % 365) * interval '1 day' END, "
                "CASE WHEN g % 10 < 7 THEN :day - (1 + g % 365) * interval '1 day' "
                "+ interval '1 hour' END, "
                "s.customer_id, s.id, CASE WHEN g % 10 < 7 THEN tt.id END, s.location, "
                "'{}'::jsonb, '{}'::jsonb, 1, now(), now(), 1, false, false "
                "FROM generate_series(1, :n) g "
                "JOIN s ON s.rn = 1 + g % :sites JOIN tt ON tt.rn = 1 + g % :techs"
            ),
            params,
        )
        # The planned week: six one-hour visits a day per technician, every 90 minutes from
        # 09:00, within ~2 km of their home base. On the third visit of the day each odd
        # technician is helped by the next (even) one, who has no visit of their own then.
        conn.execute(
            text(
                "WITH s AS (SELECT id, customer_id, row_number() OVER (ORDER BY id) AS rn "
                "FROM sites WHERE tenant_id = :t), "
                "tt AS (SELECT id, home_base, row_number() OVER (ORDER BY name) AS rn "
                "FROM technicians WHERE tenant_id = :t) "
                f"INSERT INTO work_orders ({COLUMNS}) "
                "SELECT gen_random_uuid(), :t, 'WO-W-' || tt.rn || '-' || d || '-' || k, "
                "'Planned visit', '', 'maintenance', 'normal', 'L2', "
                "CASE WHEN d = 0 THEN 'dispatched' ELSE 'scheduled' END, 'api', "
                '\'[{"skill": "hvac", "min_level": 2}]\'::jsonb, 60, '
                ":day + d * interval '1 day' + k * interval '90 minutes', "
                ":day + d * interval '1 day' + k * interval '90 minutes' + interval '1 hour', "
                "s.customer_id, s.id, tt.id, ST_SetSRID(ST_MakePoint("
                "ST_X(tt.home_base) + (random() - 0.5) * 0.04, "
                "ST_Y(tt.home_base) + (random() - 0.5) * 0.03), 4326), "
                "'{}'::jsonb, '{}'::jsonb, 1, now(), now(), 1, false, false "
                "FROM tt CROSS JOIN generate_series(0, 6) d CROSS JOIN generate_series(0, 5) k "
                "JOIN s ON s.rn = 1 + (tt.rn * 7919 + d * 104729 + k * 1299709) % :sites "
                "WHERE NOT (tt.rn % 2 = 0 AND k = 2)"
            ),
            params,
        )
        conn.execute(
            text(
                "WITH tt AS (SELECT id, row_number() OVER (ORDER BY name) AS rn "
                "FROM technicians WHERE tenant_id = :t) "
                "INSERT INTO work_order_helpers (work_order_id, technician_id, tenant_id) "
                "SELECT w.id, nxt.id, :t FROM work_orders w "
                "JOIN tt lead ON lead.id = w.lead_technician_id AND lead.rn % 2 = 1 "
                "JOIN tt nxt ON nxt.rn = lead.rn + 1 "
                "WHERE w.number LIKE 'WO-W-%-2'"
            ),
            params,
        )
        total = conn.execute(text("SELECT count(*) FROM work_orders")).scalar_one()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return {"orders": int(total), "sites": SITES, "seconds": time.perf_counter() - start}


def timed(client: Any, url: str, headers: dict[str, str]) -> tuple[dict[str, float], Any]:
    """p50/p95 over SAMPLES requests after WARMUP; returns the last body too."""
    body = None
    for _ in range(WARMUP):
        r = client.get(url, headers=headers)
        assert r.status_code == 200, (url, r.json)
    timings, cpu = [], []
    for _ in range(SAMPLES):
        start, start_cpu = time.perf_counter(), time.process_time()
        r = client.get(url, headers=headers)
        timings.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert r.status_code == 200, r.json
        body = r.json
    timings.sort()
    return {
        "p50_ms": statistics.median(timings),
        "p95_ms": timings[min(len(timings) - 1, int(round(len(timings) * 0.95)) - 1)],
        # This process's CPU only (Flask + Python work), without the database's share.
        "app_cpu_p50_ms": statistics.median(cpu),
    }, body


def map_plan_uses_index(app: Any, client: Any, url: str, headers: dict[str, str]) -> bool:
    """EXPLAIN the work-order query one map request runs; True when it uses the GiST index."""
    engine = db.engine
    assert engine is not None
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM work_orders" in statement and "ST_X" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        client.get(url, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = seen[-1]
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
    return any(SPATIAL_INDEX in line for line in plan)


def main() -> None:
    """Seed, measure, report."""
    database_name(URL)
    fresh_postgis(URL)
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": URL})
    world = setup(app)
    seeded = seed_orders(world)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world['token']}"}
    week_end = MONDAY + dt.timedelta(days=6)
    cases = {
        "gantt_1_day": f"/api/v1/board/gantt?date_from={MONDAY}&date_to={MONDAY}",
        "gantt_7_days": f"/api/v1/board/gantt?date_from={MONDAY}&date_to={week_end}",
        "map_city_z11": f"/api/v1/board/map?bbox={CITY}&zoom=11",
        "map_district_z15": f"/api/v1/board/map?bbox={DISTRICT}&zoom=15",
    }
    results: dict[str, Any] = {
        "database": "postgresql",
        "seed": seeded,
        "samples": SAMPLES,
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
    }
    for name, url in cases.items():
        figures, body = timed(client, url, headers)
        if name.startswith("gantt"):
            figures["lanes"] = len(body["lanes"])
            figures["jobs"] = sum(len(lane["jobs"]) for lane in body["lanes"])
            figures["conflicts"] = sum(len(lane["conflicts"]) for lane in body["lanes"])
        else:
            kinds: dict[str, int] = {}
            for feature in body["features"]:
                kind = feature["properties"]["kind"]
                kinds[kind] = kinds.get(kind, 0) + 1
            figures["features"] = kinds
            figures["orders_covered"] = sum(
                x["properties"]["count"] if x["properties"]["kind"] == "cluster" else 1
                for x in body["features"]
                if x["properties"]["kind"] != "technician"
            )
            figures["truncated"] = body["truncated"]
            figures["spatial_index_used"] = map_plan_uses_index(app, client, url, headers)
        results[name] = figures
    results["load_average_after"] = os.getloadavg()
    rows = [("seeded orders (s)", f"{seeded['orders']:,} ({seeded['seconds']:.1f} s)")]
    for name in cases:
        r = results[name]
        extra = (
            f"{r['lanes']} lanes, {r['jobs']} jobs"
            if "lanes" in r
            else f"{r['features']}, index={'yes' if r['spatial_index_used'] else 'NO'}"
        )
        figures = f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f} (app CPU {r['app_cpu_p50_ms']:.1f})"
        rows.append((f"{name} p50 / p95 (ms)", f"{figures}  {extra}"))
    load = results["load_average_before"][0], results["load_average_after"][0]
    rows.append(
        ("load average before / after", f"{load[0]:.2f} / {load[1]:.2f} on {os.cpu_count()} CPUs")
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  value")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "board_bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out / 'board_bench.json'}")


if __name__ == "__main__":
    main()
