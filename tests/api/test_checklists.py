"""Checklist templates: CRUD, item validation, isolation, roles, and their use on work orders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.orm import Session

from server.checklists.models import ChecklistTemplate, is_answered
from server.checklists.service import templates_for_sync
from server.db import set_tenant
from server.work_orders.models import WorkOrder
from tests import factories as f

URL = "/api/v1/checklist-templates"
ORDERS = "/api/v1/work-orders"


def items(**overrides: Any) -> list[dict[str, Any]]:
    """A small valid item list: one of each kind."""
    rows: list[dict[str, Any]] = [
        {"key": "brake", "label": "制动器检查 Brake check", "kind": "check", "required": True},
        {
            "key": "levelling_mm",
            "label": "平层误差 Levelling error",
            "kind": "number",
            "required": True,
            "unit": "mm",
            "min": 0,
            "max": 30,
        },
        {"key": "notes", "label": "备注 Notes", "kind": "text"},
        {
            "key": "door",
            "label": "门机状态 Door operator",
            "kind": "choice",
            "choices": ["正常 OK", "需调整 Adjust"],
        },
        {"key": "machine_room", "label": "机房照片 Machine room photo", "kind": "photo"},
    ]
    for row in rows:
        row.update(overrides.get(row["key"], {}))
    return rows


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "电梯半月保养 Elevator fortnightly maintenance",
        "description": "Follow the maker's manual.",
        "order_types": ["maintenance"],
        "equipment_categories": ["elevator"],
        "items": items(),
    }
    data.update(overrides)
    return data


@pytest.fixture()
def template(world: Any) -> dict[str, Any]:
    """One template of tenant A, created through the API."""
    r = world.admin.post(URL, json=body())
    assert r.status_code == 201, r.json
    created: dict[str, Any] = r.json
    return created


# --- create, read, change ---------------------------------------------------------------


def test_create_normalises_items_and_starts_at_version_1(template: dict[str, Any]) -> None:
    assert template["version"] == 1 and template["active"] is True
    assert template["order_types"] == ["maintenance"]
    assert template["equipment_categories"] == ["elevator"]
    by_key = {item["key"]: item for item in template["items"]}
    assert list(by_key) == ["brake", "levelling_mm", "notes", "door", "machine_room"]
    assert by_key["brake"] == {
        "key": "brake",
        "label": "制动器检查 Brake check",
        "kind": "check",
        "required": True,
        "choices": None,
        "unit": None,
        "min": None,
        "max": None,
    }
    assert by_key["levelling_mm"]["min"] == 0 and by_key["levelling_mm"]["max"] == 30
    assert by_key["levelling_mm"]["unit"] == "mm"
    assert by_key["door"]["choices"] == ["正常 OK", "需调整 Adjust"]
    assert by_key["notes"]["required"] is False


def test_defaults_apply_to_any_order(world: Any) -> None:
    r = world.dispatcher.post(URL, json={"name": "  Site safety  ", "items": items()[:1]})
    assert r.status_code == 201, r.json
    assert r.json["name"] == "Site safety" and r.json["description"] == ""
    assert r.json["order_types"] == [] and r.json["equipment_categories"] == []


@pytest.mark.parametrize("role", ["admin", "dispatcher", "agent", "technician"])
def test_every_role_reads(world: Any, template: dict[str, Any], role: str) -> None:
    client = getattr(world, role)
    listed = client.get(URL)
    assert listed.status_code == 200 and [t["id"] for t in listed.json] == [template["id"]]
    one = client.get(f"{URL}/{template['id']}")
    assert one.status_code == 200 and one.json == template


@pytest.mark.parametrize("role", ["agent", "technician"])
def test_only_planners_write(world: Any, template: dict[str, Any], role: str) -> None:
    client = getattr(world, role)
    r = client.post(URL, json=body(name="Other"))
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    r = client.patch(f"{URL}/{template['id']}", json={"active": False})
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    assert world.admin.get(f"{URL}/{template['id']}").json["active"] is True


def test_changing_items_bumps_the_version_and_nothing_else_does(
    world: Any, template: dict[str, Any]
) -> None:
    url = f"{URL}/{template['id']}"
    renamed = world.dispatcher.patch(url, json={"name": "Renamed", "order_types": []})
    assert renamed.status_code == 200 and renamed.json["version"] == 1
    assert renamed.json["order_types"] == []
    same = world.dispatcher.patch(url, json={"items": items()})
    assert same.json["version"] == 1
    changed = world.dispatcher.patch(url, json={"items": items(notes={"required": True})})
    assert changed.status_code == 200 and changed.json["version"] == 2
    assert changed.json["items"][2]["required"] is True
    assert changed.json["updated_at"] >= template["updated_at"]
    shorter = world.admin.patch(url, json={"items": items()[:2]})
    assert shorter.json["version"] == 3 and len(shorter.json["items"]) == 2


def test_deactivate_instead_of_delete(world: Any, template: dict[str, Any]) -> None:
    url = f"{URL}/{template['id']}"
    assert world.admin.delete(url).status_code == 405
    r = world.admin.patch(url, json={"active": False})
    assert r.status_code == 200 and r.json["active"] is False and r.json["version"] == 1
    assert [t["id"] for t in world.admin.get(f"{URL}?active=false").json] == [template["id"]]
    assert world.admin.get(f"{URL}?active=true").json == []
    assert world.admin.patch(url, json={"active": True}).json["active"] is True


def test_list_filters(world: Any) -> None:
    rows = {
        "any": body(name="Any order", order_types=[], equipment_categories=[]),
        "repair": body(name="Repairs", order_types=["repair"], equipment_categories=[]),
        "chiller": body(
            name="Chiller service", order_types=["maintenance"], equipment_categories=["chiller"]
        ),
        "old": body(name="Old repairs", order_types=["repair"], active=False),
    }
    for row in rows.values():
        assert world.admin.post(URL, json=row).status_code == 201

    def names(query: str) -> list[str]:
        r = world.agent.get(f"{URL}?{query}")
        assert r.status_code == 200, r.json
        return [t["name"] for t in r.json]

    assert names("") == ["Any order", "Chiller service", "Old repairs", "Repairs"]
    assert names("order_type=repair") == ["Any order", "Old repairs", "Repairs"]
    assert names("order_type=repair&active=true") == ["Any order", "Repairs"]
    assert names("equipment_category=chiller") == ["Any order", "Chiller service", "Repairs"]
    assert names("equipment_category=elevator&order_type=maintenance") == ["Any order"]
    assert names("q=REPAIR") == ["Old repairs", "Repairs"]
    assert names("sort=-name&active=true") == ["Repairs", "Chiller service", "Any order"]
    bad = world.agent.get(f"{URL}?order_type=cleaning")
    assert bad.status_code == 422 and "order_type" in bad.json["errors"]["query"]
    assert world.agent.get(f"{URL}?sort=items").json["code"] == "invalid_sort"


# --- validation -------------------------------------------------------------------------


def with_item(index: int, **changes: Any) -> list[dict[str, Any]]:
    rows = items()
    rows[index] = {**rows[index], **changes}
    return rows


# (items, index, field, message fragment): rules across an item's fields and between items.
INCONSISTENT = [
    pytest.param(with_item(2, key="brake"), "2", "key", "Duplicate key 'brake'", id="dup-key"),
    pytest.param(
        with_item(3, choices=None), "3", "choices", "non-empty", id="choice-without-choices"
    ),
    pytest.param(with_item(3, choices=[]), "3", "choices", "non-empty", id="choice-empty"),
    pytest.param(
        with_item(3, choices=["a", "b", "a"]), "3", "choices", "unique", id="choice-duplicates"
    ),
    pytest.param(with_item(0, choices=["yes"]), "0", "choices", "Only choice", id="check-choices"),
    pytest.param(with_item(1, min=10, max=5), "1", "max", "greater than", id="min-gt-max"),
    pytest.param(with_item(2, unit="mm"), "2", "unit", "Only number", id="text-unit"),
    pytest.param(with_item(4, min=1), "4", "min", "Only number", id="photo-min"),
]


@pytest.mark.parametrize("rows,index,field,needle", INCONSISTENT)
def test_inconsistent_items_are_refused(
    world: Any, rows: list[dict[str, Any]], index: str, field: str, needle: str
) -> None:
    r = world.admin.post(URL, json=body(items=rows))
    assert r.status_code == 422 and r.json["code"] == "invalid_checklist_items", r.json
    problems = r.json["errors"]["json"]["items"]
    assert list(problems) == [index] and list(problems[index]) == [field], problems
    assert needle in problems[index][field][0]
    assert world.admin.get(URL).json == []


# (items, path into errors.json) for shape errors marshmallow reports per field.
MALFORMED = [
    pytest.param(with_item(0, kind="slider"), ["items", "0", "kind"], id="unknown-kind"),
    pytest.param([*items(), *items()[:1]] * 40, ["items"], id="too-many-items"),
    pytest.param([], ["items"], id="no-items"),
    pytest.param(with_item(0, key="Brake Check"), ["items", "0", "key"], id="key-not-slug"),
    pytest.param(with_item(0, key=""), ["items", "0", "key"], id="key-empty"),
    pytest.param(with_item(0, label="   "), ["items", "0", "label"], id="label-blank"),
    pytest.param([{"key": "a", "kind": "check"}], ["items", "0", "label"], id="label-missing"),
    pytest.param(with_item(0, required="yes"), ["items", "0", "required"], id="required-str"),
    pytest.param(with_item(1, min="5"), ["items", "1", "min"], id="min-string"),
    pytest.param(with_item(1, max=10**400), ["items", "1", "max"], id="max-huge-int"),
    pytest.param(with_item(0, colour="red"), ["items", "0", "colour"], id="unknown-field"),
    pytest.param(with_item(3, choices=["x" * 201]), ["items", "3", "choices"], id="long-choice"),
    pytest.param("not a list", ["items"], id="items-not-list"),
]


@pytest.mark.parametrize("rows,path", MALFORMED)
def test_malformed_items_are_refused(world: Any, rows: Any, path: list[str]) -> None:
    r = world.admin.post(URL, json=body(items=rows))
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    errors = r.json["errors"]["json"]
    for step in path:
        assert step in errors, (step, r.json["errors"])
        errors = errors[step]


def test_two_hundred_items_are_fine(world: Any) -> None:
    rows = [{"key": f"item-{i}", "label": f"Item {i}", "kind": "check"} for i in range(200)]
    r = world.admin.post(URL, json=body(items=rows))
    assert r.status_code == 201 and len(r.json["items"]) == 200


def test_every_inconsistency_is_reported_at_once(world: Any) -> None:
    rows = items()
    rows[2] = {**rows[2], "key": "brake", "unit": "x"}
    rows[3] = {**rows[3], "choices": None}
    rows[1] = {**rows[1], "min": 3, "max": 1}
    r = world.admin.post(URL, json=body(items=rows))
    assert r.status_code == 422 and r.json["code"] == "invalid_checklist_items"
    assert r.json["errors"]["json"]["items"] == {
        "1": {"max": ["max must be greater than or equal to min."]},
        "2": {
            "key": ["Duplicate key 'brake' (also item 0)."],
            "unit": ["Only number items take unit, min and max."],
        },
        "3": {"choices": ["A choice item needs a non-empty list of choices."]},
    }


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"order_types": ["cleaning"]}, "order_types"),
        ({"equipment_categories": ["toaster"]}, "equipment_categories"),
        ({"active": "false"}, "active"),
        ({"version": 7}, "version"),
    ],
)
def test_bad_template_fields(world: Any, payload: dict[str, Any], field: str) -> None:
    r = world.admin.post(URL, json=body(**payload))
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert list(r.json["errors"]["json"]) == [field]


def test_patch_validates_items_the_same_way(world: Any, template: dict[str, Any]) -> None:
    url = f"{URL}/{template['id']}"
    r = world.admin.patch(url, json={"items": with_item(1, min=9, max=1)})
    assert r.status_code == 422 and r.json["code"] == "invalid_checklist_items"
    r = world.admin.patch(url, json={"items": []})
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert world.admin.get(url).json == template


def test_missing_items_on_create(world: Any) -> None:
    r = world.admin.post(URL, json={"name": "No items"})
    assert r.status_code == 422 and list(r.json["errors"]["json"]) == ["items"]


# --- tenants ----------------------------------------------------------------------------


def test_other_tenants_templates_look_absent(world: Any, template: dict[str, Any]) -> None:
    url = f"{URL}/{template['id']}"
    assert world.b_api.get(URL).json == []
    r = world.b_api.get(url)
    assert r.status_code == 404 and r.json["code"] == "not_found"
    assert world.b_api.patch(url, json={"active": False}).status_code == 404
    assert world.admin.get(url).json["active"] is True
    assert world.admin.get(f"{URL}/{uuid.uuid4()}").status_code == 404


@pytest.fixture()
def scoped(world: Any, connection: Any) -> Iterator[Session]:
    """A session bound to tenant A, the way a request's (or a sync pull's) session is."""
    s = Session(bind=connection, join_transaction_mode="create_savepoint")
    set_tenant(s, world.a.id)
    yield s
    s.close()


def test_templates_for_sync_are_the_tenants_active_ones(
    world: Any, template: dict[str, Any], scoped: Session
) -> None:
    other = world.admin.post(URL, json=body(name="Old", active=False)).json
    newer = world.admin.post(URL, json=body(name="Newer")).json
    world.b_api.post(URL, json=body(name="Tenant B's"))
    rows = list(scoped.scalars(templates_for_sync()))
    assert [str(t.id) for t in rows] == [template["id"], newer["id"]]
    assert other["id"] not in {str(t.id) for t in rows}


# --- work orders ------------------------------------------------------------------------


@pytest.fixture()
def place(world: Any, session: Any) -> SimpleNamespace:
    """Tenant A's site with an elevator and a chiller; tenant B's site."""
    customer = f.make_customer(session, world.a)
    site = f.make_site(session, world.a, customer)
    elevator = f.make_equipment(session, world.a, site, category="elevator")
    chiller = f.make_equipment(session, world.a, site, category="chiller")
    session.commit()
    return SimpleNamespace(site=site, elevator=elevator, chiller=chiller)


def new_order(api: Any, place: SimpleNamespace, **extra: Any) -> Any:
    payload = {"title": "Service", "order_type": "maintenance", "site_id": str(place.site.id)}
    payload.update(extra)
    return api.post(ORDERS, json=payload)


def etag(api: Any, order_id: str) -> str:
    return str(api.get(f"{ORDERS}/{order_id}").headers["ETag"])


@pytest.fixture()
def catalogue(world: Any) -> dict[str, str]:
    """Templates of every specificity (created in this order: older first)."""
    specs = {
        "inactive_both": (["maintenance"], ["elevator"], False),
        "any": ([], [], True),
        "type_only": (["maintenance"], [], True),
        "category_only": ([], ["elevator"], True),
        "both": (["maintenance"], ["elevator"], True),
        "both_newer": (["maintenance", "repair"], ["elevator"], True),
        "chiller_repair": (["repair"], ["chiller"], True),
    }
    ids = {}
    for name, (types, categories, active) in specs.items():
        r = world.admin.post(
            URL,
            json=body(name=name, order_types=types, equipment_categories=categories, active=active),
        )
        assert r.status_code == 201, r.json
        ids[name] = r.json["id"]
    return ids


@pytest.mark.parametrize(
    "order_type,unit,expected",
    [
        ("maintenance", "elevator", "both"),  # both lists beat one; the oldest of two wins
        ("repair", "elevator", "both_newer"),
        ("maintenance", None, "type_only"),
        ("inspection", "elevator", "category_only"),
        ("inspection", "chiller", "any"),
        ("repair", "chiller", "chiller_repair"),
        ("installation", None, "any"),
    ],
)
def test_template_is_picked_on_create(
    world: Any,
    place: SimpleNamespace,
    catalogue: dict[str, str],
    order_type: str,
    unit: str | None,
    expected: str,
) -> None:
    extra = {"equipment_id": str(getattr(place, unit).id)} if unit else {}
    r = new_order(world.agent, place, order_type=order_type, **extra)
    assert r.status_code == 201, r.json
    assert r.json["checklist_template_id"] == catalogue[expected]


def test_no_fitting_template_leaves_none(world: Any, place: SimpleNamespace) -> None:
    world.admin.post(URL, json=body(order_types=["repair"], equipment_categories=["elevator"]))
    r = new_order(world.agent, place, equipment_id=str(place.chiller.id))
    assert r.status_code == 201 and r.json["checklist_template_id"] is None
    assert r.json["checklist_missing"] == []


def test_explicit_template_or_null_wins(
    world: Any, place: SimpleNamespace, catalogue: dict[str, str]
) -> None:
    chosen = catalogue["chiller_repair"]  # does not even fit: the caller decides
    r = new_order(world.agent, place, checklist_template_id=chosen)
    assert r.status_code == 201 and r.json["checklist_template_id"] == chosen
    r = new_order(world.agent, place, checklist_template_id=None)
    assert r.status_code == 201 and r.json["checklist_template_id"] is None


def test_unusable_template_ids_are_refused(
    world: Any, place: SimpleNamespace, catalogue: dict[str, str]
) -> None:
    b_template = world.b_api.post(URL, json=body()).json["id"]
    for template_id, code, message in [
        (b_template, "unknown_checklist_template", "Unknown."),
        (str(uuid.uuid4()), "unknown_checklist_template", "Unknown."),
        (catalogue["inactive_both"], "checklist_template_inactive", "Inactive."),
    ]:
        r = new_order(world.agent, place, checklist_template_id=template_id)
        assert r.status_code == 422 and r.json["code"] == code, r.json
        assert r.json["errors"] == {"checklist_template_id": [message]}
    r = new_order(world.agent, place, checklist_template_id="nope")
    assert r.status_code == 422 and "checklist_template_id" in r.json["errors"]["json"]
    assert world.agent.get(ORDERS).json == []


def test_patch_sets_and_clears_the_template(
    world: Any, place: SimpleNamespace, catalogue: dict[str, str]
) -> None:
    order = new_order(world.agent, place, equipment_id=str(place.elevator.id)).json
    url = f"{ORDERS}/{order['id']}"
    b_template = world.b_api.post(URL, json=body()).json["id"]
    r = world.agent.patch(
        url,
        json={"checklist_template_id": b_template},
        headers={"If-Match": etag(world.agent, order["id"])},
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_checklist_template"
    r = world.agent.patch(
        url,
        json={"checklist_template_id": catalogue["inactive_both"]},
        headers={"If-Match": etag(world.agent, order["id"])},
    )
    assert r.status_code == 422 and r.json["code"] == "checklist_template_inactive"
    r = world.agent.patch(
        url,
        json={"checklist_template_id": catalogue["any"]},
        headers={"If-Match": etag(world.agent, order["id"])},
    )
    assert r.status_code == 200 and r.json["checklist_template_id"] == catalogue["any"]
    assert r.json["checklist_missing"] == ["brake", "levelling_mm"]
    r = world.agent.patch(
        url, json={"checklist_template_id": None}, headers={"If-Match": r.headers["ETag"]}
    )
    assert r.status_code == 200 and r.json["checklist_template_id"] is None
    assert r.json["checklist_missing"] == []
    events = world.agent.get(f"{url}/events").json
    assert [e["payload"]["changes"]["checklist_template_id"] for e in events[1:]] == [
        {"from": catalogue["both"], "to": catalogue["any"]},
        {"from": catalogue["any"], "to": None},
    ]


def test_an_inactive_template_stays_on_existing_orders(
    world: Any, place: SimpleNamespace, template: dict[str, Any]
) -> None:
    order = new_order(world.agent, place, equipment_id=str(place.elevator.id)).json
    assert order["checklist_template_id"] == template["id"]
    world.admin.patch(f"{URL}/{template['id']}", json={"active": False})
    r = world.agent.patch(
        f"{ORDERS}/{order['id']}",
        json={"title": "Renamed", "checklist_template_id": template["id"]},
        headers={"If-Match": etag(world.agent, order["id"])},
    )
    assert r.status_code == 200 and r.json["checklist_template_id"] == template["id"]
    later = new_order(world.agent, place, equipment_id=str(place.elevator.id)).json
    assert later["checklist_template_id"] is None


def answer(session: Any, order_id: str, answers: dict[str, Any]) -> None:
    """Write answers the way a sync push does: straight onto the row."""
    row = session.get(WorkOrder, uuid.UUID(order_id))
    row.checklist_answers = answers
    session.commit()


def test_checklist_missing_lists_unanswered_required_items(
    world: Any, session: Any, place: SimpleNamespace, template: dict[str, Any]
) -> None:
    order = new_order(world.agent, place, equipment_id=str(place.elevator.id)).json
    assert order["checklist_missing"] == ["brake", "levelling_mm"]
    other = new_order(world.agent, place, checklist_template_id=None).json
    answer(session, order["id"], {"brake": False, "levelling_mm": "  ", "notes": "ok"})
    one = world.agent.get(f"{ORDERS}/{order['id']}").json
    assert one["checklist_missing"] == ["levelling_mm"]
    answer(session, order["id"], {"brake": True, "levelling_mm": 4.5})
    listed = {o["id"]: o for o in world.agent.get(ORDERS).json}
    assert listed[order["id"]]["checklist_missing"] == []
    assert listed[other["id"]]["checklist_missing"] == []
    # A changed template changes what is missing on orders that use it.
    world.admin.patch(f"{URL}/{template['id']}", json={"items": items(notes={"required": True})})
    assert world.agent.get(f"{ORDERS}/{order['id']}").json["checklist_missing"] == ["notes"]


def test_list_preloads_templates_in_one_query(
    world: Any, connection: Any, place: SimpleNamespace
) -> None:
    def orders_with_own_templates(count: int) -> None:
        for i in range(count):
            template_id = world.admin.post(URL, json=body(name=f"T{i}")).json["id"]
            new_order(world.agent, place, checklist_template_id=template_id)

    orders_with_own_templates(2)
    with f.count_queries(connection) as few:
        assert len(world.agent.get(ORDERS).json) == 2
    orders_with_own_templates(4)
    with f.count_queries(connection) as many:
        orders = world.agent.get(ORDERS).json
    assert len(orders) == 6 and all(o["checklist_missing"] for o in orders)
    assert len(many) == len(few)


def test_completion_is_never_refused_for_missing_answers(
    world: Any, session: Any, place: SimpleNamespace, template: dict[str, Any]
) -> None:
    row = f.make_work_order(
        session,
        world.a,
        place.site,
        order_type="maintenance",
        status="on_site",
        lead_technician_id=world.tech.id,
        scheduled_start=f.aware(2026, 5, 2, 1),
        scheduled_end=f.aware(2026, 5, 2, 3),
        actual_start=f.aware(2026, 5, 2, 1, 30),
        created_at=f.aware(2026, 5, 1),
        checklist_template_id=uuid.UUID(template["id"]),
    )
    session.commit()
    url = f"{ORDERS}/{row.id}"
    assert world.technician.get(url).json["checklist_missing"] == ["brake", "levelling_mm"]
    r = world.technician.post(
        f"{url}/transitions", json={"to": "completed", "resolution_summary": "Done."}
    )
    assert r.status_code == 200, r.json
    assert r.json["status"] == "completed" and r.json["checklist_missing"] == [
        "brake",
        "levelling_mm",
    ]


@pytest.mark.parametrize(
    "value,answered",
    [
        (None, False),
        ("", False),
        ("  ", False),
        ([], False),
        ({}, False),
        (False, True),
        (0, True),
        ("ok", True),
        (["sha"], True),
    ],
)
def test_what_counts_as_an_answer(value: Any, answered: bool) -> None:
    assert is_answered(value) is answered


def test_missing_tolerates_answers_that_are_not_an_object() -> None:
    template = ChecklistTemplate(items=[{"key": "a", "required": True}, {"key": "b"}])
    assert template.missing(["a"]) == ["a"]
    assert template.missing(None) == ["a"]
    assert template.missing({"a": "x"}) == []
