"""The parts catalogue: everyone reads it, admins maintain it, SKUs unique per tenant."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

URL = "/api/v1/parts"


def body(**overrides: Any) -> dict[str, Any]:
    data = {
        "sku": "BRK-100",
        "name": "Brake pad",
        "unit": "pcs",
        "serialized": False,
        "unit_cost": "12.50",
        "unit_price": 20,
        "compatible_models": ["E-100", "E-200"],
    }
    data.update(overrides)
    return data


@pytest.fixture()
def part(world: Any) -> dict[str, Any]:
    """One part of tenant A, created through the API."""
    r = world.admin.post(URL, json=body())
    assert r.status_code == 201, r.json
    created: dict[str, Any] = r.json
    return created


@pytest.fixture()
def catalogue(world: Any) -> None:
    """A few parts of tenant A and one of tenant B."""
    rows = [
        body(sku="BRK-100", name="Brake pad", unit_price="20.00"),
        body(
            sku="MTR-7",
            name="Door motor",
            serialized=True,
            unit_price="450.00",
            compatible_models=["e-300"],
        ),
        body(sku="CBL-1", name="Cable", unit="m", unit_price="1.20", compatible_models=[]),
        body(sku="OLD-9", name="Old brake", active=False, unit_price="5"),
    ]
    for row in rows:
        assert world.admin.post(URL, json=row).status_code == 201
    assert world.b_api.post(URL, json=body(sku="B-1", name="Brake B")).status_code == 201


def skus(r: Any) -> list[str]:
    assert r.status_code == 200, r.json
    return [p["sku"] for p in r.json]


# --- roles and tenants ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "dispatcher", "agent", "technician"])
def test_every_role_reads(world: Any, part: dict[str, Any], role: str) -> None:
    client = getattr(world, role)
    assert skus(client.get(URL)) == ["BRK-100"]
    one = client.get(f"{URL}/{part['id']}")
    assert one.status_code == 200 and one.json == part


@pytest.mark.parametrize("role", ["dispatcher", "agent", "technician"])
def test_only_admins_write(world: Any, part: dict[str, Any], role: str) -> None:
    client = getattr(world, role)
    r = client.post(URL, json=body(sku="NEW-1"))
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    r = client.patch(f"{URL}/{part['id']}", json={"unit_price": "0.01"})
    assert r.status_code == 403
    assert world.admin.get(f"{URL}/{part['id']}").json["unit_price"] == "20.00"


def test_anonymous_is_401(world: Any, part: dict[str, Any]) -> None:
    for r in (
        world.api.get(URL),
        world.api.get(f"{URL}/{part['id']}"),
        world.api.post(URL, json=body(sku="NEW-1")),
        world.api.patch(f"{URL}/{part['id']}", json={"name": "X"}),
    ):
        assert r.status_code == 401 and r.json["code"] == "unauthorized"


def test_other_tenant_cannot_see_or_change(world: Any, part: dict[str, Any]) -> None:
    assert world.b_api.get(URL).json == []
    r = world.b_api.get(f"{URL}/{part['id']}")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    r = world.b_api.patch(f"{URL}/{part['id']}", json={"name": "pwned"})
    assert r.status_code == 404
    assert world.admin.get(f"{URL}/{part['id']}").json["name"] == "Brake pad"


def test_unknown_id_is_404(world: Any) -> None:
    assert world.admin.get(f"{URL}/{uuid.uuid4()}").status_code == 404
    assert world.admin.patch(f"{URL}/{uuid.uuid4()}", json={"name": "X"}).status_code == 404


# --- create and change ------------------------------------------------------------------


def test_create_shows_money_as_decimal_strings(world: Any, part: dict[str, Any]) -> None:
    assert part["sku"] == "BRK-100" and part["name"] == "Brake pad" and part["unit"] == "pcs"
    assert part["unit_cost"] == "12.50" and part["unit_price"] == "20.00"
    assert part["compatible_models"] == ["E-100", "E-200"]
    assert part["serialized"] is False and part["active"] is True
    assert world.agent.get(f"{URL}/{part['id']}").json == part


def test_defaults(world: Any) -> None:
    r = world.admin.post(URL, json={"sku": "X-1", "name": "Thing"})
    assert r.status_code == 201, r.json
    assert r.json["unit"] == "pcs" and r.json["unit_cost"] == "0.00"
    assert r.json["unit_price"] == "0.00" and r.json["compatible_models"] == []
    assert r.json["serialized"] is False and r.json["active"] is True


def test_compatible_models_are_trimmed_and_deduplicated(world: Any) -> None:
    r = world.admin.post(URL, json=body(compatible_models=[" E-100", "E-100", "E-9 "]))
    assert r.status_code == 201 and r.json["compatible_models"] == ["E-100", "E-9"]


def test_sku_unique_per_tenant(world: Any, part: dict[str, Any]) -> None:
    dup = world.admin.post(URL, json=body(name="Other"))
    assert dup.status_code == 409 and dup.json["code"] == "duplicate_sku"
    # Tenant B has its own catalogue.
    assert world.b_api.post(URL, json=body()).status_code == 201
    other = world.admin.post(URL, json=body(sku="BRK-200")).json
    clash = world.admin.patch(f"{URL}/{other['id']}", json={"sku": "BRK-100"})
    assert clash.status_code == 409 and clash.json["code"] == "duplicate_sku"
    same = world.admin.patch(f"{URL}/{part['id']}", json={"sku": "BRK-100", "name": "Pad"})
    assert same.status_code == 200 and same.json["name"] == "Pad"


def test_patch_changes_only_given_fields(world: Any, part: dict[str, Any]) -> None:
    r = world.admin.patch(
        f"{URL}/{part['id']}",
        json={"unit_price": 25.5, "compatible_models": [], "active": False, "sku": "BRK-101"},
    )
    assert r.status_code == 200, r.json
    assert r.json["unit_price"] == "25.50" and r.json["compatible_models"] == []
    assert r.json["active"] is False and r.json["sku"] == "BRK-101"
    assert r.json["unit_cost"] == part["unit_cost"] and r.json["name"] == part["name"]
    assert r.json["updated_at"] > part["updated_at"]
    assert world.admin.get(f"{URL}/{part['id']}").json == r.json


BAD = [
    ({"unit_cost": -1}, "unit_cost"),
    ({"unit_cost": "-0.01"}, "unit_cost"),
    ({"unit_price": "1.234"}, "unit_price"),
    ({"unit_price": "abc"}, "unit_price"),
    ({"unit_price": "NaN"}, "unit_price"),
    ({"unit_price": "Infinity"}, "unit_price"),
    ({"unit_price": True}, "unit_price"),
    ({"unit_price": "10000000000"}, "unit_price"),
    ({"unit_price": None}, "unit_price"),
    ({"sku": ""}, "sku"),
    ({"sku": "has space"}, "sku"),
    ({"sku": "x" * 65}, "sku"),
    ({"name": " "}, "name"),
    ({"unit": "x" * 17}, "unit"),
    ({"serialized": "false"}, "serialized"),
    ({"active": 0}, "active"),
    ({"compatible_models": "E-100"}, "compatible_models"),
    ({"compatible_models": [""]}, "compatible_models"),
    ({"compatible_models": [7]}, "compatible_models"),
    ({"stock": 5}, "stock"),
]


@pytest.mark.parametrize("change,field", BAD)
def test_bad_input_is_422_on_create(world: Any, change: dict[str, Any], field: str) -> None:
    r = world.admin.post(URL, json=body(**change))
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    assert list(r.json["errors"]["json"]) == [field]


@pytest.mark.parametrize("change,field", BAD)
def test_bad_input_is_422_on_patch(
    world: Any, part: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    r = world.admin.patch(f"{URL}/{part['id']}", json=change)
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    assert list(r.json["errors"]["json"]) == [field]


def test_missing_required_fields(world: Any) -> None:
    r = world.admin.post(URL, json={})
    assert r.status_code == 422 and set(r.json["errors"]["json"]) == {"sku", "name"}


def test_money_accepts_numbers_and_strings(world: Any) -> None:
    r = world.admin.post(URL, json=body(unit_cost=0.1, unit_price="9999999999.99"))
    assert r.status_code == 201, r.json
    assert r.json["unit_cost"] == "0.10" and r.json["unit_price"] == "9999999999.99"
    assert world.admin.get(f"{URL}/{r.json['id']}").json["unit_price"] == "9999999999.99"


# --- list filters -----------------------------------------------------------------------


def test_default_order_and_text_search(world: Any, catalogue: None) -> None:
    assert skus(world.technician.get(URL)) == ["BRK-100", "CBL-1", "MTR-7", "OLD-9"]
    assert skus(world.technician.get(f"{URL}?q=brake")) == ["BRK-100", "OLD-9"]
    assert skus(world.technician.get(f"{URL}?q=mtr")) == ["MTR-7"]
    assert skus(world.technician.get(f"{URL}?q=100%25")) == []


def test_boolean_filters(world: Any, catalogue: None) -> None:
    assert skus(world.agent.get(f"{URL}?serialized=true")) == ["MTR-7"]
    assert skus(world.agent.get(f"{URL}?active=false")) == ["OLD-9"]
    assert skus(world.agent.get(f"{URL}?active=true&serialized=false")) == ["BRK-100", "CBL-1"]
    assert world.agent.get(f"{URL}?active=maybe").status_code == 422


def test_compatible_model_filter(world: Any, catalogue: None) -> None:
    assert skus(world.technician.get(f"{URL}?model=E-100")) == ["BRK-100", "OLD-9"]
    # Exact element match, case-insensitive; not a substring search.
    assert skus(world.technician.get(f"{URL}?model=E-300")) == ["MTR-7"]
    assert skus(world.technician.get(f"{URL}?model=E-10")) == []
    assert skus(world.technician.get(f"{URL}?model=E-100&active=true")) == ["BRK-100"]


def test_sort_and_pages(world: Any, catalogue: None) -> None:
    assert skus(world.admin.get(f"{URL}?sort=-unit_price")) == [
        "MTR-7",
        "BRK-100",
        "OLD-9",
        "CBL-1",
    ]
    assert skus(world.admin.get(f"{URL}?sort=-name")) == ["OLD-9", "MTR-7", "CBL-1", "BRK-100"]
    page = world.admin.get(f"{URL}?page=2&page_size=3")
    assert skus(page) == ["OLD-9"]
    assert '"total": 4' in page.headers["X-Pagination"]
    r = world.admin.get(f"{URL}?sort=unit_cost")
    assert r.status_code == 422 and r.json["code"] == "invalid_sort"
