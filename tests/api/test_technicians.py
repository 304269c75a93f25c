"""Technicians: listing, reading (technicians only themselves), creating, changing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests import factories as f

URL = "/api/v1/technicians"


@pytest.fixture()
def ref(world: Any, session: Any) -> Any:
    """Skills and territories of tenant A, and look-alikes of tenant B."""
    from types import SimpleNamespace

    ns = SimpleNamespace(
        hvac=f.make_skill(session, world.a, "hvac"),
        elevator=f.make_skill(session, world.a, "elevator"),
        welding=f.make_skill(session, world.a, "welding"),
        north=f.make_territory(session, world.a),
        south=f.make_territory(session, world.a),
        b_skill=f.make_skill(session, world.b, "b-only"),
        b_territory=f.make_territory(session, world.b),
        free_user=f.make_user(session, world.a, "technician"),
        b_tech_user=f.make_user(session, world.b, "technician"),
    )
    session.commit()
    return ns


def full_body(ref: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Wang Fang",
        "phone": "+86 21 5555 0100",
        "user_id": str(ref.free_user.id),
        "home_base": {"lat": 31.2, "lon": 121.5},
        "max_jobs_per_day": 8,
        "skills": [{"skill": "hvac", "level": 4}, {"skill": "elevator", "level": 2}],
        "territory_ids": [str(ref.north.id)],
        "shifts": [
            {"weekday": 1, "start": "13:00", "end": "17:00"},
            {"weekday": 0, "start": "08:00", "end": "12:00"},
            {"weekday": 1, "start": "08:00", "end": "12:00"},
        ],
    }
    body.update(overrides)
    return body


def no_break(*shifts: dict[str, Any]) -> list[dict[str, Any]]:
    """Shifts as the API shows them when they have no break."""
    return [{**shift, "break_start": None, "break_minutes": 0} for shift in shifts]


# --- roles and tenants ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "dispatcher", "agent"])
def test_office_lists_technicians(world: Any, role: str) -> None:
    r = getattr(world, role).get(URL)
    assert r.status_code == 200
    assert [t["name"] for t in r.json] == ["Li Wei", "Zhang Min"]


def test_technician_cannot_list(world: Any) -> None:
    r = world.technician.get(URL)
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"


def test_anonymous_is_401(world: Any) -> None:
    for r in (
        world.api.get(URL),
        world.api.get(f"{URL}/{world.tech.id}"),
        world.api.post(URL, json={"name": "X"}),
        world.api.patch(f"{URL}/{world.tech.id}", json={"name": "X"}),
    ):
        assert r.status_code == 401 and r.json["code"] == "unauthorized"


@pytest.mark.parametrize("role", ["agent", "technician"])
def test_only_planners_write(world: Any, role: str) -> None:
    client = getattr(world, role)
    r = client.post(URL, json={"name": "New"})
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    r = client.patch(f"{URL}/{world.tech.id}", json={"name": "Renamed"})
    assert r.status_code == 403
    assert world.admin.get(f"{URL}/{world.tech.id}").json["name"] == "Li Wei"


@pytest.mark.parametrize("role", ["admin", "dispatcher", "agent"])
def test_office_reads_any_technician(world: Any, role: str) -> None:
    r = getattr(world, role).get(f"{URL}/{world.other_tech.id}")
    assert r.status_code == 200 and r.json["name"] == "Zhang Min"


def test_technician_reads_only_self(world: Any) -> None:
    me = world.technician.get(f"{URL}/{world.tech.id}")
    assert me.status_code == 200 and me.json["user_id"] == str(world.users["technician"].id)
    other = world.technician.get(f"{URL}/{world.other_tech.id}")
    assert other.status_code == 404 and other.json["code"] == "not_found"
    assert world.other_technician.get(f"{URL}/{world.tech.id}").status_code == 404
    assert world.technician.get(f"{URL}/{uuid.uuid4()}").status_code == 404


def test_other_tenant_cannot_see_or_change(world: Any, session: Any) -> None:
    assert world.b_api.get(URL).json == []
    r = world.b_api.get(f"{URL}/{world.tech.id}")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    r = world.b_api.patch(f"{URL}/{world.tech.id}", json={"name": "pwned"})
    assert r.status_code == 404
    session.refresh(world.tech)
    assert world.tech.name == "Li Wei"


# --- create and read --------------------------------------------------------------------


def test_dispatcher_creates_full_technician(world: Any, ref: Any) -> None:
    r = world.dispatcher.post(URL, json=full_body(ref))
    assert r.status_code == 201, r.json
    tech = r.json
    assert tech["name"] == "Wang Fang" and tech["phone"] == "+86 21 5555 0100"
    assert tech["user_id"] == str(ref.free_user.id)
    assert tech["home_base"] == {"lat": 31.2, "lon": 121.5}
    assert tech["max_jobs_per_day"] == 8 and tech["active"] is True
    assert sorted((s["skill"], s["level"]) for s in tech["skills"]) == [
        ("elevator", 2),
        ("hvac", 4),
    ]
    assert tech["territory_ids"] == [str(ref.north.id)]
    # Shifts come back ordered by weekday, then start.
    assert tech["shifts"] == no_break(
        {"weekday": 0, "start": "08:00", "end": "12:00"},
        {"weekday": 1, "start": "08:00", "end": "12:00"},
        {"weekday": 1, "start": "13:00", "end": "17:00"},
    )
    assert tech["created_at"].endswith("+00:00")
    assert world.agent.get(f"{URL}/{tech['id']}").json == tech


def test_minimal_technician_gets_defaults(world: Any) -> None:
    r = world.admin.post(URL, json={"name": "Solo"})
    assert r.status_code == 201, r.json
    body = r.json
    assert body["max_jobs_per_day"] == 6 and body["active"] is True
    assert body["home_base"] is None and body["user_id"] is None and body["phone"] is None
    assert body["skills"] == [] and body["territory_ids"] == [] and body["shifts"] == []


def test_unknown_or_foreign_skill_is_unknown_skill(world: Any, ref: Any) -> None:
    skills = [{"skill": "hvac", "level": 1}, {"skill": "b-only", "level": 1}]
    skills.append({"skill": "nope", "level": 1})
    r = world.admin.post(URL, json=full_body(ref, skills=skills))
    assert r.status_code == 422 and r.json["code"] == "unknown_skill"
    assert set(r.json["errors"]["skills"]) == {"b-only", "nope"}
    assert len(world.admin.get(URL).json) == 2


def test_unknown_or_foreign_territory_is_unknown_territory(world: Any, ref: Any) -> None:
    ids = [str(ref.north.id), str(ref.b_territory.id), str(uuid.uuid4())]
    r = world.admin.post(URL, json=full_body(ref, territory_ids=ids))
    assert r.status_code == 422 and r.json["code"] == "unknown_territory"
    assert set(r.json["errors"]["territory_ids"]) == set(ids[1:])


@pytest.mark.parametrize("who", ["b_technician", "b_admin", "admin", "nobody"])
def test_user_must_be_a_technician_of_this_tenant(world: Any, ref: Any, who: str) -> None:
    user_id = {
        "b_technician": str(ref.b_tech_user.id),
        "b_admin": str(world.b_admin.id),
        "admin": str(world.users["admin"].id),
        "nobody": str(uuid.uuid4()),
    }[who]
    r = world.admin.post(URL, json=full_body(ref, user_id=user_id))
    assert r.status_code == 422 and r.json["code"] == "invalid_user"


def test_user_cannot_be_linked_twice(world: Any, ref: Any) -> None:
    taken = str(world.users["technician"].id)
    r = world.admin.post(URL, json=full_body(ref, user_id=taken))
    assert r.status_code == 409 and r.json["code"] == "user_already_linked"
    r = world.admin.patch(f"{URL}/{world.other_tech.id}", json={"user_id": taken})
    assert r.status_code == 409 and r.json["code"] == "user_already_linked"
    # Re-sending one's own link is not a conflict.
    r = world.admin.patch(f"{URL}/{world.tech.id}", json={"user_id": taken})
    assert r.status_code == 200 and r.json["user_id"] == taken


@pytest.mark.parametrize(
    "shifts",
    [
        [
            {"weekday": 2, "start": "08:00", "end": "12:00"},
            {"weekday": 2, "start": "11:59", "end": "15:00"},
        ],
        [
            {"weekday": 2, "start": "08:00", "end": "18:00"},
            {"weekday": 2, "start": "10:00", "end": "11:00"},
        ],
        [
            {"weekday": 2, "start": "08:00", "end": "12:00"},
            {"weekday": 2, "start": "08:00", "end": "10:00"},
        ],
    ],
)
def test_overlapping_shifts_are_refused(world: Any, ref: Any, shifts: list[Any]) -> None:
    r = world.admin.post(URL, json=full_body(ref, shifts=shifts))
    assert r.status_code == 422 and r.json["code"] == "overlapping_shifts"
    assert "Weekday 2" in r.json["errors"]["shifts"][0]


def test_touching_shifts_and_other_weekdays_are_fine(world: Any, ref: Any) -> None:
    shifts = [
        {"weekday": 2, "start": "08:00", "end": "12:00"},
        {"weekday": 2, "start": "12:00", "end": "16:00"},
        {"weekday": 3, "start": "09:00", "end": "17:00"},
        {"weekday": 6, "start": "00:00", "end": "23:59"},
    ]
    r = world.admin.post(URL, json=full_body(ref, shifts=shifts))
    assert r.status_code == 201, r.json
    assert r.json["shifts"] == no_break(*shifts)


BAD_INPUT = [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": None}, "name"),
    ({"max_jobs_per_day": 0}, "max_jobs_per_day"),
    ({"max_jobs_per_day": 51}, "max_jobs_per_day"),
    ({"max_jobs_per_day": "5"}, "max_jobs_per_day"),
    ({"max_jobs_per_day": 5.5}, "max_jobs_per_day"),
    ({"active": "yes"}, "active"),
    ({"phone": "1" * 41}, "phone"),
    ({"user_id": "not-a-uuid"}, "user_id"),
    ({"home_base": {"lat": 91, "lon": 0}}, "home_base"),
    ({"home_base": {"lat": "31", "lon": 121}}, "home_base"),
    ({"home_base": {"lat": 31}}, "home_base"),
    ({"skills": [{"skill": "hvac", "level": 6}]}, "skills"),
    ({"skills": [{"skill": "hvac", "level": 0}]}, "skills"),
    ({"skills": [{"skill": "hvac"}]}, "skills"),
    ({"skills": [{"skill": "hvac", "level": 2}, {"skill": "hvac", "level": 3}]}, "skills"),
    ({"skills": "hvac"}, "skills"),
    ({"territory_ids": ["nope"]}, "territory_ids"),
    ({"shifts": [{"weekday": 7, "start": "08:00", "end": "09:00"}]}, "shifts"),
    ({"shifts": [{"weekday": -1, "start": "08:00", "end": "09:00"}]}, "shifts"),
    ({"shifts": [{"weekday": 1, "start": "8:00", "end": "09:00"}]}, "shifts"),
    ({"shifts": [{"weekday": 1, "start": "08:00", "end": "24:00"}]}, "shifts"),
    ({"shifts": [{"weekday": 1, "start": "08:00:00", "end": "09:00"}]}, "shifts"),
    ({"shifts": [{"weekday": 1, "start": "10:00", "end": "09:00"}]}, "shifts"),
    ({"shifts": [{"weekday": 1, "start": "10:00", "end": "10:00"}]}, "shifts"),
    ({"shifts": [{"weekday": 1, "start": "08:00"}]}, "shifts"),
    ({"shifts": [{"weekday": 1, "start": 800, "end": "09:00"}]}, "shifts"),
    ({"nickname": "Wei"}, "nickname"),
]


@pytest.mark.parametrize("change,field", BAD_INPUT)
def test_bad_input_is_422_on_create(
    world: Any, ref: Any, change: dict[str, Any], field: str
) -> None:
    r = world.admin.post(URL, json=full_body(ref, **change))
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    assert list(r.json["errors"]["json"]) == [field]


@pytest.mark.parametrize("change,field", BAD_INPUT)
def test_bad_input_is_422_on_patch(
    world: Any, ref: Any, change: dict[str, Any], field: str
) -> None:
    r = world.admin.patch(f"{URL}/{world.tech.id}", json=change)
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    assert list(r.json["errors"]["json"]) == [field]


def test_name_is_required_on_create_only(world: Any) -> None:
    r = world.admin.post(URL, json={"phone": "123"})
    assert r.status_code == 422 and list(r.json["errors"]["json"]) == ["name"]
    assert world.admin.patch(f"{URL}/{world.tech.id}", json={"phone": "123"}).status_code == 200


# --- change -----------------------------------------------------------------------------


def test_patch_replaces_given_lists_and_keeps_the_rest(world: Any, ref: Any) -> None:
    created = world.admin.post(URL, json=full_body(ref)).json
    url = f"{URL}/{created['id']}"
    r = world.dispatcher.patch(
        url,
        json={
            "skills": [{"skill": "hvac", "level": 5}, {"skill": "welding", "level": 1}],
            "territory_ids": [str(ref.south.id), str(ref.north.id)],
            "shifts": [
                {"weekday": 1, "start": "08:00", "end": "11:00"},
                {"weekday": 4, "start": "08:00", "end": "12:00"},
            ],
        },
    )
    assert r.status_code == 200, r.json
    body = r.json
    assert sorted((s["skill"], s["level"]) for s in body["skills"]) == [
        ("hvac", 5),
        ("welding", 1),
    ]
    assert set(body["territory_ids"]) == {str(ref.south.id), str(ref.north.id)}
    assert body["shifts"] == no_break(
        {"weekday": 1, "start": "08:00", "end": "11:00"},
        {"weekday": 4, "start": "08:00", "end": "12:00"},
    )
    assert body["name"] == created["name"] and body["home_base"] == created["home_base"]
    assert body["updated_at"] > created["updated_at"]
    assert world.admin.get(url).json == body

    r = world.dispatcher.patch(url, json={"name": "Wang F.", "active": False})
    assert r.json["name"] == "Wang F." and r.json["active"] is False
    assert r.json["skills"] == body["skills"] and r.json["shifts"] == body["shifts"]

    r = world.dispatcher.patch(url, json={"skills": [], "territory_ids": [], "shifts": []})
    assert r.status_code == 200
    assert r.json["skills"] == [] and r.json["territory_ids"] == [] and r.json["shifts"] == []


def test_patch_clears_nullable_fields(world: Any) -> None:
    url = f"{URL}/{world.tech.id}"
    r = world.admin.patch(url, json={"home_base": None, "phone": None, "user_id": None})
    assert r.status_code == 200, r.json
    assert r.json["home_base"] is None and r.json["phone"] is None and r.json["user_id"] is None
    # Unlinked: the technician's token no longer maps to this record.
    assert world.technician.get(url).status_code == 404
    r = world.admin.patch(url, json={"home_base": {"lat": -33.9, "lon": 18.4}})
    assert r.json["home_base"] == {"lat": -33.9, "lon": 18.4}


def test_refused_patch_changes_nothing(world: Any, ref: Any) -> None:
    url = f"{URL}/{world.tech.id}"
    before = world.admin.get(url).json
    r = world.admin.patch(
        url,
        json={
            "name": "Changed",
            "skills": [{"skill": "hvac", "level": 3}],
            "territory_ids": [str(ref.b_territory.id)],
        },
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_territory"
    assert world.admin.get(url).json == before


def test_patch_unknown_id_is_404(world: Any) -> None:
    r = world.admin.patch(f"{URL}/{uuid.uuid4()}", json={"name": "X"})
    assert r.status_code == 404


# --- list filters -----------------------------------------------------------------------


@pytest.fixture()
def crew(world: Any, session: Any, ref: Any) -> dict[str, str]:
    """Four more technicians with varied skills, territories and activity."""

    def tech(name: str, skills: dict[Any, int], territories: list[Any], active: bool) -> str:
        t = f.make_technician(session, world.a, skills=skills, name=name, active=active)
        t.territories = territories
        return str(t.id)

    ids = {
        "Ana": tech("Ana", {ref.hvac: 5}, [ref.north], True),
        "Bo": tech("Bo", {ref.hvac: 2, ref.elevator: 4}, [ref.north, ref.south], True),
        "Cy": tech("Cy", {ref.elevator: 5}, [ref.south], False),
        "Di": tech("Di", {}, [], True),
    }
    f.make_technician(session, world.b, name="Bea", skills={ref.b_skill: 5})
    session.commit()
    return ids


def names(r: Any) -> list[str]:
    assert r.status_code == 200, r.json
    return [t["name"] for t in r.json]


def test_filter_by_skill_and_level(world: Any, crew: dict[str, str]) -> None:
    assert names(world.dispatcher.get(f"{URL}?skill=hvac")) == ["Ana", "Bo"]
    assert names(world.dispatcher.get(f"{URL}?skill=hvac&min_level=3")) == ["Ana"]
    assert names(world.dispatcher.get(f"{URL}?skill=elevator&min_level=4")) == ["Bo", "Cy"]
    assert names(world.dispatcher.get(f"{URL}?skill=b-only")) == []
    assert names(world.dispatcher.get(f"{URL}?skill=nope")) == []
    r = world.dispatcher.get(f"{URL}?min_level=3")
    assert r.status_code == 422 and "min_level" in r.json["errors"]["query"]
    assert world.dispatcher.get(f"{URL}?skill=hvac&min_level=6").status_code == 422


def test_filter_by_territory_activity_and_name(world: Any, ref: Any, crew: dict[str, str]) -> None:
    assert names(world.agent.get(f"{URL}?territory_id={ref.south.id}")) == ["Bo", "Cy"]
    assert names(world.agent.get(f"{URL}?territory_id={ref.b_territory.id}")) == []
    assert names(world.agent.get(f"{URL}?active=false")) == ["Cy"]
    assert "Cy" not in names(world.agent.get(f"{URL}?active=true"))
    assert names(world.agent.get(f"{URL}?q=I")) == ["Di", "Li Wei", "Zhang Min"]
    both = world.agent.get(f"{URL}?territory_id={ref.north.id}&skill=hvac&min_level=4")
    assert names(both) == ["Ana"]
    assert world.agent.get(f"{URL}?territory_id=north").status_code == 422


def test_sort_and_pages(world: Any, crew: dict[str, str]) -> None:
    everyone = ["Ana", "Bo", "Cy", "Di", "Li Wei", "Zhang Min"]
    assert names(world.admin.get(URL)) == everyone
    assert names(world.admin.get(f"{URL}?sort=-name")) == everyone[::-1]
    by_created = names(world.admin.get(f"{URL}?sort=created_at"))
    assert sorted(by_created) == everyone
    page = world.admin.get(f"{URL}?page=2&page_size=4")
    assert names(page) == ["Li Wei", "Zhang Min"]
    assert '"total": 6' in page.headers["X-Pagination"]
    r = world.admin.get(f"{URL}?sort=phone")
    assert r.status_code == 422 and r.json["code"] == "invalid_sort"


# --- dispatch inputs: daily minutes, breaks ---------------------------------------------


def test_breaks_and_daily_minutes_round_trip(world: Any, ref: Any) -> None:
    shifts = [
        {
            "weekday": 0,
            "start": "08:00",
            "end": "17:00",
            "break_start": "12:00",
            "break_minutes": 45,
        },
        {"weekday": 1, "start": "08:00", "end": "12:00"},
    ]
    r = world.dispatcher.post(URL, json=full_body(ref, shifts=shifts, max_work_minutes_per_day=480))
    assert r.status_code == 201, r.json
    assert r.json["max_work_minutes_per_day"] == 480
    assert r.json["shifts"] == [shifts[0], *no_break(shifts[1])]
    url = f"{URL}/{r.json['id']}"
    changed = [{**shifts[0], "break_start": "13:00", "break_minutes": 30}]
    r = world.dispatcher.patch(url, json={"shifts": changed, "max_work_minutes_per_day": None})
    assert r.status_code == 200, r.json
    assert r.json["shifts"] == changed and r.json["max_work_minutes_per_day"] is None
    r = world.dispatcher.patch(url, json={"shifts": no_break(changed[0])})
    assert r.json["shifts"] == no_break(changed[0])


def test_minimal_technician_has_no_daily_minutes_limit(world: Any) -> None:
    r = world.admin.post(URL, json={"name": "Zhou"})
    assert r.status_code == 201 and r.json["max_work_minutes_per_day"] is None


@pytest.mark.parametrize(
    "shift",
    [
        {"break_start": "07:30", "break_minutes": 30},  # starts before the shift
        {"break_start": "11:45", "break_minutes": 30},  # ends after it
        {"break_start": "12:00", "break_minutes": 30},  # starts at its end
        {"break_minutes": 30},  # no start
        {"break_start": "10:00"},  # no length
        {"break_start": "10:00", "break_minutes": 0},
        {"break_start": "10:00", "break_minutes": 241},
        {"break_start": "10:00", "break_minutes": -5},
        {"break_start": "10:00", "break_minutes": "30"},
        {"break_start": "10:00", "break_minutes": 30.5},
        {"break_start": "25:00", "break_minutes": 30},
        {"break_start": 1000, "break_minutes": 30},
    ],
)
def test_bad_breaks_are_refused(world: Any, ref: Any, shift: dict[str, Any]) -> None:
    body = full_body(ref, shifts=[{"weekday": 2, "start": "08:00", "end": "12:00", **shift}])
    r = world.admin.post(URL, json=body)
    assert r.status_code == 422, r.json
    assert r.json["code"] == "validation_error" and "shifts" in r.json["errors"]["json"]


def test_a_break_may_fill_the_shift_to_its_end(world: Any, ref: Any) -> None:
    shift = {
        "weekday": 2,
        "start": "08:00",
        "end": "12:00",
        "break_start": "11:00",
        "break_minutes": 60,
    }
    r = world.admin.post(URL, json=full_body(ref, shifts=[shift]))
    assert r.status_code == 201, r.json


@pytest.mark.parametrize("value", [0, 1441, "480", 480.5, True])
def test_bad_daily_minutes_are_refused(world: Any, value: Any) -> None:
    r = world.admin.post(URL, json={"name": "Zhou", "max_work_minutes_per_day": value})
    assert r.status_code == 422 and "max_work_minutes_per_day" in r.json["errors"]["json"]
    r = world.admin.patch(f"{URL}/{world.tech.id}", json={"max_work_minutes_per_day": value})
    assert r.status_code == 422
