"""Technician positions: phones report GPS fixes; planners see the newest one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests import factories as f

URL = "/api/v1/technicians/me/position"
NOW = dt.datetime.now(dt.UTC)


def iso(when: dt.datetime) -> str:
    return when.isoformat()


def report(world: Any, **body: Any) -> Any:
    return world.technician.post(URL, json={"lat": 31.2, "lon": 121.5, **body})


def test_report_is_stored_and_shown_to_planners(world: Any) -> None:
    at = NOW - dt.timedelta(minutes=2)
    r = report(world, lat=31.25, lon=121.45, accuracy_m=8.5, recorded_at=iso(at))
    assert r.status_code == 200, r.json
    assert r.json["applied"] is True
    assert r.json["technician_id"] == str(world.tech.id)
    assert r.json["last_position"] == {"lat": 31.25, "lon": 121.45}
    assert r.json["last_position_accuracy_m"] == 8.5
    assert abs(dt.datetime.fromisoformat(r.json["last_position_at"]) - at) < dt.timedelta(seconds=1)
    for api in (world.dispatcher, world.admin):
        tech = api.get(f"/api/v1/technicians/{world.tech.id}").json
        assert tech["last_position"] == {"lat": 31.25, "lon": 121.45}
        assert tech["last_position_accuracy_m"] == 8.5 and tech["last_position_at"]
    listed = {t["id"]: t for t in world.dispatcher.get("/api/v1/technicians").json}
    assert listed[str(world.tech.id)]["last_position"] == {"lat": 31.25, "lon": 121.45}
    assert listed[str(world.other_tech.id)]["last_position"] is None


@pytest.mark.parametrize("who", ["agent", "technician"])
def test_others_do_not_see_positions(world: Any, who: str) -> None:
    assert report(world).status_code == 200
    tech = getattr(world, who).get(f"/api/v1/technicians/{world.tech.id}").json
    assert tech["last_position"] is None
    assert tech["last_position_at"] is None and tech["last_position_accuracy_m"] is None


def test_defaults_to_now_without_accuracy(world: Any) -> None:
    r = report(world)
    assert r.status_code == 200 and r.json["applied"] is True
    stored = dt.datetime.fromisoformat(r.json["last_position_at"])
    assert abs(stored - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=30)
    assert r.json["last_position_accuracy_m"] is None


def test_an_older_fix_never_overwrites_a_newer_one(world: Any) -> None:
    newer = NOW - dt.timedelta(minutes=5)
    assert report(world, lat=31.0, recorded_at=iso(newer)).json["applied"] is True
    r = report(world, lat=30.0, recorded_at=iso(newer - dt.timedelta(minutes=10)))
    assert r.status_code == 200
    assert r.json["applied"] is False
    assert r.json["last_position"]["lat"] == 31.0
    same = report(world, lat=29.0, recorded_at=iso(newer))
    assert same.json["applied"] is False and same.json["last_position"]["lat"] == 31.0
    later = report(world, lat=32.0, recorded_at=iso(newer + dt.timedelta(minutes=1)))
    assert later.json["applied"] is True and later.json["last_position"]["lat"] == 32.0
    tech = world.dispatcher.get(f"/api/v1/technicians/{world.tech.id}").json
    assert tech["last_position"]["lat"] == 32.0


def test_positions_are_per_technician(world: Any) -> None:
    report(world, lat=31.1)
    world.other_technician.post(URL, json={"lat": 31.9, "lon": 121.0})
    listed = {t["id"]: t for t in world.dispatcher.get("/api/v1/technicians").json}
    assert listed[str(world.tech.id)]["last_position"]["lat"] == 31.1
    assert listed[str(world.other_tech.id)]["last_position"]["lat"] == 31.9


@pytest.mark.parametrize(
    "body,code,field",
    [
        ({"recorded_at": iso(NOW + dt.timedelta(hours=1))}, "recorded_at_in_future", None),
        ({"recorded_at": iso(NOW - dt.timedelta(hours=25))}, "recorded_at_too_old", None),
        ({"recorded_at": "2026-05-02T10:00:00"}, "validation_error", "recorded_at"),
        ({"recorded_at": "yesterday"}, "validation_error", "recorded_at"),
        ({"lat": 91}, "validation_error", "lat"),
        ({"lon": -180.5}, "validation_error", "lon"),
        ({"lat": "31.2"}, "validation_error", "lat"),
        ({"lat": True}, "validation_error", "lat"),
        ({"lat": None}, "validation_error", "lat"),
        ({"accuracy_m": -1}, "validation_error", "accuracy_m"),
        ({"accuracy_m": "5"}, "validation_error", "accuracy_m"),
        ({"speed": 3}, "validation_error", "speed"),
    ],
)
def test_bad_reports_are_refused(
    world: Any, body: dict[str, Any], code: str, field: str | None
) -> None:
    r = report(world, **body)
    assert r.status_code == 422, r.json
    assert r.json["code"] == code
    if field:
        assert field in r.json["errors"]["json"]
    tech = world.dispatcher.get(f"/api/v1/technicians/{world.tech.id}").json
    assert tech["last_position"] is None


def test_missing_coordinates_are_refused(world: Any) -> None:
    r = world.technician.post(URL, json={"lat": 31.2})
    assert r.status_code == 422 and "lon" in r.json["errors"]["json"]
    r = world.technician.post(URL, json=[31.2, 121.5])
    assert r.status_code == 422


def test_only_technicians_report(world: Any) -> None:
    for who in ("admin", "dispatcher", "agent"):
        r = getattr(world, who).post(URL, json={"lat": 31.2, "lon": 121.5})
        assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    assert world.api.post(URL, json={"lat": 31.2, "lon": 121.5}).status_code == 401


def test_technician_user_without_record_is_refused(world: Any, session: Any) -> None:
    loose = f.make_user(session, world.a, "technician")
    session.commit()
    r = world.api.as_(loose).post(URL, json={"lat": 31.2, "lon": 121.5})
    assert r.status_code == 403 and r.json["code"] == "not_a_technician"
