"""The only dialect-specific spatial SQL: PostGIS in production, SpatiaLite embedded.

Callers pass the dialect name ("postgresql" or "sqlite") and get SQLAlchemy expressions
back, so no other package ever needs to know which spatial engine is underneath.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from sqlalchemy import ColumnElement, Float, Integer, func, literal, literal_column, select, text
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


def points_within_bbox(
    column: Any, bbox: BBox, dialect: str, *, table: str, column_name: str
) -> ColumnElement[bool]:
    """``within_bbox`` for POINT columns, where the indexed box test alone is exact (to the
    index's single-precision box, about a metre).

    Leaving out ST_Intersects also keeps PostgreSQL's cost estimate of a city-wide scan
    modest; with it the planner JIT-compiles the query, which costs more than it runs.
    """
    if dialect == "postgresql":
        # The box goes into the SQL text (four floats; nothing to inject): a prepared
        # statement switches to a generic plan after a few runs, and one that cannot see
        # the box guesses its selectivity - three times slower for a city-wide box.
        corners = (bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat)
        envelope = func.ST_MakeEnvelope(
            *(literal(float(c), Float, literal_execute=True) for c in corners),
            literal(SRID, Integer, literal_execute=True),
        )
        return column.op("&&")(envelope)  # type: ignore[no-any-return]
    return within_bbox(column, bbox, dialect, table=table, column_name=column_name)


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


def point_xy(column: Any) -> tuple[ColumnElement[float], ColumnElement[float]]:
    """Longitude and latitude of a point column as plain numbers (no WKB decoding)."""
    return func.ST_X(column), func.ST_Y(column)


def contains_geometry(polygon_column: Any, point_column: Any, dialect: str) -> ColumnElement[bool]:
    """Rows whose polygon contains another row's point (territory holds a site or order)."""
    if dialect == "postgresql":
        return func.ST_Contains(polygon_column, point_column)
    return func.ST_Contains(polygon_column, point_column) == 1


def in_bbox(column: Any, bbox: BBox, dialect: str) -> ColumnElement[bool]:
    """Rows whose geometry intersects the box, without an index (small or unindexed columns)."""
    if dialect == "postgresql":
        return func.ST_Intersects(column, _envelope(bbox, dialect))
    return func.MbrIntersects(column, _envelope(bbox, dialect)) == 1


def grid_cell(
    lon: Any, lat: Any, cell_deg: float, dialect: str
) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """Integer (column, row) of the square grid cell holding lon/lat, for GROUP BY clustering.

    Cells are counted from (-180, -90), so every coordinate is non-negative and SQLite's
    truncating CAST equals floor; PostgreSQL's CAST rounds, so it floors explicitly.
    """
    if not (cell_deg > 0):
        raise GeoError("cell size must be positive")
    if dialect == "postgresql":
        return (
            func.floor((lon + 180.0) / cell_deg).cast(Integer),
            func.floor((lat + 90.0) / cell_deg).cast(Integer),
        )
    return (((lon + 180.0) / cell_deg).cast(Integer), ((lat + 90.0) / cell_deg).cast(Integer))
