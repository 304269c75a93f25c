"""Skills, territories, custom field definitions, and the validators work orders call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from server.db import set_tenant
from server.errors import ValidationFailed
from server.organization.models import CustomFieldDefinition
from server.organization.service import resolve_skill_codes, validate_custom_fields
from tests import factories as f

SKILLS = "/api/v1/skills"
TERRITORIES = "/api/v1/territories"
FIELDS = "/api/v1/custom-fields"

# A square around central Shanghai, counter-clockwise, closed.
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[121.4, 31.2], [121.5, 31.2], [121.5, 31.3], [121.4, 31.3], [121.4, 31.2]]],
}


def make_definition(session: Any, tenant: Any, key: str, field_type: str, **kw: Any) -> Any:
    """A custom field definition row."""
    definition = CustomFieldDefinition(
        tenant_id=tenant.id,
        entity=kw.pop("entity", "work_order"),
        key=key,
        label=kw.pop("label", key.title()),
        field_type=field_type,
        **kw,
    )
    session.add(definition)
    session.flush()
    return definition


# --- roles and tenants, every resource ------------------------------------------------


def _arrange(world: Any, session: Any, kind: str) -> str:
    """One row of ``kind`` in tenant A; returns its id."""
    if kind == "skills":
        row = f.make_skill(session, world.a, "welding")
    elif kind == "territories":
        row = f.make_territory(session, world.a)
    else:
        row = make_definition(session, world.a, "floor", "integer")
    session.commit()
    return str(row.id)


VALID_PATCH = {
    "skills": {"name": "X"},
    "territories": {"name": "X"},
    "custom-fields": {"label": "X"},
}
VALID_POST = {
    "skills": {"code": "new-skill", "name": "New"},
    "territories": {"code": "NEW", "name": "New"},
    "custom-fields": {"key": "new_key", "label": "New", "field_type": "text"},
}
KINDS = ["skills", "territories", "custom-fields"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ["admin", "dispatcher", "agent", "technician"])
def test_every_role_reads(world: Any, session: Any, kind: str, role: str) -> None:
    ident = _arrange(world, session, kind)
    client = getattr(world, role)
    listing = client.get(f"/api/v1/{kind}")
    assert listing.status_code == 200, listing.json
    assert [row["id"] for row in listing.json] == [ident]
    one = client.get(f"/api/v1/{kind}/{ident}")
    assert one.status_code == 200 and one.json["id"] == ident


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ["dispatcher", "agent", "technician"])
def test_only_admins_write(world: Any, session: Any, kind: str, role: str) -> None:
    ident = _arrange(world, session, kind)
    client = getattr(world, role)
    r = client.post(f"/api/v1/{kind}", json=VALID_POST[kind])
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    r = client.patch(f"/api/v1/{kind}/{ident}", json=VALID_PATCH[kind])
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    row = world.admin.get(f"/api/v1/{kind}/{ident}").json
    assert row.get("name", row.get("label")) != "X"


@pytest.mark.parametrize("kind", KINDS)
def test_anonymous_is_401(world: Any, session: Any, kind: str) -> None:
    ident = _arrange(world, session, kind)
    for r in (
        world.api.get(f"/api/v1/{kind}"),
        world.api.get(f"/api/v1/{kind}/{ident}"),
        world.api.post(f"/api/v1/{kind}", json=VALID_POST[kind]),
        world.api.patch(f"/api/v1/{kind}/{ident}", json=VALID_PATCH[kind]),
    ):
        assert r.status_code == 401 and r.json["code"] == "unauthorized"


@pytest.mark.parametrize("kind", KINDS)
def test_other_tenant_sees_nothing(world: Any, session: Any, kind: str) -> None:
    ident = _arrange(world, session, kind)
    assert world.b_api.get(f"/api/v1/{kind}").json == []
    r = world.b_api.get(f"/api/v1/{kind}/{ident}")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    r = world.b_api.patch(f"/api/v1/{kind}/{ident}", json=VALID_PATCH[kind])
    assert r.status_code == 404
    after = world.admin.get(f"/api/v1/{kind}/{ident}").json
    assert after.get("name", after.get("label")) != "X"


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_id_is_404(world: Any, kind: str) -> None:
    r = world.admin.get(f"/api/v1/{kind}/{uuid.uuid4()}")
    assert r.status_code == 404 and r.json["code"] == "not_found"


# --- skills -----------------------------------------------------------------------------


def test_admin_creates_and_renames_skill(world: Any) -> None:
    r = world.admin.post(SKILLS, json={"code": "hvac", "name": "  HVAC service "})
    assert r.status_code == 201, r.json
    skill = r.json
    assert skill["code"] == "hvac" and skill["name"] == "HVAC service"
    assert skill["created_at"].endswith("+00:00")
    r = world.admin.patch(f"{SKILLS}/{skill['id']}", json={"name": "Heating"})
    assert r.status_code == 200 and r.json["name"] == "Heating" and r.json["code"] == "hvac"
    assert r.json["updated_at"] >= skill["updated_at"]
    assert world.agent.get(f"{SKILLS}/{skill['id']}").json["name"] == "Heating"


def test_skill_code_is_unique_per_tenant_and_immutable(world: Any) -> None:
    first = world.admin.post(SKILLS, json={"code": "hvac", "name": "HVAC"})
    dup = world.admin.post(SKILLS, json={"code": "hvac", "name": "Again"})
    assert dup.status_code == 409 and dup.json["code"] == "duplicate_skill"
    # Another tenant may use the same code.
    assert world.b_api.post(SKILLS, json={"code": "hvac", "name": "HVAC"}).status_code == 201
    r = world.admin.patch(f"{SKILLS}/{first.json['id']}", json={"code": "other"})
    assert r.status_code == 422 and r.json["errors"]["json"] == {"code": ["Unknown field."]}


@pytest.mark.parametrize(
    "body,field",
    [
        ({"code": "has space", "name": "X"}, "code"),
        ({"code": "-lead", "name": "X"}, "code"),
        ({"code": "x" * 65, "name": "X"}, "code"),
        ({"code": 12, "name": "X"}, "code"),
        ({"code": "ok", "name": "   "}, "name"),
        ({"code": "ok", "name": ""}, "name"),
        ({"code": "ok"}, "name"),
        ({"code": "ok", "name": "X", "colour": "red"}, "colour"),
    ],
)
def test_bad_skill_input_is_422(world: Any, body: dict[str, Any], field: str) -> None:
    r = world.admin.post(SKILLS, json=body)
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert list(r.json["errors"]["json"]) == [field]


def test_skill_list_search_sort_and_pages(world: Any, session: Any) -> None:
    for code in ("plumbing", "electrical", "elevator"):
        f.make_skill(session, world.a, code)
    f.make_skill(session, world.b, "electronics")
    session.commit()
    codes = [s["code"] for s in world.agent.get(SKILLS).json]
    assert codes == ["electrical", "elevator", "plumbing"]
    codes = [s["code"] for s in world.agent.get(f"{SKILLS}?q=ELE&sort=-code").json]
    assert codes == ["elevator", "electrical"]
    page = world.agent.get(f"{SKILLS}?page=2&page_size=2")
    assert [s["code"] for s in page.json] == ["plumbing"]
    assert '"total": 3' in page.headers["X-Pagination"]
    bad = world.agent.get(f"{SKILLS}?sort=secret")
    assert bad.status_code == 422 and bad.json["code"] == "invalid_sort"


def test_search_treats_wildcards_literally(world: Any, session: Any) -> None:
    f.make_skill(session, world.a, "a_b")
    f.make_skill(session, world.a, "axb")
    session.commit()
    assert [s["code"] for s in world.agent.get(f"{SKILLS}?q=a_").json] == ["a_b"]
    assert world.agent.get(f"{SKILLS}?q=%25").json == []


# --- territories ------------------------------------------------------------------------


def test_territory_with_geojson_boundary_round_trips(world: Any) -> None:
    r = world.admin.post(TERRITORIES, json={"code": "SH-C", "name": "Central", "boundary": SQUARE})
    assert r.status_code == 201, r.json
    assert r.json["boundary"] == SQUARE
    got = world.technician.get(f"{TERRITORIES}/{r.json['id']}")
    assert got.status_code == 200 and got.json["boundary"] == SQUARE


def test_territory_boundary_is_optional_and_can_be_cleared(world: Any) -> None:
    r = world.admin.post(TERRITORIES, json={"code": "N", "name": "North"})
    assert r.status_code == 201 and r.json["boundary"] is None
    tid = r.json["id"]
    r = world.admin.patch(f"{TERRITORIES}/{tid}", json={"boundary": SQUARE, "name": "Nord"})
    assert r.status_code == 200 and r.json["boundary"] == SQUARE and r.json["name"] == "Nord"
    r = world.admin.patch(f"{TERRITORIES}/{tid}", json={"boundary": None})
    assert r.status_code == 200 and r.json["boundary"] is None
    assert world.admin.get(f"{TERRITORIES}/{tid}").json["boundary"] is None


def _ring(*positions: list[float]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [list(positions)]}


@pytest.mark.parametrize(
    "boundary,needle",
    [
        (_ring([0, 0], [1, 0], [1, 1], [0, 1]), "not closed"),
        (_ring([0, 0], [1, 0], [0, 0]), "at least 4"),
        (_ring([0, 0], [1, 1], [1, 0], [0, 1], [0, 0]), "not valid"),  # bow-tie
        (_ring([0, 0], [1, 0], [2, 0], [0, 0]), "not valid"),  # no area
        (_ring([0, 0], [181, 0], [181, 1], [0, 0]), "Longitude 181"),
        (_ring([0, 0], [1, 0], [1, 91], [0, 0]), "Latitude 91"),
    ],
)
def test_bad_polygons_are_422(world: Any, boundary: dict[str, Any], needle: str) -> None:
    r = world.admin.post(TERRITORIES, json={"code": "BAD", "name": "Bad", "boundary": boundary})
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    messages = r.json["errors"]["json"]["boundary"]["coordinates"]
    assert any(needle in m for m in messages), messages


@pytest.mark.parametrize(
    "boundary",
    [
        {"type": "Point", "coordinates": SQUARE["coordinates"]},
        {"coordinates": SQUARE["coordinates"]},
        {"type": "Polygon", "coordinates": SQUARE["coordinates"] * 2},  # a hole
        {"type": "Polygon", "coordinates": [[["121.4", "31.2"]] * 4]},
        {"type": "Polygon", "coordinates": [[[121.4, 31.2, 5.0]] * 4]},
        {"type": "Polygon", "coordinates": "nope"},
        {"type": "Polygon", "coordinates": [], "bbox": [0, 0, 1, 1]},
        [[31.2, 121.4]],
    ],
)
def test_malformed_geojson_is_422(world: Any, boundary: Any) -> None:
    r = world.admin.post(TERRITORIES, json={"code": "BAD", "name": "Bad", "boundary": boundary})
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    assert "boundary" in r.json["errors"]["json"]


def test_territory_code_unique_on_create_and_patch(world: Any) -> None:
    world.admin.post(TERRITORIES, json={"code": "N", "name": "North"})
    south = world.admin.post(TERRITORIES, json={"code": "S", "name": "South"}).json
    dup = world.admin.post(TERRITORIES, json={"code": "N", "name": "Again"})
    assert dup.status_code == 409 and dup.json["code"] == "duplicate_territory"
    clash = world.admin.patch(f"{TERRITORIES}/{south['id']}", json={"code": "N"})
    assert clash.status_code == 409 and clash.json["code"] == "duplicate_territory"
    same = world.admin.patch(f"{TERRITORIES}/{south['id']}", json={"code": "S"})
    assert same.status_code == 200
    renamed = world.admin.patch(f"{TERRITORIES}/{south['id']}", json={"code": "SOUTH"})
    assert renamed.status_code == 200 and renamed.json["code"] == "SOUTH"


def test_territories_containing_a_point(world: Any) -> None:
    world.admin.post(TERRITORIES, json={"code": "IN", "name": "Inside", "boundary": SQUARE})
    far = _ring([0, 0], [1, 0], [1, 1], [0, 1], [0, 0])
    world.admin.post(TERRITORIES, json={"code": "FAR", "name": "Far", "boundary": far})
    world.admin.post(TERRITORIES, json={"code": "NONE", "name": "No boundary"})
    hits = world.dispatcher.get(f"{TERRITORIES}?lat=31.25&lon=121.45").json
    assert [t["code"] for t in hits] == ["IN"]
    assert world.dispatcher.get(f"{TERRITORIES}?lat=40&lon=121.45").json == []
    assert len(world.dispatcher.get(TERRITORIES).json) == 3
    half = world.dispatcher.get(f"{TERRITORIES}?lat=31.25")
    assert half.status_code == 422 and "lat" in half.json["errors"]["query"]
    out = world.dispatcher.get(f"{TERRITORIES}?lat=95&lon=0")
    assert out.status_code == 422


def test_territory_search_and_sort(world: Any) -> None:
    for code, name in (("A", "Zeta"), ("B", "Alpha"), ("C", "Beta")):
        world.admin.post(TERRITORIES, json={"code": code, "name": name})
    assert [t["code"] for t in world.agent.get(f"{TERRITORIES}?sort=name").json] == [
        "B",
        "C",
        "A",
    ]
    assert [t["code"] for t in world.agent.get(f"{TERRITORIES}?q=eta").json] == ["A", "C"]


# --- custom field definitions -----------------------------------------------------------


def test_admin_defines_enum_field_and_changes_it(world: Any) -> None:
    r = world.admin.post(
        FIELDS,
        json={
            "key": "access",
            "label": "Access",
            "field_type": "enum",
            "options": ["key box", "reception"],
            "required": True,
        },
    )
    assert r.status_code == 201, r.json
    body = r.json
    assert body["entity"] == "work_order" and body["active"] is True and body["required"] is True
    assert body["options"] == ["key box", "reception"]
    r = world.admin.patch(
        f"{FIELDS}/{body['id']}",
        json={"options": ["key box", "guard"], "active": False, "label": "Site access"},
    )
    assert r.status_code == 200, r.json
    assert r.json["options"] == ["key box", "guard"] and r.json["active"] is False
    assert r.json["label"] == "Site access"


@pytest.mark.parametrize(
    "field_type", ["text", "integer", "decimal", "boolean", "date", "datetime"]
)
def test_plain_field_types(world: Any, field_type: str) -> None:
    r = world.admin.post(FIELDS, json={"key": "f1", "label": "F", "field_type": field_type})
    assert r.status_code == 201 and r.json["field_type"] == field_type
    assert r.json["options"] is None and r.json["required"] is False


@pytest.mark.parametrize(
    "body,field,needle",
    [
        ({"field_type": "enum"}, "options", "non-empty"),
        ({"field_type": "enum", "options": []}, "options", "non-empty"),
        ({"field_type": "enum", "options": ["a", "a"]}, "options", "unique"),
        ({"field_type": "enum", "options": ["a", " "]}, "options", "blank"),
        ({"field_type": "enum", "options": [1]}, "options", "string"),
        ({"field_type": "text", "options": ["a"]}, "options", "Only enum"),
        ({"field_type": "money"}, "field_type", "Must be one of"),
        ({"field_type": "text", "key": "Floor"}, "key", "lowercase"),
        ({"field_type": "text", "key": "1floor"}, "key", "lowercase"),
        ({"field_type": "text", "key": "a" * 65}, "key", "lowercase"),
        ({"field_type": "text", "entity": "customer"}, "entity", "Must be one of"),
        ({"field_type": "text", "required": "yes"}, "required", "boolean"),
        ({"field_type": "text", "active": 1}, "active", "boolean"),
    ],
)
def test_bad_definitions_are_422(world: Any, body: dict[str, Any], field: str, needle: str) -> None:
    payload = {"key": "f1", "label": "F", **body}
    r = world.admin.post(FIELDS, json=payload)
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    errors = r.json["errors"]["json"]
    assert list(errors) == [field] and needle in str(errors[field]), errors


def test_definition_key_unique_and_fixed(world: Any) -> None:
    first = world.admin.post(FIELDS, json={"key": "floor", "label": "F", "field_type": "integer"})
    dup = world.admin.post(FIELDS, json={"key": "floor", "label": "G", "field_type": "text"})
    assert dup.status_code == 409 and dup.json["code"] == "duplicate_custom_field"
    fid = first.json["id"]
    for change in ({"key": "storey"}, {"field_type": "text"}, {"entity": "work_order"}):
        r = world.admin.patch(f"{FIELDS}/{fid}", json=change)
        assert r.status_code == 422 and r.json["code"] == "validation_error"


def test_patching_options_respects_the_type(world: Any) -> None:
    text = world.admin.post(FIELDS, json={"key": "note", "label": "N", "field_type": "text"}).json
    r = world.admin.patch(f"{FIELDS}/{text['id']}", json={"options": ["a"]})
    assert r.status_code == 422 and r.json["errors"]["json"]["options"] == [
        "Only enum fields take options."
    ]
    enum = world.admin.post(
        FIELDS, json={"key": "kind", "label": "K", "field_type": "enum", "options": ["a"]}
    ).json
    for options in ([], None):
        r = world.admin.patch(f"{FIELDS}/{enum['id']}", json={"options": options})
        assert r.status_code == 422, r.json
    assert world.admin.get(f"{FIELDS}/{enum['id']}").json["options"] == ["a"]


def test_definition_list_filters(world: Any, session: Any) -> None:
    make_definition(session, world.a, "floor", "integer")
    make_definition(session, world.a, "gate_code", "text", active=False)
    make_definition(session, world.a, "access", "enum", options=["a"])
    make_definition(session, world.b, "other", "text")
    session.commit()
    keys = [d["key"] for d in world.agent.get(FIELDS).json]
    assert keys == ["access", "floor", "gate_code"]
    assert [d["key"] for d in world.agent.get(f"{FIELDS}?active=false").json] == ["gate_code"]
    assert [d["key"] for d in world.agent.get(f"{FIELDS}?field_type=enum").json] == ["access"]
    assert [d["key"] for d in world.agent.get(f"{FIELDS}?q=OO&sort=-key").json] == ["floor"]
    assert len(world.agent.get(f"{FIELDS}?entity=work_order").json) == 3
    assert world.agent.get(f"{FIELDS}?entity=invoice").status_code == 422


# --- validate_custom_fields / resolve_skill_codes ---------------------------------------


@pytest.fixture()
def scoped(world: Any, connection: Any) -> Iterator[Session]:
    """A session bound to tenant A, the way a request's session is."""
    s = Session(bind=connection, join_transaction_mode="create_savepoint")
    set_tenant(s, world.a.id)
    yield s
    s.close()


@pytest.fixture()
def definitions(world: Any, session: Any) -> None:
    """One definition of every type in tenant A, plus look-alikes elsewhere."""
    make_definition(session, world.a, "note", "text")
    make_definition(session, world.a, "floor", "integer", required=True)
    make_definition(session, world.a, "load_kg", "decimal")
    make_definition(session, world.a, "pets", "boolean")
    make_definition(session, world.a, "due", "date")
    make_definition(session, world.a, "window", "datetime")
    make_definition(session, world.a, "access", "enum", options=["key box", "reception"])
    make_definition(session, world.a, "legacy", "text", required=True, active=False)
    make_definition(session, world.b, "b_only", "text", required=True)
    make_definition(session, world.a, "contact", "text", entity="customer", required=True)
    session.commit()


GOOD = {
    "note": "ring twice",
    "floor": 3,
    "load_kg": 12.5,
    "pets": False,
    "due": "2028-02-29",
    "window": "2028-05-01T10:00:00+08:00",
    "access": "reception",
}


def check(s: Session, values: Any, partial: bool = False) -> dict[str, Any]:
    return validate_custom_fields(db_session=s, entity="work_order", values=values, partial=partial)


def errors_of(s: Session, values: Any, partial: bool = False) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as caught:
        check(s, values, partial)
    assert caught.value.code == "invalid_custom_fields" and caught.value.status == 422
    errors: dict[str, list[str]] = caught.value.details["errors"]["custom_fields"]
    return errors


def test_valid_values_are_normalised(scoped: Session, definitions: None) -> None:
    result = check(scoped, GOOD)
    assert result == {**GOOD, "window": "2028-05-01T02:00:00+00:00"}
    assert check(scoped, {"floor": 0, "load_kg": 7, "window": "2028-05-01T02:00:00Z"}) == {
        "floor": 0,
        "load_kg": 7,
        "window": "2028-05-01T02:00:00+00:00",
    }


def test_every_problem_is_reported_at_once(scoped: Session, definitions: None) -> None:
    errors = errors_of(
        scoped,
        {
            "note": 5,
            "load_kg": "12.5",
            "pets": "true",
            "due": "2027-02-29",
            "window": "2028-05-01T10:00:00",
            "access": "window",
            "colour": "red",
            "b_only": "x",
            "contact": "x",
        },
    )
    assert set(errors) == {
        "note",
        "load_kg",
        "pets",
        "due",
        "window",
        "access",
        "colour",
        "b_only",
        "contact",
        "floor",
    }
    assert errors["floor"] == ["Missing required field."]
    assert errors["colour"] == errors["b_only"] == errors["contact"] == ["Unknown field."]
    assert "time zone" in errors["window"][0]
    assert "key box, reception" in errors["access"][0]


@pytest.mark.parametrize("value", [True, "3", 3.0, 2.5, None, [3], 2**63])
def test_integer_must_be_a_real_int(scoped: Session, definitions: None, value: Any) -> None:
    errors = errors_of(scoped, {**GOOD, "floor": value})
    assert list(errors) == ["floor"]


@pytest.mark.parametrize("value", [True, "1.5", float("nan"), float("inf"), {}])
def test_decimal_must_be_a_finite_number(scoped: Session, definitions: None, value: Any) -> None:
    assert list(errors_of(scoped, {**GOOD, "load_kg": value})) == ["load_kg"]


@pytest.mark.parametrize("value", ["01/02/2028", "2028-13-01", 20280101, "2028-01-01T10:00"])
def test_date_must_parse(scoped: Session, definitions: None, value: Any) -> None:
    assert list(errors_of(scoped, {**GOOD, "due": value})) == ["due"]


def test_partial_skips_required_but_not_null(scoped: Session, definitions: None) -> None:
    assert check(scoped, {"pets": True}, partial=True) == {"pets": True}
    assert check(scoped, {}, partial=True) == {}
    assert errors_of(scoped, {"floor": None}, partial=True) == {
        "floor": ["This field is required."]
    }
    # An optional field may be cleared.
    assert check(scoped, {"note": None}, partial=True) == {"note": None}


def test_inactive_definitions_accept_nothing_and_require_nothing(
    scoped: Session, definitions: None
) -> None:
    assert "legacy" not in check(scoped, GOOD)
    errors = errors_of(scoped, {**GOOD, "legacy": "x"})
    assert errors == {"legacy": ["This field is no longer in use."]}


def test_no_definitions_means_only_empty_is_valid(world: Any, scoped: Session) -> None:
    assert check(scoped, {}) == {}
    assert errors_of(scoped, {"x": 1}) == {"x": ["Unknown field."]}
    assert errors_of(scoped, ["x"]) == {"_schema": ["Must be an object."]}


def test_resolve_skill_codes(world: Any, session: Any, scoped: Session) -> None:
    hvac = f.make_skill(session, world.a, "hvac")
    f.make_skill(session, world.a, "welding")
    f.make_skill(session, world.b, "b-skill")
    session.commit()
    found = resolve_skill_codes(db_session=scoped, codes=["hvac", "hvac"])
    assert list(found) == ["hvac"] and found["hvac"].id == hvac.id
    assert resolve_skill_codes(db_session=scoped, codes=[]) == {}
    with pytest.raises(ValidationFailed) as caught:
        resolve_skill_codes(db_session=scoped, codes=["hvac", "b-skill", "nope"])
    assert caught.value.code == "unknown_skill"
    assert caught.value.details["errors"] == {
        "skills": {"b-skill": ["Unknown skill code."], "nope": ["Unknown skill code."]}
    }


def test_custom_field_extremes_are_422_not_500(world: Any, session: Any) -> None:
    """Huge decimals and out-of-range datetimes are validation errors."""
    from server.errors import ValidationFailed
    from server.organization.models import CustomFieldDefinition
    from server.organization.service import validate_custom_fields

    for key, kind in (("amount", "decimal"), ("when", "datetime")):
        session.add(
            CustomFieldDefinition(
                tenant_id=world.a.id, entity="work_order", key=key, label=key, field_type=kind
            )
        )
    session.commit()
    session.info["tenant_id"] = world.a.id
    for values in ({"amount": 10**400}, {"when": "0001-01-01T00:00:00+05:00"}):
        with pytest.raises(ValidationFailed) as caught:
            validate_custom_fields(
                db_session=session, entity="work_order", values=values, partial=True
            )
        assert caught.value.code == "invalid_custom_fields"
