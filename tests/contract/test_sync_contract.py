"""The sync contract: schemas generated from sync.policy, golden examples from the server.

- The committed JSON Schemas equal what ``mobile_contract.sync_schema`` generates.
- Every golden example validates against its schema.
- A scripted scenario (first pull, a push, office edits, an incremental pull) runs against
  the real server: its payloads validate against the schemas and, masked, equal the golden
  files. ``UPDATE_GOLDENS=1`` rewrites the goldens from the live run (review the diff).
- Bad pushes are refused by the schema and by the server alike.

Masking: ids become ``<uuid:kind:n>`` (numbered in the order the scenario registers them),
server-clock timestamps ``<ms>``, the pull cursor ``<cursor>``. Device and schedule times
are pinned by the scenario and kept.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from geo import Point
from mobile_contract import sync_schema
from server.field.models import WorkOrderNote
from server.parts.models import Part
from server.sync.models import SyncCounter
from sync.policy import MIN_SCHEMA_VERSION, POLICIES, SCHEMA_VERSION, ColumnType
from tests import factories as f

URL = "/api/v1/sync"
V1 = sync_schema.directory(1)
EXAMPLES = V1 / "examples"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"
GOLDEN_SCHEMA = {
    "pull_first": "pull_response",
    "pull_incremental": "pull_response",
    "push_request": "push_request",
    "push_response": "push_response",
}

# Pinned clocks: the orders exist from BASE; the technician works that morning.
BASE = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return BASE + dt.timedelta(hours=hours)


def ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def validator(name: str, version: int = 1) -> Draft202012Validator:
    schema = json.loads((sync_schema.directory(version) / f"{name}.schema.json").read_text())
    return Draft202012Validator(schema)


def schema_errors(name: str, instance: Any, version: int = 1) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(name, version).iter_errors(instance)
    ]


# -- masking ---------------------------------------------------------------------------

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
PLACEHOLDER_RE = re.compile(r"<uuid:[a-z_]+:\d+>")
MS_PLACEHOLDER, CURSOR_PLACEHOLDER = "<ms>", "<cursor>"


@dataclass
class Masker:
    """Turns live payloads into stable golden documents."""

    labels: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    pinned_ms: set[int] = field(default_factory=set)

    def register(self, kind: str, ident: Any) -> str:
        """Give an id a stable placeholder (numbered per kind in registration order)."""
        key = str(ident).lower()
        if key not in self.labels:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            self.labels[key] = f"<uuid:{kind}:{self.counters[kind]}>"
        return self.labels[key]

    def pin(self, *values: dt.datetime) -> None:
        """Times the scenario chose: kept as numbers in the goldens."""
        self.pinned_ms.update(ms(v) for v in values)

    def _text(self, value: str) -> str:
        def label(match: re.Match[str]) -> str:
            found = self.labels.get(match.group(0).lower())
            if found is None:
                raise AssertionError(
                    f"unregistered id {match.group(0)} in a payload: register it in the "
                    "scenario so the goldens stay stable"
                )
            return found

        return UUID_RE.sub(label, value)

    def _value(self, value: Any, column_type: ColumnType | None = None) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, bool) or value is None:
            return value
        if column_type is ColumnType.TIMESTAMP and isinstance(value, int):
            return value if value in self.pinned_ms else MS_PLACEHOLDER
        if isinstance(value, float):
            # Engines may differ in the last bits of a double (PostGIS vs SpatiaLite).
            return round(value, 7)
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        return value

    def record(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        """One raw record, typed by the policy."""
        columns = POLICIES[table].columns
        return {
            k: self._value(v, columns[k].type if k in columns else None) for k, v in record.items()
        }

    def changes(self, changes: dict[str, Any]) -> dict[str, Any]:
        """A changes object; rows sorted by placeholder (the server sorts by random id)."""
        out: dict[str, Any] = {}
        for table, buckets in changes.items():
            out[table] = {}
            for bucket, rows in buckets.items():
                if bucket == "deleted":
                    out[table][bucket] = sorted(self._text(r) for r in rows)
                else:
                    masked = [self.record(table, r) for r in rows]
                    out[table][bucket] = sorted(masked, key=lambda r: _natural(r["id"]))
        return out

    def pull(self, body: dict[str, Any]) -> dict[str, Any]:
        """A pull response."""
        out = {k: self._value(v) for k, v in body.items() if k not in ("changes", "timestamp")}
        out["changes"] = self.changes(body["changes"])
        out["timestamp"] = CURSOR_PLACEHOLDER
        return out

    def push_response(self, body: dict[str, Any]) -> dict[str, Any]:
        """A push response (lists keep the server's order: it is meaningful)."""
        return {k: self._value(v) for k, v in body.items()}


def _natural(label: str) -> tuple[str, int]:
    kind, _, number = label.strip("<>").rpartition(":")
    return kind, int(number) if number.isdigit() else -1


def unmask(value: Any) -> Any:
    """Concrete stand-ins for placeholders, so golden files can be schema-validated."""
    if value == MS_PLACEHOLDER:
        return ms(BASE)
    if value == CURSOR_PLACEHOLDER:
        return 1
    if isinstance(value, str):
        return PLACEHOLDER_RE.sub(lambda m: str(uuid.uuid5(uuid.NAMESPACE_URL, m.group(0))), value)
    if isinstance(value, list):
        return [unmask(v) for v in value]
    if isinstance(value, dict):
        return {k: unmask(v) for k, v in value.items()}
    return value


def render(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def golden(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


# -- the scenario ----------------------------------------------------------------------


def dev(name: str) -> dict[str, str]:
    return {"X-Device-Id": name}


def pull(api: Any, cursor: int | None, device: str = "phone-1") -> Any:
    query = {"last_pulled_at": "null" if cursor is None else cursor, "schema_version": 1}
    r = api.get(URL, query_string=query, headers=dev(device))
    assert r.status_code == 200, r.json
    return r.json


def push(api: Any, changes: Any, cursor: int, device: str = "phone-1", **headers: str) -> Any:
    return api.post(
        f"{URL}?last_pulled_at={cursor}", json=changes, headers={**dev(device), **headers}
    )


def find(body: dict[str, Any], table: str, row_id: Any) -> dict[str, Any]:
    for bucket in ("created", "updated"):
        for record in body["changes"][table][bucket]:
            if record["id"] == str(row_id):
                return dict(record)
    raise AssertionError(f"{table}/{row_id} not in the pull")


def raw(table: str, **values: Any) -> dict[str, Any]:
    """A WatermelonDB raw record as a version-1 app creates it: every column, unset ones null."""
    record: dict[str, Any] = {"id": values.pop("id")}
    record.update({c: values.pop(c, None) for c in POLICIES[table].columns_at(1)})
    assert not values, f"not columns of {table}: {sorted(values)}"
    return {**record, "_status": "created", "_changed": ""}


@dataclass
class Run:
    """What the scenario saw, raw and masked."""

    masker: Masker
    raw: dict[str, Any]

    def masked(self) -> dict[str, Any]:
        m = self.masker
        return {
            "pull_first": m.pull(self.raw["pull_first"]),
            "pull_incremental": m.pull(self.raw["pull_incremental"]),
            "push_request": m.changes(self.raw["push_request"]),
            "push_response": m.push_response(self.raw["push_response"]),
        }


@pytest.fixture()
def scenario(world: Any, session: Any) -> Run:
    """A technician's first sync, an offline work session pushed, office edits, a re-sync."""
    m = Masker()
    m.register("user", world.users["technician"].id)
    m.register("technician", world.tech.id)
    m.register("technician", world.other_tech.id)
    a = world.a

    def place(code: str, name: str, where: Point, address: str) -> tuple[Any, Any]:
        customer = f.make_customer(session, a, code=code, name=name, contacts=[])
        site = f.make_site(session, a, customer, at=where, name=name, address=address)
        m.register("customer", customer.id)
        m.register("site", site.id)
        return customer, site

    def order(number: str, title: str, site: Any, **kw: Any) -> Any:
        wo = f.make_work_order(
            session,
            a,
            site,
            number=number,
            title=title,
            status="dispatched",
            priority="normal",
            lead_technician_id=world.tech.id,
            created_at=BASE,
            **kw,
        )
        m.register("work_order", wo.id)
        return wo

    jinmao, jinmao_site = place(
        "C-JINMAO", "Jinmao Tower", Point(31.2350, 121.5010), "88 Century Avenue"
    )
    unit = f.make_equipment(
        session, a, jinmao_site, name="Elevator 3", serial_number="SN-E3", model="E-100"
    )
    m.register("equipment", unit.id)
    mine = order(
        "WO-C-0001",
        "Elevator 3 door fault",
        jinmao_site,
        equipment_id=unit.id,
        scheduled_start=at(9),
        scheduled_end=at(11),
    )
    _, tower_site = place(
        "C-TOWER", "Shanghai Tower", Point(31.2335, 121.5055), "501 Yincheng Road"
    )
    leaving = order(
        "WO-C-0003", "Escalator noise", tower_site, scheduled_start=at(13), scheduled_end=at(14)
    )
    old_note = WorkOrderNote(
        tenant_id=a.id,
        work_order_id=leaving.id,
        created_by_id=world.users["technician"].id,
        device_id="phone-1",
        occurred_at=at(8),
        body="Customer asked for a morning visit",
    )
    session.add(old_note)
    doomed = order(
        "WO-C-0004",
        "Duplicate of WO-C-0001",
        jinmao_site,
        scheduled_start=at(16),
        scheduled_end=at(17),
    )
    doomed_note = WorkOrderNote(
        tenant_id=a.id,
        work_order_id=doomed.id,
        created_by_id=world.users["technician"].id,
        device_id="phone-1",
        occurred_at=at(8),
        body="Entered twice by the call centre",
    )
    session.add(doomed_note)
    sensor = Part(tenant_id=a.id, sku="DS-1", name="Door sensor", unit_price=Decimal("12.50"))
    session.add(sensor)
    session.commit()
    m.register("note", old_note.id)
    m.register("note", doomed_note.id)
    m.register("part", sensor.id)
    m.pin(BASE, at(8), at(9), at(11), at(13), at(14), at(16), at(17))

    # 1. First sync on the technician's phone.
    first = pull(world.technician, None)
    t0 = first["timestamp"]

    # 2. Offline work pushed as WatermelonDB would: whole raw records with metadata.
    order_id = str(mine.id)

    def device_time(hours: float) -> int:
        m.pin(at(hours))
        return ms(at(hours))

    def event(hours: float, to: str, **extra: Any) -> dict[str, Any]:
        event_id = str(uuid.uuid4())
        m.register("status_event", event_id)
        return raw(
            "status_events",
            id=event_id,
            work_order_id=order_id,
            occurred_at=device_time(hours),
            to_status=to,
            **extra,
        )

    events = [
        event(8.5, "accepted"),
        event(8.75, "en_route"),
        event(8.8, "en_route"),  # tapped twice: superseded, reported, never a failed push
        event(9.1, "on_site", lat=31.2351, lon=121.5011, accuracy_m=6.0),
    ]
    note_id = str(uuid.uuid4())
    m.register("note", note_id)
    edited = find(first, "work_orders", mine.id)
    edited.update(
        technician_notes="Door sensor dirty; cleaned the rail",
        checklist_answers=json.dumps({"doors": "ok", "rail": "cleaned"}, sort_keys=True),
        priority="urgent",  # dispatcher-owned: refused and logged
        status="on_site",  # set locally too; the events already made it so
        _status="updated",
        _changed="technician_notes,checklist_answers,priority,status",
    )
    changes = {
        "work_orders": {"created": [], "updated": [edited], "deleted": []},
        "work_order_notes": {
            "created": [
                raw(
                    "work_order_notes",
                    id=note_id,
                    work_order_id=order_id,
                    occurred_at=device_time(9.5),
                    body="Sensor lens was greasy",
                )
            ],
            "updated": [],
            "deleted": [],
        },
        "status_events": {"created": events, "updated": [], "deleted": []},
    }
    pushed = push(world.technician, changes, t0, **{"Idempotency-Key": "contract-push-1"})
    assert pushed.status_code == 200, pushed.json

    # 3. Meanwhile: the tablet checks in, the office reassigns, assigns, edits.
    check_in = str(uuid.uuid4())
    m.register("check_in", check_in)
    tablet = push(
        world.technician,
        {
            "check_ins": {
                "created": [
                    raw(
                        "check_ins",
                        id=check_in,
                        work_order_id=order_id,
                        occurred_at=device_time(9.05),
                        kind="in",
                        lat=31.2352,
                        lon=121.5012,
                        accuracy_m=8.0,
                    )
                ]
            }
        },
        t0,
        device="tablet",
    )
    assert tablet.status_code == 200, tablet.json
    etag = world.dispatcher.get(f"/api/v1/work-orders/{leaving.id}").headers["ETag"]
    moved = world.dispatcher.patch(
        f"/api/v1/work-orders/{leaving.id}",
        json={"lead_technician_id": str(world.other_tech.id)},
        headers={"If-Match": etag},
    )
    assert moved.status_code == 200, moved.json
    _, swfc_site = place(
        "C-SWFC", "World Financial Center", Point(31.2366, 121.5078), "100 Century Avenue"
    )
    order("WO-C-0002", "Lobby door sticks", swfc_site, scheduled_start=at(15), scheduled_end=at(16))
    m.pin(at(15), at(16))
    # The duplicate order is deleted outright (an administrator's clean-up).
    session.delete(doomed)
    jinmao.notes = "Badge at the security desk"
    roller = Part(tenant_id=a.id, sku="DR-2", name="Door roller", unit_price=Decimal("3.20"))
    session.add(roller)
    session.commit()
    m.register("part", roller.id)

    # 4. The phone's next sync.
    second = pull(world.technician, t0)
    return Run(
        masker=m,
        raw={
            "pull_first": first,
            "push_request": changes,
            "push_response": pushed.json,
            "pull_incremental": second,
        },
    )


# -- tests -----------------------------------------------------------------------------


VERSIONS = range(MIN_SCHEMA_VERSION, SCHEMA_VERSION + 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_committed_schemas_match_policy(version: int) -> None:
    for name, schema in sync_schema.documents(version).items():
        path = sync_schema.directory(version) / f"{name}.schema.json"
        assert path.exists(), f"{path} missing: run `make contract`"
        assert path.read_text() == sync_schema.render(schema), (
            f"sync.policy drifted from {path}: run `make contract` and review the diff"
        )


@pytest.mark.parametrize("version", VERSIONS)
def test_schemas_are_valid_draft_2020_12(version: int) -> None:
    for name in sync_schema.DOCUMENTS:
        path = sync_schema.directory(version) / f"{name}.schema.json"
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_generator_refuses_versions_policy_does_not_describe() -> None:
    with pytest.raises(ValueError):
        sync_schema.documents(MIN_SCHEMA_VERSION - 1)
    with pytest.raises(ValueError):
        sync_schema.documents(SCHEMA_VERSION + 1)


def test_version_2_only_adds() -> None:
    """An older app's documents are a strict subset: versions add, never change or remove."""
    old = sync_schema.documents(1)["pull_response"]["$defs"]
    new = sync_schema.documents(2)["pull_response"]["$defs"]
    assert set(old) < set(new)
    for name, record in old.items():
        if name == "id":
            continue
        for column, schema in record["properties"].items():
            assert new[name]["properties"][column] == schema, (name, column)


def test_live_v2_pulls_validate(world: Any, session: Any) -> None:
    """A first pull and a migration pull of a v2 app match the v2 schema."""
    first = world.technician.get(
        URL, query_string={"last_pulled_at": "null", "schema_version": 2}, headers=dev("p")
    )
    assert schema_errors("pull_response", first.json, 2) == []
    migration = json.dumps({"from": 1, "tables": ["kb_articles"], "columns": []})
    again = world.technician.get(
        URL,
        query_string={
            "last_pulled_at": first.json["timestamp"],
            "schema_version": 2,
            "migration": migration,
        },
        headers=dev("p"),
    )
    assert again.status_code == 200 and schema_errors("pull_response", again.json, 2) == []


def test_main_writes_the_committed_files(tmp_path: Path) -> None:
    written = sync_schema.write(1, root=tmp_path)
    assert sorted(p.name for p in written) == sorted(
        f"{n}.schema.json" for n in sync_schema.DOCUMENTS
    )
    for path in written:
        assert path.read_text() == (V1 / path.name).read_text()


@pytest.mark.parametrize("name", sorted(GOLDEN_SCHEMA))
def test_golden_examples_validate(name: str) -> None:
    assert schema_errors(GOLDEN_SCHEMA[name], unmask(golden(name))) == []


def test_live_payloads_validate_against_schemas(scenario: Run) -> None:
    for name, payload in scenario.raw.items():
        assert schema_errors(GOLDEN_SCHEMA[name], payload) == [], name


def test_live_payloads_match_goldens(scenario: Run) -> None:
    masked = scenario.masked()
    if UPDATE:
        EXAMPLES.mkdir(parents=True, exist_ok=True)
        for name, document in masked.items():
            (EXAMPLES / f"{name}.json").write_text(render(document))
    problems = []
    for name, document in masked.items():
        path = EXAMPLES / f"{name}.json"
        expected = path.read_text() if path.exists() else ""
        if render(json.loads(expected or "null")) != render(document):
            diff = difflib.unified_diff(
                expected.splitlines(), render(document).splitlines(), path.name, "live", n=2
            )
            problems.append("\n".join(diff))
    assert not problems, (
        "the server's sync output changed; if intended, regenerate with "
        "UPDATE_GOLDENS=1 and review:\n" + "\n".join(problems)
    )


def test_goldens_show_every_bucket() -> None:
    """The incremental golden exercises created, updated and deleted (and #649)."""
    body = golden("pull_incremental")["changes"]
    assert body["work_orders"]["created"] and body["work_orders"]["updated"]
    assert body["work_orders"]["deleted"] and body["work_order_notes"]["deleted"]
    # Reassigned away: first as updated with the new lead (deleted once the phone settles).
    leaving = [r for r in body["work_orders"]["updated"] if r["number"] == "WO-C-0003"]
    assert leaving and leaving[0]["lead_technician_id"] != "<uuid:technician:1>"
    # The phone's own note comes back as updated, never created (WatermelonDB #649).
    assert [r["id"] for r in body["work_order_notes"]["updated"]] == ["<uuid:note:3>"]
    assert body["check_ins"]["created"]  # from the other device


def test_replacement_pull_validates(world: Any, session: Any, scenario: Run) -> None:
    t0 = pull(world.technician, None)["timestamp"]
    counter = session.get(SyncCounter, world.a.id)
    counter.pruned_through = t0 + 1
    session.commit()
    body = pull(world.technician, t0)
    assert body["experimentalStrategy"] == "replacement"
    assert schema_errors("pull_response", body) == []


def test_pulled_part_usage_matches_schema(world: Any, session: Any, order_id: str) -> None:
    part = Part(tenant_id=world.a.id, sku="PU-1", name="Fuse")
    session.add(part)
    session.commit()
    t0 = pull(world.technician, None)["timestamp"]
    usage = raw(
        "part_usages",
        id=str(uuid.uuid4()),
        work_order_id=order_id,
        part_id=str(part.id),
        quantity=2,
        used_at=ms(at(9.5)),
    )
    assert schema_errors("push_request", {"part_usages": {"created": [usage]}}) == []
    r = push(world.technician, {"part_usages": {"created": [usage]}}, t0)
    assert r.status_code == 200, r.json
    body = pull(world.technician, t0, device="tablet")
    assert [u["id"] for u in body["changes"]["part_usages"]["created"]] == [usage["id"]]
    assert body["changes"]["part_usages"]["created"][0]["quantity"] == 2
    assert schema_errors("pull_response", body) == []


# -- bad pushes: the schema and the server agree -----------------------------------------

Body = Callable[[str], dict[str, Any]]


def _note(order_id: str, **override: Any) -> dict[str, Any]:
    base = raw(
        "work_order_notes",
        id=str(uuid.uuid4()),
        work_order_id=order_id,
        occurred_at=ms(at(9.5)),
        body="ok",
    )
    return {**base, **override}


def _order_edit(order_id: str, **values: Any) -> dict[str, Any]:
    return {"id": order_id, "_status": "updated", "_changed": ",".join(values), **values}


BAD_PUSHES: dict[str, Body] = {
    "unknown table": lambda o: {"invoices": {"created": [], "updated": [], "deleted": []}},
    "unknown bucket": lambda o: {"work_order_notes": {"moved": []}},
    "unknown column": lambda o: {"work_order_notes": {"created": [_note(o, colour="red")]}},
    "unknown column in _changed": lambda o: {
        "work_orders": {"updated": [{**_order_edit(o), "_changed": "colour"}]}
    },
    "string where a string is expected gets a number": lambda o: {
        "work_order_notes": {"created": [_note(o, body=5)]}
    },
    "timestamp as an ISO string": lambda o: {
        "work_order_notes": {"created": [_note(o, occurred_at="2025-03-10T09:30:00Z")]}
    },
    "negative timestamp": lambda o: {"work_order_notes": {"created": [_note(o, occurred_at=-5)]}},
    "json column as an object": lambda o: {
        "work_orders": {"updated": [_order_edit(o, checklist_answers={"doors": "ok"})]}
    },
    "boolean in a number column": lambda o: {
        "status_events": {
            "created": [
                raw(
                    "status_events",
                    id=str(uuid.uuid4()),
                    work_order_id=o,
                    occurred_at=ms(at(9)),
                    to_status="accepted",
                    lat=True,
                    lon=121.5,
                )
            ]
        }
    },
    "null in a non-nullable column": lambda o: {
        "work_order_notes": {"created": [_note(o, body=None)]}
    },
    "longer than maxLength": lambda o: {
        "work_orders": {"updated": [_order_edit(o, technician_notes="x" * 20_001)]}
    },
    "id not a lowercase UUID": lambda o: {
        "work_order_notes": {"created": [_note(o, id=str(uuid.uuid4()).upper())]}
    },
    "deleted ids not UUIDs": lambda o: {"work_order_notes": {"deleted": ["note-1"]}},
    "write to a read-only table": lambda o: {
        "customers": {"updated": [{"id": str(uuid.uuid4()), "name": "Acme"}]}
    },
    "table not an object": lambda o: {"work_order_notes": "nope"},
}


@pytest.fixture()
def order_id(world: Any, session: Any) -> str:
    customer = f.make_customer(session, world.a)
    site = f.make_site(session, world.a, customer)
    wo = f.make_work_order(
        session, world.a, site, status="dispatched", lead_technician_id=world.tech.id
    )
    session.commit()
    return str(wo.id)


@pytest.mark.parametrize("case", sorted(BAD_PUSHES))
def test_bad_push_is_refused_by_schema_and_server(world: Any, order_id: str, case: str) -> None:
    body = BAD_PUSHES[case](order_id)
    assert schema_errors("push_request", body), f"schema accepted: {case}"
    t0 = pull(world.technician, None)["timestamp"]
    r = push(world.technician, body, t0)
    assert r.status_code == 422 and r.json["code"] == "invalid_push", (case, r.json)


def test_good_push_is_accepted_by_schema_and_server(world: Any, order_id: str) -> None:
    body = {
        "work_order_notes": {"created": [_note(order_id)], "updated": [], "deleted": []},
        "work_orders": {
            "created": [],
            "updated": [_order_edit(order_id, technician_notes="Checked")],
            "deleted": [],
        },
        "customers": {"created": [], "updated": [], "deleted": []},
    }
    assert schema_errors("push_request", body) == []
    t0 = pull(world.technician, None)["timestamp"]
    r = push(world.technician, body, t0)
    assert r.status_code == 200, r.json
    assert schema_errors("push_response", r.json) == []


@pytest.mark.parametrize(
    "case,schema_accepts,server_status",
    [
        # contentMediaType is an annotation: only the server parses the JSON text.
        ("json column holding invalid JSON text", True, 422),
        # The schema wants integer milliseconds; the server tolerates fractions.
        ("fractional timestamp", False, 200),
    ],
)
def test_known_differences_between_schema_and_server(
    world: Any, order_id: str, case: str, schema_accepts: bool, server_status: int
) -> None:
    """Where the two knowingly differ; if one side changes, update the README and this."""
    body = {
        "json column holding invalid JSON text": {
            "work_orders": {"updated": [_order_edit(order_id, checklist_answers="{not json")]}
        },
        "fractional timestamp": {
            "work_order_notes": {"created": [_note(order_id, occurred_at=ms(at(9.5)) + 0.5)]}
        },
    }[case]
    assert (schema_errors("push_request", body) == []) is schema_accepts
    t0 = pull(world.technician, None)["timestamp"]
    assert push(world.technician, body, t0).status_code == server_status
