"""Work orders: create/list/get/patch with ETags, lifecycle transitions, history, isolation."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from geo import Point, haversine_m
from server.organization.models import CustomFieldDefinition
from tests import factories as f

BASE = "/api/v1/work-orders"


@pytest.fixture()
def place(world: Any, session: Any) -> Any:
    """A customer with a site and a unit in tenant A, one skill, one custom field."""
    from types import SimpleNamespace

    customer = f.make_customer(session, world.a)
    site = f.make_site(session, world.a, customer, at=Point(31.2304, 121.4737))
    far_site = f.make_site(session, world.a, customer, at=Point(31.10, 121.70))
    unit = f.make_equipment(session, world.a, site)
    skill = f.make_skill(session, world.a, "elevator_mech")
    session.add(
        CustomFieldDefinition(
            tenant_id=world.a.id,
            entity="work_order",
            key="floor",
            label="Floor",
            field_type="integer",
            required=False,
        )
    )
    b_customer = f.make_customer(session, world.b)
    b_site = f.make_site(session, world.b, b_customer)
    session.commit()
    return SimpleNamespace(
        customer=customer, site=site, far_site=far_site, unit=unit, skill=skill, b_site=b_site
    )


def create(api: Any, place: Any, **extra: Any) -> Any:
    body = {
        "title": "Elevator stuck on floor 3",
        "order_type": "repair",
        "site_id": str(place.site.id),
        **extra,
    }
    return api.post(BASE, json=body)


def move(api: Any, order: dict[str, Any], to: str, **extra: Any) -> Any:
    return api.post(f"{BASE}/{order['id']}/transitions", json={"to": to, **extra})


def test_create_numbers_orders_and_records_created_event(world: Any, place: Any) -> None:
    r = create(
        world.agent,
        place,
        priority="high",
        equipment_id=str(place.unit.id),
        required_skills=[{"skill": "elevator_mech", "min_level": 3}],
        custom_fields={"floor": 3},
        channel="phone",
    )
    assert r.status_code == 201, r.json
    order = r.json
    year = dt.datetime.now(dt.UTC).year
    assert order["number"] == f"WO-{year}-000001"
    assert order["status"] == "new" and order["customer_id"] == str(place.customer.id)
    assert order["location"] == {"lat": pytest.approx(31.2304), "lon": pytest.approx(121.4737)}
    assert r.headers["ETag"] and r.headers["Location"].endswith(order["id"])
    second = create(world.dispatcher, place)
    assert second.json["number"] == f"WO-{year}-000002"
    events = world.agent.get(f"{BASE}/{order['id']}/events").json
    assert [(e["event_type"], e["to_status"]) for e in events] == [("created", "new")]
    assert events[0]["actor_user_id"] == str(world.users["agent"].id)


def test_numbers_are_per_tenant(world: Any, place: Any) -> None:
    a = create(world.agent, place).json["number"]
    b = world.b_api.post(
        BASE, json={"title": "x", "order_type": "repair", "site_id": str(place.b_site.id)}
    )
    assert b.status_code == 201 and b.json["number"] == a


@pytest.mark.parametrize(
    "extra,code,field",
    [
        ({"required_skills": [{"skill": "juggling"}]}, "unknown_skill", None),
        ({"custom_fields": {"floor": "three"}}, "invalid_custom_fields", None),
        ({"custom_fields": {"colour": "red"}}, "invalid_custom_fields", None),
        (
            {
                "requested_start": "2026-05-02T10:00:00+08:00",
                "requested_end": "2026-05-02T09:00:00+08:00",
            },
            "validation_error",
            "requested_end",
        ),
        ({"requested_start": "2026-05-02T10:00:00"}, "validation_error", "requested_start"),
        ({"estimated_duration_minutes": "60"}, "validation_error", "estimated_duration_minutes"),
        ({"priority": "whenever"}, "validation_error", "priority"),
        ({"surprise": 1}, "validation_error", "surprise"),
        (
            {"lead_technician_id": "00000000-0000-0000-0000-000000000000"},
            "unknown_technician",
            None,
        ),
    ],
)
def test_create_rejects_bad_input(
    world: Any, place: Any, extra: dict[str, Any], code: str, field: str | None
) -> None:
    r = create(world.agent, place, **extra)
    assert r.status_code == 422, r.json
    assert r.json["code"] == code
    if field:
        assert field in r.json["errors"]["json"]
    assert world.agent.get(BASE).json == []


def test_create_rejects_foreign_site_and_equipment_elsewhere(
    world: Any, place: Any, session: Any
) -> None:
    r = world.agent.post(
        BASE, json={"title": "x", "order_type": "repair", "site_id": str(place.b_site.id)}
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_site"
    other_unit = f.make_equipment(session, world.a, place.far_site)
    session.commit()
    r = create(world.agent, place, equipment_id=str(other_unit.id))
    assert r.status_code == 422 and r.json["code"] == "equipment_not_at_site"


def test_malformed_json_and_oversized_body(world: Any, place: Any, app: Any) -> None:
    r = world.agent.post(BASE, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["code"] == "malformed_json"
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    r = create(world.agent, place, description=big)
    assert r.status_code == 413 and r.json["code"] == "payload_too_large"


def test_full_lifecycle_with_events(world: Any, place: Any) -> None:
    order = create(world.agent, place).json
    assert move(world.agent, order, "triaged").status_code == 200
    # Scheduling needs a lead and a window; it can ride along with the transition.
    r = move(world.dispatcher, order, "scheduled")
    assert r.status_code == 422 and r.json["code"] == "transition_requirements_missing"
    assert set(r.json["missing"]) == {"lead_technician", "schedule"}
    r = move(
        world.dispatcher,
        order,
        "scheduled",
        lead_technician_id=str(world.tech.id),
        scheduled_start="2026-05-02T09:00:00+08:00",
        scheduled_end="2026-05-02T11:00:00+08:00",
    )
    assert r.status_code == 200, r.json
    assert r.json["lead_technician_id"] == str(world.tech.id)
    assert move(world.dispatcher, order, "dispatched").status_code == 200
    # Another technician cannot see it at all.
    assert move(world.other_technician, order, "accepted").status_code == 404
    assert move(world.technician, order, "accepted").status_code == 200
    assert move(world.technician, order, "en_route").status_code == 200
    r = move(
        world.technician,
        order,
        "on_site",
        location={"lat": 31.2305, "lon": 121.4738},
        accuracy_m=8.5,
    )
    assert r.status_code == 200 and r.json["actual_start"] is not None
    r = move(world.technician, order, "completed")
    assert r.status_code == 422 and r.json["missing"] == ["resolution_summary"]
    r = move(world.technician, order, "completed", resolution_summary="Replaced door sensor.")
    assert r.status_code == 200 and r.json["actual_end"] is not None
    assert r.json["resolution_summary"] == "Replaced door sensor."
    assert move(world.technician, order, "closed").status_code == 403
    assert move(world.agent, order, "closed").status_code == 200
    r = move(world.agent, order, "reopened", reason="Customer reports it stuck again")
    assert r.status_code == 200
    events = world.dispatcher.get(f"{BASE}/{order['id']}/events?page_size=100").json
    path = [
        (e["from_status"], e["to_status"]) for e in events if e["event_type"] == "status_changed"
    ]
    assert path == [
        ("new", "triaged"),
        ("triaged", "scheduled"),
        ("scheduled", "dispatched"),
        ("dispatched", "accepted"),
        ("accepted", "en_route"),
        ("en_route", "on_site"),
        ("on_site", "completed"),
        ("completed", "closed"),
        ("closed", "reopened"),
    ]
    on_site = next(e for e in events if e["to_status"] == "on_site")
    assert on_site["location"] == {"lat": 31.2305, "lon": 121.4738}
    assert on_site["location_accuracy_m"] == 8.5
    assert on_site["actor_role"] == "technician"


def test_illegal_transition_is_409_with_code_and_nothing_written(world: Any, place: Any) -> None:
    order = create(world.agent, place).json
    r = move(world.agent, order, "closed")
    assert r.status_code == 409 and r.json["code"] == "invalid_transition"
    assert "triaged" in r.json["allowed"]
    r = move(world.agent, order, "flying")
    assert r.status_code == 422
    got = world.agent.get(f"{BASE}/{order['id']}")
    assert got.json["status"] == "new" and got.json["version"] == order["version"]
    assert len(world.agent.get(f"{BASE}/{order['id']}/events").json) == 1


def test_hold_and_cancel_need_reasons(world: Any, place: Any) -> None:
    order = create(world.agent, place).json
    r = move(world.agent, order, "on_hold")
    assert r.status_code == 422 and r.json["missing"] == ["hold_reason"]
    r = move(world.agent, order, "on_hold", hold_reason="parts")
    assert r.status_code == 200 and r.json["hold_reason"] == "parts"
    r = move(world.agent, order, "triaged")
    assert r.status_code == 200 and r.json["hold_reason"] is None
    assert move(world.agent, order, "cancelled").status_code == 422
    r = move(world.agent, order, "cancelled", reason="Duplicate of another order")
    assert r.status_code == 200 and r.json["cancel_reason"] == "Duplicate of another order"
    r = world.agent.patch(
        f"{BASE}/{order['id']}", json={"title": "x"}, headers={"If-Match": r.headers["ETag"]}
    )
    assert r.status_code == 409 and r.json["code"] == "order_closed"


def test_future_device_time_is_refused(world: Any, place: Any) -> None:
    order = create(world.agent, place).json
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    r = move(world.agent, order, "triaged", occurred_at=future)
    assert r.status_code == 422 and r.json["code"] == "occurred_at_in_future"


def test_possible_transitions_for_caller(world: Any, place: Any) -> None:
    order = create(world.agent, place).json
    options = {o["to"]: o for o in world.agent.get(f"{BASE}/{order['id']}/transitions").json}
    assert options["triaged"]["allowed"] is True
    assert options["scheduled"]["code"] == "transition_forbidden_for_role"
    options = {o["to"]: o for o in world.dispatcher.get(f"{BASE}/{order['id']}/transitions").json}
    assert options["scheduled"]["missing"] == ["lead_technician", "schedule"]


def test_patch_requires_if_match_and_rejects_stale(world: Any, place: Any) -> None:
    created = create(world.agent, place)
    url = f"{BASE}/{created.json['id']}"
    etag = world.dispatcher.get(url).headers["ETag"]
    assert etag == created.headers["ETag"]
    r = world.dispatcher.patch(url, json={"priority": "urgent"})
    assert r.status_code == 428 and r.json["code"] == "precondition_required"
    r = world.dispatcher.patch(url, json={"priority": "urgent"}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.json["priority"] == "urgent"
    new_etag = r.headers["ETag"]
    assert new_etag != etag
    stale = world.agent.patch(url, json={"priority": "low"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json["code"] == "precondition_failed"
    assert world.agent.get(url).json["priority"] == "urgent"
    events = world.agent.get(f"{url}/events").json
    assert events[-1]["event_type"] == "updated"
    assert events[-1]["payload"]["changes"]["priority"] == {"from": "normal", "to": "urgent"}


def test_patch_assignment_and_custom_field_merge(world: Any, place: Any) -> None:
    created = create(world.agent, place, custom_fields={"floor": 2})
    url = f"{BASE}/{created.json['id']}"
    r = world.dispatcher.patch(
        url,
        json={"lead_technician_id": str(world.tech.id), "helper_ids": [str(world.other_tech.id)]},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert r.status_code == 200, r.json
    assert r.json["helper_ids"] == [str(world.other_tech.id)]
    # The helper now sees it, as does the lead.
    assert world.other_technician.get(url).status_code == 200
    assert world.technician.get(url).status_code == 200
    events = world.agent.get(f"{url}/events").json
    assert events[-1]["event_type"] == "assigned"
    r = world.dispatcher.patch(
        url, json={"custom_fields": {"floor": None}}, headers={"If-Match": r.headers["ETag"]}
    )
    assert r.status_code == 200 and r.json["custom_fields"] == {}
    r = world.dispatcher.patch(
        url,
        json={"lead_technician_id": str(world.other_tech.id)},
        headers={"If-Match": r.headers["ETag"]},
    )
    assert r.status_code == 422  # lead may not also be a helper


def test_technician_sees_only_own_orders_and_cannot_create_or_patch(world: Any, place: Any) -> None:
    mine = create(world.dispatcher, place, lead_technician_id=str(world.tech.id)).json
    create(world.dispatcher, place)
    listed = world.technician.get(BASE).json
    assert [o["id"] for o in listed] == [mine["id"]]
    assert create(world.technician, place).status_code == 403
    r = world.technician.patch(
        f"{BASE}/{mine['id']}", json={"title": "x"}, headers={"If-Match": "*"}
    )
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"


def test_other_tenant_cannot_read_patch_or_move(world: Any, place: Any) -> None:
    order = create(world.agent, place)
    url = f"{BASE}/{order.json['id']}"
    assert world.b_api.get(url).status_code == 404
    assert world.b_api.get(f"{url}/events").status_code == 404
    r = world.b_api.patch(url, json={"title": "pwned"}, headers={"If-Match": "*"})
    assert r.status_code == 404
    assert world.b_api.post(f"{url}/transitions", json={"to": "triaged"}).status_code == 404
    assert world.b_api.get(BASE).json == []
    assert world.agent.get(url).json["title"] != "pwned"


def test_list_filters_sorting_and_pagination(world: Any, place: Any) -> None:
    a = create(world.agent, place, priority="low").json
    b = create(world.agent, place, priority="urgent").json
    c = world.agent.post(
        BASE,
        json={
            "title": "Chiller noisy",
            "order_type": "maintenance",
            "site_id": str(place.far_site.id),
        },
    ).json
    move(world.agent, c, "triaged")

    def ids(query: str) -> list[str]:
        r = world.dispatcher.get(f"{BASE}?{query}")
        assert r.status_code == 200, r.json
        return [o["id"] for o in r.json]

    assert ids("sort=-priority") == [b["id"], c["id"], a["id"]]
    assert ids("sort=number") == [a["id"], b["id"], c["id"]]
    assert ids("status=triaged") == [c["id"]]
    assert set(ids("status=new,triaged")) == {a["id"], b["id"], c["id"]}
    assert ids("order_type=maintenance") == [c["id"]]
    assert ids("q=chiller") == [c["id"]]
    assert set(ids("open=true")) == {a["id"], b["id"], c["id"]}
    assert ids("open=false") == []
    r = world.dispatcher.get(f"{BASE}?sort=number&page=2&page_size=2")
    assert [o["id"] for o in r.json] == [c["id"]]
    assert '"total": 3' in r.headers["X-Pagination"]
    bad = world.dispatcher.get(f"{BASE}?sort=password")
    assert bad.status_code == 422 and bad.json["code"] == "invalid_sort"
    bad = world.dispatcher.get(f"{BASE}?status=bogus")
    assert bad.status_code == 422 and bad.json["code"] == "unknown_status"


def test_geo_filters_bbox_and_near(world: Any, place: Any) -> None:
    central = create(world.agent, place).json
    far = world.agent.post(
        BASE, json={"title": "far", "order_type": "repair", "site_id": str(place.far_site.id)}
    ).json
    r = world.dispatcher.get(f"{BASE}?bbox=121.40,31.20,121.50,31.30")
    assert [o["id"] for o in r.json] == [central["id"]]
    r = world.dispatcher.get(f"{BASE}?near=31.2304,121.4737&radius_m=1000")
    assert [o["id"] for o in r.json] == [central["id"]]
    assert r.json[0]["distance_m"] < 1
    r = world.dispatcher.get(f"{BASE}?near=31.2304,121.4737&radius_m=50000")
    assert [o["id"] for o in r.json] == [central["id"], far["id"]]
    # The database's geodesic distance agrees with our haversine to within 0.5 %.
    expected = haversine_m(Point(31.2304, 121.4737), Point(31.10, 121.70))
    assert r.json[1]["distance_m"] == pytest.approx(expected, rel=0.005)
    for query in ("bbox=1,2,3", "bbox=10,10,5,5", "bbox=a,b,c,d", "near=95,10", "near=x"):
        bad = world.dispatcher.get(f"{BASE}?{query}")
        assert bad.status_code == 422 and bad.json["code"] == "invalid_geo_filter", query


def test_client_generated_id_is_kept_and_duplicates_conflict(world: Any, place: Any) -> None:
    ident = f.new_id()
    r = create(world.agent, place, id=ident)
    assert r.status_code == 201 and r.json["id"] == ident
    again = create(world.agent, place, id=ident)
    assert again.status_code == 409 and again.json["code"] == "duplicate_id"


def test_page_far_past_the_end_is_empty_not_an_error(world: Any, place: Any) -> None:
    create(world.agent, place)
    r = world.dispatcher.get(f"{BASE}?page=33146447093561419248367346227609600")
    assert r.status_code == 200 and r.json == []
    assert world.dispatcher.get(f"{BASE}?page=0").status_code == 422


def test_text_search_treats_wildcards_literally(world: Any, place: Any) -> None:
    create(world.agent, place, title="Door 50% open")
    create(world.agent, place, title="Door stuck")
    assert [o["title"] for o in world.dispatcher.get(f"{BASE}?q=50%25").json] == ["Door 50% open"]
    assert world.dispatcher.get(f"{BASE}?q=%25").json[0]["title"] == "Door 50% open"
    assert len(world.dispatcher.get(f"{BASE}?q=_").json) == 0


def dispatched(world: Any, place: Any) -> dict[str, Any]:
    """An order scheduled for world.tech and dispatched."""
    order = create(world.agent, place).json
    r = move(
        world.dispatcher,
        order,
        "scheduled",
        lead_technician_id=str(world.tech.id),
        scheduled_start="2026-05-02T09:00:00+08:00",
        scheduled_end="2026-05-02T11:00:00+08:00",
    )
    assert r.status_code == 200, r.json
    r = move(world.dispatcher, order, "dispatched")
    assert r.status_code == 200, r.json
    return r.json


def etag_of(world: Any, order: dict[str, Any]) -> str:
    return world.dispatcher.get(f"{BASE}/{order['id']}").headers["ETag"]


def test_agents_cannot_assign_or_schedule_by_patch_or_rider(world: Any, place: Any) -> None:
    order = dispatched(world, place)
    url = f"{BASE}/{order['id']}"
    r = world.agent.patch(
        url,
        json={"lead_technician_id": str(world.other_tech.id)},
        headers={"If-Match": etag_of(world, order)},
    )
    assert r.status_code == 403 and r.json["code"] == "planning_forbidden_for_role"
    r = move(
        world.agent,
        order,
        "on_hold",
        hold_reason="parts",
        lead_technician_id=str(world.other_tech.id),
    )
    assert r.status_code == 403 and r.json["code"] == "planning_forbidden_for_role"
    r = world.agent.patch(
        url, json={"priority": "high"}, headers={"If-Match": etag_of(world, order)}
    )
    assert r.status_code == 200  # other fields stay open to the service desk


def test_scheduled_orders_keep_a_lead_and_schedule(world: Any, place: Any) -> None:
    order = dispatched(world, place)
    r = world.dispatcher.patch(
        f"{BASE}/{order['id']}",
        json={"lead_technician_id": None},
        headers={"If-Match": etag_of(world, order)},
    )
    assert r.status_code == 422 and r.json["code"] == "assignment_required"


def test_reassigning_an_accepted_order_resets_it_to_scheduled(world: Any, place: Any) -> None:
    order = dispatched(world, place)
    assert move(world.technician, order, "accepted").status_code == 200
    r = world.dispatcher.patch(
        f"{BASE}/{order['id']}",
        json={"lead_technician_id": str(world.other_tech.id)},
        headers={"If-Match": etag_of(world, order)},
    )
    assert r.status_code == 200 and r.json["status"] == "scheduled"
    events = world.dispatcher.get(f"{BASE}/{order['id']}/events").json
    assert (events[-1]["from_status"], events[-1]["to_status"]) == ("accepted", "scheduled")
    assert world.technician.get(f"{BASE}/{order['id']}").status_code == 404


def test_reassigning_while_on_site_is_refused(world: Any, place: Any) -> None:
    order = dispatched(world, place)
    move(world.technician, order, "accepted")
    assert move(world.technician, order, "on_site").status_code == 200
    r = world.dispatcher.patch(
        f"{BASE}/{order['id']}",
        json={"lead_technician_id": str(world.other_tech.id)},
        headers={"If-Match": etag_of(world, order)},
    )
    assert r.status_code == 409 and r.json["code"] == "order_in_progress"


def test_rider_lead_cannot_be_a_helper(world: Any, place: Any) -> None:
    order = create(world.agent, place, helper_ids=[str(world.tech.id)]).json
    r = move(
        world.dispatcher,
        order,
        "scheduled",
        lead_technician_id=str(world.tech.id),
        scheduled_start="2026-05-02T09:00:00+08:00",
        scheduled_end="2026-05-02T11:00:00+08:00",
    )
    assert r.status_code == 422


def test_reopen_starts_a_new_visit_and_completion_needs_a_fresh_summary(
    world: Any, place: Any
) -> None:
    order = dispatched(world, place)
    move(world.technician, order, "accepted")
    move(world.technician, order, "on_site")
    move(world.technician, order, "completed", resolution_summary="fixed door")
    r = move(world.agent, order, "reopened", reason="stuck again")
    assert r.status_code == 200
    assert (r.json["actual_start"], r.json["actual_end"], r.json["resolution_summary"]) == (
        None,
        None,
        None,
    )
    move(world.dispatcher, order, "scheduled")
    move(world.dispatcher, order, "dispatched")
    move(world.technician, order, "accepted")
    move(world.technician, order, "on_site")
    r = move(world.technician, order, "completed")
    assert r.status_code == 422 and r.json["missing"] == ["resolution_summary"]


def test_device_time_before_the_order_existed_is_refused(world: Any, place: Any) -> None:
    order = create(world.agent, place).json
    r = move(world.agent, order, "triaged", occurred_at="2001-01-01T00:00:00+00:00")
    assert r.status_code == 422 and r.json["code"] == "occurred_at_before_order"


def test_cancel_clears_hold_reason(world: Any, place: Any) -> None:
    order = create(world.agent, place).json
    move(world.agent, order, "on_hold", hold_reason="parts")
    r = move(world.agent, order, "cancelled", reason="customer withdrew")
    assert r.status_code == 200 and r.json["hold_reason"] is None


def test_duplicate_client_id_answers_the_same_across_tenants(world: Any, place: Any) -> None:
    ident = f.new_id()
    assert create(world.agent, place, id=ident).status_code == 201
    r = world.b_api.post(
        BASE,
        json={"title": "x", "order_type": "repair", "site_id": str(place.b_site.id), "id": ident},
    )
    assert r.status_code == 409 and r.json["code"] == "duplicate_id"


def test_near_filter_across_the_antimeridian(world: Any, session: Any) -> None:
    customer = f.make_customer(session, world.a)
    site = f.make_site(session, world.a, customer, at=Point(0.0, -179.995))
    session.commit()
    order = create(world.agent, SimpleNamespace(site=site)).json
    r = world.dispatcher.get(f"{BASE}?near=0,179.995&radius_m=5000")
    assert [o["id"] for o in r.json] == [order["id"]]
