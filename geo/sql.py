"""The only dialect-specific spatial SQL: PostGIS in production, SpatiaLite embedded.

Callers pass the dialect name ("postgresql" or "sqlite") and get SQLAlchemy expressions
back, so no other package ever needs to know which spatial engine is underneath.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from sqlalchemy import ColumnElement, func, literal_column, select, text
from sqlalchemy.sql.expression import ColumnClause

from geo.points import BBox, GeoError, Point

SRID = 4326


def point_element(point: Point) -> WKTElement:
    """A bindable geometry for a point column."""
    return WKTElement(point.wkt(), srid=SRID)


def point_from_element(element: Any) -> Point | None:
    """Read a point column's value (WKB from either dialect) back into a Point."""
    if element is None:
        return None
    if isinstance(element, (WKBElement, WKTElement)):
        shape = to_shape(element)
        return Point(lat=float(shape.y), lon=float(shape.x))
    raise GeoError(f"not a geometry: {type(element).__name__}")


def polygon_element(ring: Sequence[Point]) -> WKTElement:
    """A bindable polygon from one outer ring (closed automatically)."""
    if len(ring) < 3:
        raise GeoError("a polygon needs at least three points")
    coords = [(p.lon, p.lat) for p in ring]
    if coords[0] != coords[-1]:
        coords.append(coords[0])
    body = ", ".join(f"{lon!r} {lat!r}" for lon, lat in coords)
    return WKTElement(f"POLYGON(({body}))", srid=SRID)


def polygon_from_element(element: Any) -> list[Point] | None:
    """The outer ring of a polygon column value."""
    if element is None:
        return None
    shape = to_shape(element)
    return [Point(lat=float(y), lon=float(x)) for x, y in shape.exterior.coords]


def _envelope(bbox: BBox, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.ST_MakeEnvelope(bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat, SRID)
    return func.BuildMbr(bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat, SRID)


def within_bbox(
    column: Any, bbox: BBox, dialect: str, *, table: str, column_name: str
) -> ColumnElement[bool]:
    """Rows whose geometry intersects the box, using the spatial index on both engines."""
    if dialect == "postgresql":
        # && is the GiST-indexed bounding-box operator; the exact test follows.
        return column.op("&&")(_envelope(bbox, dialect)) & func.ST_Intersects(  # type: ignore[no-any-return]
            column, _envelope(bbox, dialect)
        )
    # SpatiaLite only uses its R*Tree through the SpatialIndex virtual table.
    index_rows: Any = (
        select(literal_column("ROWID"))
        .select_from(text("SpatialIndex"))
        .where(
            literal_column("f_table_name") == table,
            literal_column("f_geometry_column") == column_name,
            literal_column("search_frame") == _envelope(bbox, dialect),
        )
    )
    rowid: ColumnClause[Any] = literal_column(f"{table}.ROWID")
    return rowid.in_(index_rows) & (func.MbrIntersects(column, _envelope(bbox, dialect)) == 1)


def distance_m(column: Any, point: Point, dialect: str) -> ColumnElement[float]:
    """Geodesic distance in metres from a point column to a point."""
    target = func.ST_GeomFromText(point.wkt(), SRID)
    if dialect == "postgresql":
        return func.ST_Distance(func.geography(column), func.geography(target))
    return func.ST_Distance(column, target, 1)


def contains_point(polygon_column: Any, point: Point, dialect: str) -> ColumnElement[bool]:
    """Rows whose polygon contains the point (e.g. which territory a site is in)."""
    target = func.ST_GeomFromText(point.wkt(), SRID)
    if dialect == "postgresql":
        return func.ST_Contains(polygon_column, target)
    return func.ST_Contains(polygon_column, target) == 1
