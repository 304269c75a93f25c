"""Geography: points, distances, and the only dialect-specific spatial SQL."""

from geo.points import BBox, GeoError, Point, bbox_around, haversine_m

__all__ = ["BBox", "GeoError", "Point", "bbox_around", "haversine_m"]
