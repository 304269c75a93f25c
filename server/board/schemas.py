"""Board schemas: query arguments, and the Gantt and GeoJSON documents (for the docs).

The views build both documents as plain JSON (thousands of items, no per-item schema
dump); these schemas describe them, and the tests load real responses through them.
"""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, fields, validate

from server.schemas import PointSchema, Timestamp
from server.work_orders.models import PRIORITIES
from server.work_orders.schemas import STATUSES

MAX_ZOOM = 22


# Like every other time in the API: between 1900 and 2200 (and no overflow at the edges).
_DAYS = validate.Range(min=dt.date(1900, 1, 1), max=dt.date(2199, 12, 31))


class GanttQueryArgsSchema(Schema):
    """Local days (tenant time zone, both inclusive, at most 31) and lane filters."""

    date_from = fields.Date(required=True, validate=_DAYS)
    date_to = fields.Date(required=True, validate=_DAYS)
    territory_id = fields.UUID(metadata={"description": "Technicians covering this territory."})
    technician_id = fields.UUID(metadata={"description": "Only this technician's lane."})


class IntervalSchema(Schema):
    """A UTC interval."""

    start = Timestamp(required=True)
    end = Timestamp(required=True)


class GanttJobSchema(Schema):
    """A scheduled visit in a lane."""

    id = fields.UUID(required=True)
    number = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": STATUSES})
    priority = fields.String(required=True, metadata={"enum": list(PRIORITIES)})
    role = fields.String(required=True, validate=validate.OneOf(["lead", "helper"]))
    start = Timestamp(required=True)
    end = Timestamp(required=True)
    location = fields.Nested(PointSchema, allow_none=True, required=True)
    requested_start = Timestamp(allow_none=True, required=True)
    requested_end = Timestamp(allow_none=True, required=True)


class GanttTravelSchema(Schema):
    """Driving to a visit: from home base (first of the day) or the previous visit."""

    from_order_id = fields.UUID(allow_none=True, required=True)
    to_order_id = fields.UUID(required=True)
    start = Timestamp(required=True)
    end = Timestamp(required=True)
    distance_km = fields.Float(required=True)
    duration_minutes = fields.Float(required=True)


class GanttConflictSchema(Schema):
    """Something wrong with the lane, with a stable code.

    Codes: overlapping_jobs, outside_shift, travel_makes_late, outside_requested_window,
    missing_skill.
    """

    code = fields.String(required=True)
    order_ids = fields.List(fields.UUID(), required=True)
    message = fields.String(required=True)


class GanttTechnicianSchema(Schema):
    """Whose lane."""

    id = fields.UUID(required=True)
    name = fields.String(required=True)
    home_base = fields.Nested(PointSchema, allow_none=True, required=True)


class GanttLaneSchema(Schema):
    """One technician's days."""

    technician = fields.Nested(GanttTechnicianSchema, required=True)
    shifts = fields.List(fields.Nested(IntervalSchema), required=True)
    breaks = fields.List(fields.Nested(IntervalSchema), required=True)
    jobs = fields.List(fields.Nested(GanttJobSchema), required=True)
    travel = fields.List(fields.Nested(GanttTravelSchema), required=True)
    conflicts = fields.List(fields.Nested(GanttConflictSchema), required=True)


class GanttSchema(Schema):
    """Gantt lanes for local days date_from..date_to, times in UTC."""

    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)
    timezone = fields.String(required=True)
    start = Timestamp(required=True)
    end = Timestamp(required=True)
    lanes = fields.List(fields.Nested(GanttLaneSchema), required=True)


class MapQueryArgsSchema(Schema):
    """The visible box and zoom level; orders are clustered below zoom 13."""

    bbox = fields.String(
        required=True,
        validate=validate.Length(max=200),
        metadata={
            "description": "min_lon,min_lat,max_lon,max_lat",
            "example": "121.3,31.1,121.6,31.3",
        },
    )
    zoom = fields.Integer(required=True, validate=validate.Range(0, MAX_ZOOM))
    status = fields.String(
        validate=validate.Length(max=300),
        metadata={"description": "Order statuses, comma-separated (default: every open one)."},
    )


class GeometrySchema(Schema):
    """A GeoJSON point: [lon, lat]."""

    type = fields.String(required=True, validate=validate.Equal("Point"))
    coordinates = fields.List(fields.Float(), required=True, validate=validate.Length(equal=2))


class FeatureSchema(Schema):
    """A technician, an order or a cluster of orders; ``properties.kind`` says which.

    technician: name, position_at, position_age_s, accuracy_m, current_order {id, number,
    status} or null. order: number, title, status, priority, lead_technician_id,
    scheduled_start. cluster: count, max_priority, bbox [min_lon, min_lat, max_lon, max_lat].
    """

    type = fields.String(required=True, validate=validate.Equal("Feature"))
    id = fields.String(required=True)
    geometry = fields.Nested(GeometrySchema, required=True)
    properties = fields.Dict(keys=fields.String(), required=True)


class FeatureCollectionSchema(Schema):
    """GeoJSON for the map, with how it was cut."""

    type = fields.String(required=True, validate=validate.Equal("FeatureCollection"))
    features = fields.List(fields.Nested(FeatureSchema), required=True)
    clustered = fields.Boolean(required=True)
    cell_deg = fields.Float(allow_none=True, required=True)
    truncated = fields.Boolean(
        required=True, metadata={"description": "True when orders were cut at the cap."}
    )
    zoom = fields.Integer(required=True)
