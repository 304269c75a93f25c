"""A real client: WatermelonDB's own ``synchronize()`` against the running server.

The JavaScript side (``tests/e2e/watermelon/``) is an app-shaped WatermelonDB 0.28 setup
in Node: the LokiJS adapter in memory, an ``appSchema`` mirroring ``sync/policy.py``,
decorator-free models, and the ``pullChanges``/``pushChanges`` transport every WatermelonDB
app writes (``X-Device-Id``, one ``Idempotency-Key`` per push attempt, reused on retry).
It is installed from the npm registry on first use (``npm ci``); nothing is vendored.

This module builds a fresh SQLite database (migrations + demo seed) in a temporary
directory, starts ``flask run`` on a free loopback port as a subprocess (stopped by its PID
at the end, whatever happens), and runs the scenarios of ``scenarios.mjs`` in one Node
process. Each scenario creates its own work order through the REST API as a dispatcher,
uses its own technicians and devices (separate in-memory databases), and reports JSON; the
assertions live here, one test per scenario.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sync.policy import POLICIES, ColumnType, tables_at
from tests.e2e.server_process import ServerProcess, build_database

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = Path(__file__).resolve().parent / "watermelon"
NPM_TIMEOUT_S = 600
NODE_TIMEOUT_S = 120

WIRE_TYPES = {
    ColumnType.STRING: "string",
    ColumnType.JSON: "string",
    ColumnType.NUMBER: "number",
    ColumnType.TIMESTAMP: "number",
    ColumnType.BOOLEAN: "boolean",
}


# --- the Node project ------------------------------------------------------------------------
def _pinned_watermelon_version() -> str:
    package = json.loads((JS_DIR / "package.json").read_text())
    return str(package["dependencies"]["@nozbe/watermelondb"])


def _installed_watermelon_version() -> str | None:
    manifest = JS_DIR / "node_modules" / "@nozbe" / "watermelondb" / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def _node_major(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    match = re.match(r"v(\d+)", out.stdout.strip())
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="module")
def node_project() -> Iterator[Path]:
    """The JS project with its dependencies installed (npm ci on first use).

    Concurrent test runs on this checkout (pytest-xdist workers, other sessions) share
    node_modules: installing takes an exclusive lock, using it a shared one.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the WatermelonDB end-to-end test")
    if _node_major(node) < 18:
        pytest.skip("WatermelonDB 0.28 needs Node 18 or later")
    digest = hashlib.sha256(str(JS_DIR).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"fsm-watermelon-npm-{digest}.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_watermelon_version() != _pinned_watermelon_version():
            locked = (JS_DIR / "package-lock.json").exists()
            command = [npm, "ci" if locked else "install", "--no-audit", "--no-fund"]
            result = subprocess.run(
                command,
                cwd=JS_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                check=False,
            )
            if result.returncode != 0:
                pytest.fail(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield JS_DIR


# --- the server --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    """A running server process on loopback."""

    base_url: str
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh migrated and seeded SQLite database, served by ``flask run`` on loopback."""
    workdir = tmp_path_factory.mktemp("watermelondb-e2e")
    with ServerProcess(workdir, build_database(workdir)) as process:
        yield Server(base_url=process.base_url, log=process.log)


# --- running scenarios --------------------------------------------------------------------------
SCENARIOS = (
    "schema_migration",
    "first_sync",
    "different_fields",
    "app_timestamps",
    "same_field",
    "sequential_edits",
    "offline_note",
    "status_events",
    "reassignment",
    "idempotency",
    "deletes",
)
Scenario = Callable[[str], dict[str, Any]]


@pytest.fixture(scope="module")
def reports(node_project: Path, server: Server) -> dict[str, Any]:
    """Run every scenario, in order, in one Node process (they are independent of each
    other: own technicians, own work orders); a crashing scenario is reported, not fatal."""
    env = {
        **os.environ,
        "E2E_BASE_URL": server.base_url,
        "E2E_PASSWORD": "demo-password-2026",
        "E2E_DOMAIN": "shenhu.example",
        "NODE_ENV": "development",
    }
    result = subprocess.run(
        ["node", "scenarios.mjs", *SCENARIOS],
        cwd=node_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        pytest.fail(
            f"scenarios.mjs failed (exit {result.returncode}):\n{result.stderr[-6000:]}"
            f"\n--- server log (tail) ---\n{server.log.read_text()[-4000:]}"
        )
    parsed: dict[str, Any] = json.loads(lines[-1])
    return {"reports": parsed, "stderr": result.stderr, "log": server.log}


@pytest.fixture()
def scenario(reports: dict[str, Any]) -> Scenario:
    """The JSON report of one scenario (the test fails with its stack if it crashed)."""

    def get(name: str) -> dict[str, Any]:
        report: dict[str, Any] = reports["reports"][name]
        if "crashed" in report:
            server_log = reports["log"].read_text()[-4000:]
            pytest.fail(
                f"scenario {name} crashed:\n{report['crashed']}"
                f"\n--- server log (tail) ---\n{server_log}"
            )
        return report

    return get


def _sync_errors(report: dict[str, Any]) -> list[str]:
    return [e["text"][:300] for e in report.get("sync_errors", [])]


# --- the tests -----------------------------------------------------------------------------------
def test_app_schema_mirrors_sync_policy(node_project: Path) -> None:
    """Every table and column of the app schema exists in sync/policy.py with its wire type."""
    out = subprocess.run(
        ["node", "schema.mjs"],
        cwd=node_project,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=True,
    )
    app = json.loads(out.stdout.strip().splitlines()[-1])
    assert app["version"] == 1
    needed = {
        "work_orders",
        "work_order_notes",
        "status_events",
        "check_ins",
        "customers",
        "sites",
        "equipment",
        "parts",
    }
    assert needed <= set(app["tables"])
    assert set(app["tables"]) == set(tables_at(app["version"]))
    for table, columns in app["tables"].items():
        policy = POLICIES[table]
        expected = {
            name: WIRE_TYPES[spec.type] for name, spec in policy.columns_at(app["version"]).items()
        }
        assert columns == {c: expected[c] for c in columns}, table
        # Nothing the server syncs is missing from the app (so pushes carry full rows).
        assert set(columns) == set(expected), table


def test_first_sync_brings_the_technicians_orders_and_their_references(
    scenario: Scenario,
) -> None:
    """(1) tech01's first synchronize(): their orders, referenced rows, exact field values."""
    r = scenario("first_sync")
    assert r["persistence"] == "LokiMemoryAdapter"
    # WatermelonDB applied everything the server sent, and holds nothing unsynced.
    assert r["local"] == r["pulled"]
    assert r["pulled"]["work_orders"] > 0
    assert r["pulled"]["parts"] > 0
    assert r["not_synced"] == []
    rest_ids = {o["id"] for o in r["rest_orders"]}
    open_ids = {o["id"] for o in r["rest_orders"] if o["status"] not in ("closed", "cancelled")}
    device_ids = set(r["device_order_ids"])
    assert open_ids <= device_ids <= rest_ids  # theirs only; every open one
    assert r["dangling"] == []
    assert r["orders_reference_pulled_rows"]
    assert r["all_pulled_parts_active"]
    # Same values as the REST API (times as epoch ms, JSON columns as strings).
    assert r["sample"]["device"] == r["sample"]["rest"]
    # The next sync starts from the cursor, sees nothing new and pushes nothing.
    assert r["second"] == {
        "pushes": 0,
        "last_pulled_at": r["first_timestamp"],
        "changed_rows": 0,
    }
    assert _sync_errors(r) == []


def test_offline_edit_and_office_edit_of_different_fields_both_survive(
    scenario: Scenario,
) -> None:
    """(2) Device edits technician_notes offline, dispatcher PATCHes priority: both kept."""
    r = scenario("different_fields")
    assert r["before"] == {"priority": "normal", "technician_notes": None}
    assert r["local_edit"] == {"_status": "updated", "_changed": "technician_notes"}
    assert r["office_priority"] == "urgent"
    # WatermelonDB merged per column while pulling: remote priority, local notes.
    assert r["resolved_locally"] == [
        {
            "local_priority": "normal",
            "remote_priority": "urgent",
            "resolved_priority": "urgent",
            "resolved_notes": r["notes"],
        }
    ]
    assert r["pushed"][0]["rows"] == [{"id": r["order_id"], "_changed": "technician_notes"}]
    assert r["push_response"]["conflicts"] == []
    assert r["push_response"]["updated"] == {"work_orders": 1}
    both = {"priority": "urgent", "technician_notes": r["notes"]}
    assert r["server_rest_priority"] == "urgent"
    assert r["server_row"] == both
    assert r["device_after_sync"] == {**both, "_status": "synced", "_changed": ""}
    assert r["device_steady"] == r["device_after_sync"]
    assert r["conflicts"] == []
    assert _sync_errors(r) == []


def test_same_field_last_pusher_wins_and_the_conflict_log_keeps_the_loser(
    scenario: Scenario,
) -> None:
    """(3) Lead and helper edit technician_notes offline; the later push wins, logged."""
    r = scenario("same_field")
    assert len(r["helper_ids"]) == 1
    lead_text, helper_text = r["lead_text"], r["helper_text"]
    assert r["lead_push_response"]["conflicts"] == []
    assert r["helper_resolved_locally"] == [
        {"local": helper_text, "remote": lead_text, "resolved": helper_text}
    ]
    assert [
        (c["column"], c["kind"], c["kept"]) for c in r["helper_push_response"]["conflicts"]
    ] == [("technician_notes", "same_field", "device")]
    assert r["server_notes"] == helper_text
    assert r["lead_device_notes"] == helper_text
    assert r["helper_device_notes"] == helper_text
    same_field = [c for c in r["conflicts"] if c["kind"] == "same_field"]
    assert len(same_field) == 1
    assert same_field[0]["column"] == "technician_notes"
    assert same_field[0]["server_value"] == lead_text  # the overwritten value, kept
    assert same_field[0]["device_value"] == helper_text
    assert same_field[0]["device_id"].startswith("e2e-helper-phone-")
    assert _sync_errors(r) == []


def test_sequential_edits_of_one_field_are_not_conflicts(scenario: Scenario) -> None:
    """(3b) The helper received the lead's notes, then appended: no conflict to review.

    The helper's pull-only sync is reported on its next pull (X-Sync-Clean-Through), so the
    server knows the edit was made against the lead's notes.
    """
    r = scenario("sequential_edits")
    assert r["helper_saw"] == "lead: first visit notes"
    assert r["server_notes"] == r["lead_device_notes"]
    assert r["server_notes"].startswith("lead: first visit notes\nhelper:")
    assert r["helper_push_response"]["conflicts"] == []
    assert [c for c in r["conflicts"] if c["kind"] == "same_field"] == []


def test_note_created_offline_keeps_its_id_is_not_echoed_and_reaches_other_devices(
    scenario: Scenario,
) -> None:
    """(4) Insert-if-absent with WatermelonDB's generated id; no #649 duplicate echo."""
    r = scenario("offline_note")
    note_id = r["note_id"]
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", note_id
    )
    assert r["pushed"][0]["created_ids"] == [note_id]
    assert r["pushed"][0]["response"]["inserted"] == {"work_order_notes": 1}
    # Back on the pushing device only as an update (server-stamped columns), never created.
    assert "created" not in r["echo_buckets"]
    assert len(r["phone_notes"]) == 1
    phone_note = r["phone_notes"][0]
    assert phone_note["id"] == note_id
    assert phone_note["_status"] == "synced"
    assert phone_note["device_id"] == r["phone_device_id"]
    assert phone_note["recorded_at"]
    # The technician's other device receives it as a new row.
    assert r["tablet_buckets"] == ["created"]
    assert r["tablet_notes"] == [
        {
            "id": note_id,
            "body": "Offline: customer reports noise at floor 3",
            "occurred_at": r["occurred_at"],
            "device_id": r["phone_device_id"],
            "created_by_id": r["phone_user_id"],
            "_status": "synced",
        }
    ]
    # WatermelonDB's default 16-character ids are refused as a whole (apps must plug a UUID
    # generator into setGenerator, as client.mjs does); nothing is written.
    assert r["default_id_push"]["status"] == 422
    assert r["default_id_push"]["body"]["code"] == "invalid_push"
    assert r["default_id_on_server"] is None
    assert _sync_errors(r) == []


def test_offline_status_events_apply_through_the_lifecycle(scenario: Scenario) -> None:
    """(5) accepted / en_route / on_site pushed as status_events, applied at device time."""
    r = scenario("status_events")
    times = r["times"]
    assert r["pushed_events"] == 3
    response = r["push_response"]
    assert [s["outcome"] for s in response["status_events"]] == ["applied"] * 3
    assert response["inserted"] == {"status_events": 3, "check_ins": 1}
    # The optimistic local status equals the server's after the events: no conflict.
    assert response["conflicts"] == []
    assert r["conflicts"] == []
    assert r["rest"] == {"status": "on_site", "actual_start": times["on_site"]}
    moves = [h for h in r["history"] if h["actor_role"] == "technician"]
    assert [(h["to"], h["occurred_at"]) for h in moves] == [
        ("accepted", times["accepted"]),
        ("en_route", times["en_route"]),
        ("on_site", times["on_site"]),
    ]
    assert moves[-1]["location"] is not None
    assert r["device_order"] == {
        "status": "on_site",
        "actual_start": times["on_site"],
        "_status": "synced",
    }
    assert r["device_events"] == [
        {
            "to_status": to,
            "occurred_at": times[to],
            "outcome": "applied",
            "outcome_code": None,
            "_status": "synced",
        }
        for to in ("accepted", "en_route", "on_site")
    ]
    assert r["device_check_in"]["within_geofence"] is True
    assert r["device_check_in"]["distance_m"] < 50
    assert _sync_errors(r) == []


def test_reassignment_moves_the_order_out_of_one_device_and_into_another(
    scenario: Scenario,
) -> None:
    """(6) Dispatcher reassigns: gone from the old lead's device, created on the new one's.

    In two steps, so an edit the old device made offline survives: first the order arrives
    as updated (WatermelonDB keeps the locally changed column) and the edit is pushed; the
    next sync, settled by that push, deletes it.
    """
    r = scenario("reassignment")
    assert r["site_free"]
    assert r["before"] == {"order": True, "note": True, "site": True}
    assert r["status_after_reassign"] == "scheduled"
    assert r["a_first"] == {
        "order": ["updated"],
        "note": [],
        "kept": {
            "lead_technician_id": r["new_lead"],
            "technician_notes": "A: relay replaced offline",
            "_status": "synced",
        },
        "pushed": {"work_orders": 1},
    }
    assert r["a_buckets"] == {"order": ["deleted"], "note": ["deleted"], "site": ["deleted"]}
    assert r["a_after"] == {"order": None, "note": None, "site": None}
    assert r["b_buckets"] == {"order": ["created"], "note": ["created"], "site": ["created"]}
    assert r["b_notes"] == "A: relay replaced offline"
    assert r["b_after"] == {
        "order": {"lead_technician_id": r["new_lead"], "status": "scheduled", "_status": "synced"},
        "note": {"body": "Parts ordered, back tomorrow", "_status": "synced"},
        "site": True,
    }
    assert _sync_errors(r) == []


def test_replayed_pushes_have_one_effect(scenario: Scenario) -> None:
    """(7) Same Idempotency-Key: stored answer, applied once (by hand and via synchronize)."""
    r = scenario("idempotency")
    manual = r["manual"]
    first, replay = manual["first"], manual["replay"]
    assert first["status"] == 200
    assert first["body"]["inserted"] == {"work_order_notes": 1, "status_events": 1}
    assert [s["outcome"] for s in first["body"]["status_events"]] == ["applied"]
    assert replay == first  # the stored answer, not a second application
    assert manual["reused_key_other_body"]["status"] == 422
    assert manual["reused_key_other_body"]["body"]["code"] == "idempotency_key_reused"
    # A new key with the same rows: append-only rows are insert-if-absent.
    again = manual["same_rows_new_key"]["body"]
    assert again["inserted"] == {}
    assert again["status_events"] == []
    assert again["unchanged"] == {"work_order_notes": 1, "status_events": 1}
    # synchronize() whose first answer was lost: the retry reused the key, got the answer.
    lost = r["lost_response"]
    assert lost["error"] is None
    assert lost["note_status"] == "synced"
    assert [a.get("lost", False) for a in lost["push"]["attempts"]] == [True, False]
    assert lost["push"]["response"]["inserted"] == {"work_order_notes": 1}
    # synchronize() that gave up after the server applied: the next one re-pushes, no-op.
    abandoned = r["abandoned"]
    assert "simulated network failure" in abandoned["error"]
    assert abandoned["status_after_failure"] == "created"
    assert abandoned["retry_push"]["key"] != abandoned["first_push"]["key"]
    assert abandoned["retry_push"]["response"]["inserted"] == {}
    assert abandoned["retry_push"]["response"]["unchanged"] == {"work_order_notes": 1}
    assert abandoned["note_status"] == "synced"
    # One effect each: three notes once, one 'accepted', nothing for the office to review.
    assert sorted(r["server_note_ids"]) == sorted(r["note_ids"].values())
    assert r["server_status"] == "accepted"
    assert r["accepted_events"] == 1
    assert r["conflicts"] == []
    assert r["local_notes"] == 3
    assert _sync_errors(r) == []


def test_local_delete_is_refused_and_restored_on_the_next_pull(scenario: Scenario) -> None:
    """(8) markAsDeleted() of an order and a note: refused, logged, back after the next sync."""
    r = scenario("deletes")
    assert r["locally_deleted"] == [r["order_id"]]
    assert r["pushed_deleted"] == {
        "work_orders": [r["order_id"]],
        "work_order_notes": [r["note_id"]],
    }
    refused = {(c["table"], c["id"], c["kind"]) for c in r["push_response"]["conflicts"]}
    assert refused == {
        ("work_orders", r["order_id"], "delete_refused"),
        ("work_order_notes", r["note_id"], "delete_refused"),
    }
    # WatermelonDB destroys pushed deletions; the server's next pull brings them back.
    assert r["after_push"] == {"order": None, "note": None}
    assert "deleted" not in r["restore_buckets"]["order"]
    assert r["restored"] == {**r["original"], "_status": "synced"}
    assert r["restored_note"] == {
        "body": "a note that will be deleted locally",
        "_status": "synced",
    }
    assert r["rest"] == {"status": "dispatched", "title": "E2E deletes"}
    assert [c["kind"] for c in r["conflicts"]] == ["delete_refused"]
    assert [c["kind"] for c in r["note_conflicts"]] == ["delete_refused"]
    # The restore arrives as 'updated' for rows the device no longer has; WatermelonDB
    # recreates them and logs "doesn't exist locally ... Will create record instead".
    # Anything else logged by WatermelonDB would be a real problem.
    for warning in r["restore_warnings"]:
        assert "doesn't exist locally" in warning, warning
        assert r["order_id"] in warning or r["note_id"] in warning, warning
    assert r["sync_errors_after_restore"] == 0


def test_app_declaring_updated_at_gets_no_conflict_log_noise(scenario: Scenario) -> None:
    """(2b) WatermelonDB's own updated_at bookkeeping is not a conflict for the office."""
    r = scenario("app_timestamps")
    assert r["local_changed"] == "updated_at,technician_notes"
    assert r["server_notes"] == "edited in an app that declares updatedAt"
    assert r["device"]["_status"] == "synced"
    assert r["push_response"]["conflicts"] == []
    assert r["conflicts"] == []


def test_app_upgrade_migrates_and_the_migration_sync_fills_new_tables(scenario: Scenario) -> None:
    """(12) Schema 1 -> 2 with WatermelonDB migrations: new tables filled, nothing lost."""
    r = scenario("schema_migration")
    assert not {"checklist_templates", "kb_articles", "van_stock"} & set(r["v1_tables"])
    assert r["v2_schema_version"] == 2
    assert r["migration"] == {
        "from": 1,
        "tables": ["checklist_templates", "kb_articles", "van_stock"],
        "columns": [
            {"table": "work_orders", "columns": ["checklist_template_id", "due_at"]},
            {"table": "part_usages", "columns": ["removed_serial_numbers", "removed_quantity"]},
        ],
    }
    # Every active template arrives as created; the demo data has some.
    assert r["server_templates"] and r["local_templates"] == r["server_templates"]
    assert r["template_buckets"]["created"] == len(r["server_templates"])
    assert r["local_kb"] > 0
    # The order came again in full with its new columns, and its values match the server.
    assert r["order_bucket"] == ["updated"] and r["order_has_new_columns"]
    assert r["order_template"] == r["server_order_template"]
    # The edit made on version 1 and not yet pushed survived the upgrade and reached the server.
    assert r["pushed"] == {"work_orders": 1}
    assert r["server_notes"] == "written on version 1"
    assert _sync_errors(r) == []
