"""geo: validation, distances, boxes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo import BBox, GeoError, Point, bbox_around, haversine_m

lat = st.floats(-89.9, 89.9)
lon = st.floats(-179.9, 179.9)


@pytest.mark.parametrize(
    "la,lo", [(91, 0), (-91, 0), (0, 181), (0, -180.5), (math.nan, 0), (0, math.inf)]
)
def test_points_outside_earth_are_refused(la: float, lo: float) -> None:
    with pytest.raises(GeoError):
        Point(la, lo)


def test_known_distance_shanghai_beijing() -> None:
    shanghai, beijing = Point(31.2304, 121.4737), Point(39.9042, 116.4074)
    assert haversine_m(shanghai, beijing) == pytest.approx(1_067_000, rel=0.01)


@given(lat, lon, lat, lon)
def test_haversine_is_symmetric_and_non_negative(a: float, b: float, c: float, d: float) -> None:
    p, q = Point(a, b), Point(c, d)
    assert haversine_m(p, q) == pytest.approx(haversine_m(q, p))
    assert 0 <= haversine_m(p, q) <= math.pi * 6_371_009


@given(st.floats(-80, 80), st.floats(-170, 170), st.floats(1, 50_000), st.floats(0, 2 * math.pi))
def test_bbox_around_contains_the_circle(la: float, lo: float, radius: float, angle: float) -> None:
    center = Point(la, lo)
    box = bbox_around(center, radius)
    # A point at ~99 % of the radius in any direction stays inside the box.
    dlat = math.degrees(radius * 0.99 * math.cos(angle) / 6_371_008.8)
    dlon = math.degrees(
        radius * 0.99 * math.sin(angle) / (6_371_008.8 * math.cos(math.radians(la)))
    )
    edge = Point(la + dlat, max(-180, min(180, lo + dlon)))
    assert box.contains(edge)


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "10,10,5,5", "0,0,200,10", ""])
def test_bad_bbox_strings(text: str) -> None:
    with pytest.raises(GeoError):
        BBox.parse(text)


def test_bbox_parse_ok() -> None:
    assert BBox.parse("121.4,31.2,121.5,31.3") == BBox(121.4, 31.2, 121.5, 31.3)
