"""Sync benchmark on PostgreSQL: prints a table and writes bench/results/sync_bench.json.

Measures, in one process against one database:
- pull latency (p50/p99) for one changed row with ~10k and ~1M rows in the database;
- push throughput with 16 concurrent devices, as a ratio to plain SQLAlchemy inserts of
  the same rows by 16 threads in the same run;
- initial (full) sync time for a technician with 200 work orders.

Requests go through the real Flask stack in-process (test client), so figures include
routing, auth, validation, merge and serialisation but not a network hop.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1/fsm_bench python bench/sync_bench.py
(the database is wiped). BENCH_QUICK=1 uses 100k instead of 1M rows.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.database import fresh_postgis  # noqa: E402
from geo import Point  # noqa: E402
from server import create_app  # noqa: E402
from server.auth.security import issue_access_token  # noqa: E402
from server.db import db, set_tenant  # noqa: E402
from server.field.models import WorkOrderNote  # noqa: E402
from server.sync.feed import sequence  # noqa: E402
from server.work_orders.models import WorkOrder  # noqa: E402
from tests import factories as f  # noqa: E402

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/fsm_bench")
BIG = 100_000 if os.environ.get("BENCH_QUICK") else 1_000_000
DEVICES, PUSHES, NOTES_PER_PUSH = 16, 30, 20
SAMPLES = 60


def setup(app: Any) -> dict[str, Any]:
    """A tenant, 16 technicians with users, tech 0 holding 200 orders with notes."""
    with app.app_context(), Session(db.engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s)
        customer = f.make_customer(s, tenant)
        site = f.make_site(s, tenant, customer, at=Point(31.23, 121.47))
        techs = []
        for i in range(DEVICES):
            user = f.make_user(s, tenant, "technician", password_hash="x")
            techs.append((user, f.make_technician(s, tenant, user, name=f"Tech {i}")))
        orders = []
        for _ in range(200):
            order = f.make_work_order(
                s,
                tenant,
                site,
                status="dispatched",
                lead_technician_id=techs[0][1].id,
                scheduled_start=f.aware(2026, 11, 23, 1),
                scheduled_end=f.aware(2026, 11, 23, 2),
            )
            orders.append(order)
        s.flush()
        for order in orders:
            for k in range(3):
                s.add(
                    WorkOrderNote(
                        id=uuid.uuid4(),
                        tenant_id=tenant.id,
                        work_order_id=order.id,
                        body=f"note {k}",
                        occurred_at=f.aware(2026, 11, 23, 1),
                    )
                )
        # One order per other technician, for their pushes.
        pushes_to = {}
        for user, tech in techs[1:]:
            pushes_to[user.id] = f.make_work_order(
                s,
                tenant,
                site,
                status="dispatched",
                lead_technician_id=tech.id,
                scheduled_start=f.aware(2026, 11, 23, 1),
                scheduled_end=f.aware(2026, 11, 23, 2),
            )
        filler = f.make_work_order(s, tenant, site)
        s.commit()
        tokens = {}
        for user, _tech in techs:
            token, _ = issue_access_token(user_id=user.id, tenant_id=tenant.id, role="technician")
            tokens[user.id] = token
        return {
            "tenant": tenant.id,
            "tech0": techs[0][0].id,
            "orders": [o.id for o in orders],
            "tokens": tokens,
            "push_orders": {u: o.id for u, o in pushes_to.items()},
            "filler": filler.id,
        }


def grow(world: dict[str, Any], total: int) -> None:
    """Bring notes and change-log rows up to ``total`` each with set-based SQL."""
    engine = db.engine
    assert engine is not None
    with engine.begin() as conn:
        have = conn.execute(text("SELECT count(*) FROM work_order_notes")).scalar_one()
        need = max(total - have, 0)
        if need == 0:
            return
        conn.execute(
            text(
                "INSERT INTO work_order_notes (id, tenant_id, work_order_id, body, occurred_at, "
                "recorded_at) SELECT gen_random_uuid(), :t, :o, 'filler', now(), now() "
                "FROM generate_series(1, :n)"
            ),
            {"t": world["tenant"], "o": world["filler"], "n": need},
        )
        conn.execute(
            text(
                "INSERT INTO sync_changes (tenant_id, table_name, row_id, op, columns, changed_at) "
                "SELECT :t, 'work_order_notes', gen_random_uuid(), 'insert', '[]'::jsonb, now() "
                "FROM generate_series(1, :n)"
            ),
            {"t": world["tenant"], "n": need},
        )
    # Old history is numbered history: sequence it once, then VACUUM as autovacuum would in
    # steady state (numbering leaves dead entries in the partial "unsequenced" index).
    with Session(engine) as s:
        set_tenant(s, world["tenant"])
        sequence(s, world["tenant"])
        s.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def client_for(app: Any, world: dict[str, Any], user_id: Any, device: str) -> Any:
    """A test client signed in as one technician's device."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world['tokens'][user_id]}", "X-Device-Id": device}
    return client, headers


def pull_latency(app: Any, world: dict[str, Any]) -> dict[str, float]:
    """p50/p99 of an incremental pull that returns exactly one changed order."""
    client, headers = client_for(app, world, world["tech0"], "bench-phone")
    cursor = client.get("/api/v1/sync?last_pulled_at=null", headers=headers).json["timestamp"]
    timings = []
    for i in range(SAMPLES):
        with app.app_context(), Session(db.engine) as s:
            set_tenant(s, world["tenant"])
            order = s.get(WorkOrder, world["orders"][i % len(world["orders"])])
            assert order is not None
            order.technician_notes = f"changed {i} {time.time()}"
            s.commit()
        start = time.perf_counter()
        r = client.get(f"/api/v1/sync?last_pulled_at={cursor}", headers=headers)
        timings.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, r.json
        assert len(r.json["changes"]["work_orders"]["updated"]) == 1
        cursor = r.json["timestamp"]
    timings.sort()
    return {
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))],
    }


def initial_sync(app: Any, world: dict[str, Any]) -> dict[str, float]:
    """Full pull of a technician with 200 orders (and their notes and references)."""
    client, headers = client_for(app, world, world["tech0"], "new-phone")
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        r = client.get("/api/v1/sync?last_pulled_at=null", headers=headers)
        runs.append((time.perf_counter() - start) * 1000)
        assert len(r.json["changes"]["work_orders"]["created"]) == 200
    return {"median_ms": statistics.median(runs), "orders": 200}


def _note(order_id: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "work_order_id": str(order_id),
        "body": "bench",
        "occurred_at": int(time.time() * 1000) - 60_000,
    }


def push_throughput(app: Any, world: dict[str, Any]) -> dict[str, float]:
    """Rows/s through POST /sync with 16 devices vs plain inserts by 16 threads."""
    users = list(world["push_orders"])
    devices = users[: DEVICES - 1] + users[:1]  # 16 devices over 15 technicians
    errors: list[str] = []

    def device(user_id: Any, index: int) -> None:
        client, headers = client_for(app, world, user_id, f"bench-{index}")
        cursor = client.get("/api/v1/sync?last_pulled_at=null", headers=headers).json["timestamp"]
        for p in range(PUSHES):
            notes = [_note(world["push_orders"][user_id]) for _ in range(NOTES_PER_PUSH)]
            r = client.post(
                f"/api/v1/sync?last_pulled_at={cursor}",
                json={"work_order_notes": {"created": notes}},
                headers={**headers, "Idempotency-Key": f"{index}-{p}"},
            )
            if r.status_code != 200:
                errors.append(str(r.json))

    def plain(user_id: Any) -> None:
        with app.app_context(), Session(db.engine) as s:
            set_tenant(s, world["tenant"])
            for _ in range(PUSHES):
                s.add_all(
                    WorkOrderNote(
                        id=uuid.uuid4(),
                        work_order_id=world["push_orders"][user_id],
                        body="bench",
                        occurred_at=f.aware(2026, 11, 23, 1),
                    )
                    for _ in range(NOTES_PER_PUSH)
                )
                s.commit()

    def timed(target: Any, args: list[tuple[Any, ...]]) -> float:
        threads = [threading.Thread(target=target, args=a) for a in args]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start

    rows = len(devices) * PUSHES * NOTES_PER_PUSH
    base_s = timed(plain, [(u,) for u in devices])
    sync_s = timed(device, [(u, i) for i, u in enumerate(devices)])
    if errors:
        raise SystemExit(f"push errors: {errors[:3]}")
    return {
        "rows": rows,
        "sync_rows_per_s": rows / sync_s,
        "plain_rows_per_s": rows / base_s,
        "ratio_to_plain": (rows / sync_s) / (rows / base_s),
    }


def main() -> None:
    """Run every measurement and report."""
    fresh_postgis(URL)
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": URL})
    world = setup(app)
    results: dict[str, Any] = {"database": "postgresql", "big_rows": BIG}
    grow(world, 10_000)
    results["pull_10k"] = pull_latency(app, world)
    results["initial_sync_200_orders"] = initial_sync(app, world)
    grow(world, BIG)
    results["pull_big"] = pull_latency(app, world)
    results["push_16_devices"] = push_throughput(app, world)
    results["pull_flatness_ratio_p50"] = (
        results["pull_big"]["p50_ms"] / results["pull_10k"]["p50_ms"]
    )
    rows = [
        (
            "pull p50 / p99, 10k rows (ms)",
            f"{results['pull_10k']['p50_ms']:.1f} / {results['pull_10k']['p99_ms']:.1f}",
        ),
        (
            f"pull p50 / p99, {BIG:,} rows (ms)",
            f"{results['pull_big']['p50_ms']:.1f} / {results['pull_big']['p99_ms']:.1f}",
        ),
        ("pull p50 ratio big/10k", f"{results['pull_flatness_ratio_p50']:.2f}"),
        ("initial sync, 200 orders (ms)", f"{results['initial_sync_200_orders']['median_ms']:.0f}"),
        ("push rows/s, 16 devices", f"{results['push_16_devices']['sync_rows_per_s']:.0f}"),
        (
            "plain SQLAlchemy rows/s, 16 threads",
            f"{results['push_16_devices']['plain_rows_per_s']:.0f}",
        ),
        ("push / plain ratio", f"{results['push_16_devices']['ratio_to_plain']:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  value")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sync_bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out / 'sync_bench.json'}")


if __name__ == "__main__":
    main()
