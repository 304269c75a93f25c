"""Points, bounding boxes and great-circle distances (pure Python + NumPy-free)."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


class GeoError(ValueError):
    """Raised for coordinates or boxes that cannot exist on Earth."""


@dataclass(frozen=True)
class Point:
    """A WGS84 position; latitude first in the constructor, as people say it."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise GeoError(f"latitude {self.lat!r} outside [-90, 90]")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise GeoError(f"longitude {self.lon!r} outside [-180, 180]")

    def wkt(self) -> str:
        """Well-known text, longitude first as WKT requires."""
        return f"POINT({self.lon!r} {self.lat!r})"


@dataclass(frozen=True)
class BBox:
    """An axis-aligned box in degrees; does not cross the antimeridian."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def __post_init__(self) -> None:
        Point(self.min_lat, self.min_lon)
        Point(self.max_lat, self.max_lon)
        if self.min_lon > self.max_lon or self.min_lat > self.max_lat:
            raise GeoError("bbox minimum exceeds maximum")

    @classmethod
    def parse(cls, text: str) -> BBox:
        """Parse ``min_lon,min_lat,max_lon,max_lat`` (the GeoJSON/OGC order)."""
        parts = text.split(",")
        if len(parts) != 4:
            raise GeoError("bbox needs four comma-separated numbers")
        try:
            values = [float(p) for p in parts]
        except ValueError as exc:
            raise GeoError("bbox values must be numbers") from exc
        return cls(*values)

    def contains(self, point: Point) -> bool:
        """True when the point lies inside or on the box."""
        return (
            self.min_lon <= point.lon <= self.max_lon and self.min_lat <= point.lat <= self.max_lat
        )


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bbox_around(center: Point, radius_m: float) -> BBox:
    """The smallest degree box that contains a circle; used to pre-filter with an index."""
    if not (math.isfinite(radius_m) and radius_m >= 0):
        raise GeoError("radius must be a non-negative number")
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    coslat = math.cos(math.radians(center.lat))
    dlon = (
        180.0 if coslat < 1e-9 else min(180.0, math.degrees(radius_m / (EARTH_RADIUS_M * coslat)))
    )
    return BBox(
        max(-180.0, center.lon - dlon),
        max(-90.0, center.lat - dlat),
        min(180.0, center.lon + dlon),
        min(90.0, center.lat + dlat),
    )
