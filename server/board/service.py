"""Board reads: Gantt lanes and map GeoJSON, each in a fixed number of queries.

Both build plain JSON-ready dicts (ISO strings, [lon, lat]) instead of ORM objects: a week
of fifty technicians is thousands of items, and a map page up to five thousand features.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, case, cast, func, literal, select
from sqlalchemy.orm import Session, noload

from geo import BBox, GeoError, Point
from geo.sql import grid_cell, in_bbox, point_from_element, point_xy, points_within_bbox
from geo.travel import HaversineProvider
from server.db import utcnow
from server.errors import ValidationFailed
from server.organization.models import Territory
from server.technicians.models import Shift, Technician, technician_territories
from server.tenants.service import tenant_zone
from server.work_orders.models import PRIORITIES, WorkOrder, WorkOrderHelper
from workflow.lifecycle import Status

MAX_DAYS = 31
# Below this zoom the map shows order clusters; at and above it single orders.
CLUSTER_BELOW = 13
# Grid cells per 256 px map tile: about 32 px per cell on screen at any zoom.
CELLS_PER_TILE = 8
MAX_ORDER_FEATURES = 5000
MAP_STATUSES = tuple(
    s.value for s in Status if s not in {Status.CLOSED, Status.CANCELLED, Status.COMPLETED}
)
# What a technician is doing "now", most telling first.
CURRENT = (Status.ON_SITE, Status.EN_ROUTE, Status.ACCEPTED, Status.DISPATCHED)
_PRIORITY_RANK = case({p: i for i, p in enumerate(PRIORITIES)}, value=WorkOrder.priority)


def _iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 of a UTC datetime, as Timestamp fields write it.

    Every datetime here is UTC already (UTCDateTime columns, UTC arithmetic); formatting
    it naive and appending the offset is twice as fast, which tells over thousands.
    """
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat() + "+00:00"


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant a local day starts."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _at(day: dt.date, clock: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, clock, tzinfo=zone).astimezone(dt.UTC)


def shift_intervals(
    shifts: Iterable[Shift], days: Sequence[dt.date], zone: ZoneInfo
) -> tuple[list[tuple[dt.datetime, dt.datetime]], list[tuple[dt.datetime, dt.datetime]]]:
    """Weekly local shifts (and their breaks) as absolute UTC intervals on these days.

    Each wall-clock time is converted on its own date, so a shift on the day the clocks
    change is an hour shorter or longer, as it really is.
    """
    work: list[tuple[dt.datetime, dt.datetime]] = []
    rest: list[tuple[dt.datetime, dt.datetime]] = []
    by_weekday: dict[int, list[Shift]] = defaultdict(list)
    for shift in shifts:
        by_weekday[shift.weekday].append(shift)
    for day in days:
        for shift in sorted(by_weekday[day.weekday()], key=lambda s: s.start_time):
            work.append((_at(day, shift.start_time, zone), _at(day, shift.end_time, zone)))
            if shift.break_start is not None and shift.break_minutes:
                begins = _at(day, shift.break_start, zone)
                rest.append((begins, begins + dt.timedelta(minutes=shift.break_minutes)))
    return work, rest


def _merged(intervals: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _check_range(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    if date_to < date_from:
        raise ValidationFailed(
            "date_to is before date_from.",
            code="invalid_date_range",
            errors={"date_to": ["Before date_from."]},
        )
    days = (date_to - date_from).days + 1
    if days > MAX_DAYS:
        raise ValidationFailed(
            f"The board shows at most {MAX_DAYS} days.",
            code="date_range_too_long",
            errors={"date_to": [f"At most {MAX_DAYS - 1} days after date_from."]},
        )
    return [date_from + dt.timedelta(days=i) for i in range(days)]


def _technicians(db_session: Session, args: Mapping[str, Any]) -> list[Technician]:
    stmt = select(Technician).options(noload(Technician.territories))
    if "technician_id" in args:
        stmt = stmt.where(Technician.id == args["technician_id"])
    else:
        stmt = stmt.where(Technician.active.is_(True))
    if "territory_id" in args:
        if db_session.get(Territory, args["territory_id"]) is None:
            raise ValidationFailed(
                "Unknown territory.",
                code="unknown_territory",
                errors={"territory_id": ["No such territory."]},
            )
        covering = select(technician_territories.c.technician_id).where(
            technician_territories.c.territory_id == args["territory_id"]
        )
        stmt = stmt.where(Technician.id.in_(covering))
    techs = list(db_session.scalars(stmt.order_by(Technician.name, Technician.id)))
    if "technician_id" in args and not techs:
        raise ValidationFailed(
            "Unknown technician.",
            code="unknown_technician",
            errors={"technician_id": ["No such technician."]},
        )
    return techs


_JOB_COLUMNS = (
    WorkOrder.id,
    WorkOrder.number,
    WorkOrder.title,
    WorkOrder.status,
    WorkOrder.priority,
    WorkOrder.scheduled_start,
    WorkOrder.scheduled_end,
    WorkOrder.estimated_duration_minutes,
    WorkOrder.requested_start,
    WorkOrder.requested_end,
    # As text: most visits need nothing special, and "[]" needs no JSON parser.
    cast(WorkOrder.required_skills, Text),
)


def _job_rows(
    db_session: Session, tech_ids: list[uuid.UUID], start: dt.datetime, end: dt.datetime
) -> list[tuple[Any, ...]]:
    """(order columns..., lon, lat, technician_id, role) for visits starting in [start, end),
    as plain tuples (positional access is far cheaper than Row attributes)."""
    if not tech_ids:
        return []
    lon, lat = point_xy(WorkOrder.location)
    in_range = (
        WorkOrder.scheduled_start >= start,
        WorkOrder.scheduled_start < end,
        WorkOrder.status != Status.CANCELLED.value,
    )
    leads = select(
        *_JOB_COLUMNS,
        lon,
        lat,
        WorkOrder.lead_technician_id,
        literal("lead"),
    ).where(WorkOrder.lead_technician_id.in_(tech_ids), *in_range)
    helpers = (
        select(*_JOB_COLUMNS, lon, lat, WorkOrderHelper.technician_id, literal("helper"))
        .join(WorkOrderHelper, WorkOrderHelper.work_order_id == WorkOrder.id)
        .where(WorkOrderHelper.technician_id.in_(tech_ids), *in_range)
    )
    return [tuple(row) for stmt in (leads, helpers) for row in db_session.execute(stmt)]


@dataclass(slots=True)
class _Visit:
    """One visit made ready once: times, local day, position, needs and its JSON form."""

    ident: str
    technician_id: uuid.UUID
    role: str
    start: dt.datetime
    end: dt.datetime
    day: dt.date
    point: Point | None
    requested_start: dt.datetime | None
    requested_end: dt.datetime | None
    needs: str | None
    job: dict[str, Any]


def _visit(row: tuple[Any, ...], zone: ZoneInfo) -> _Visit:
    (
        order_id,
        number,
        title,
        status,
        priority,
        start,
        end,
        minutes,
        requested_start,
        requested_end,
        needs,
        lon,
        lat,
        technician_id,
        role,
    ) = row
    if end is None or end <= start:
        end = start + dt.timedelta(minutes=minutes or 60)
    point = None if lat is None else Point(lat=float(lat), lon=float(lon))
    ident = str(order_id)
    job = {
        "id": ident,
        "number": number,
        "title": title,
        "status": status,
        "priority": priority,
        "role": role,
        "start": _iso(start),
        "end": _iso(end),
        "location": None if point is None else {"lat": point.lat, "lon": point.lon},
        "requested_start": _iso(requested_start),
        "requested_end": _iso(requested_end),
    }
    return _Visit(
        ident,
        technician_id,
        role,
        start,
        end,
        start.astimezone(zone).date(),
        point,
        requested_start,
        requested_end,
        needs,
        job,
    )


def _conflict(code: str, visits: Sequence[_Visit], message: str) -> dict[str, Any]:
    return {"code": code, "order_ids": [v.ident for v in visits], "message": message}


@functools.lru_cache(maxsize=1024)
def _needs(raw: str | None) -> tuple[tuple[str, int], ...]:
    """(skill, min level) pairs of a required_skills JSON text; few distinct texts repeat."""
    if not raw or raw == "[]":
        return ()
    return tuple((need["skill"], int(need.get("min_level", 1))) for need in json.loads(raw))


def _skill_gaps(visit: _Visit, held: Mapping[str, int]) -> list[str]:
    return [
        f"{skill} {level}" for skill, level in _needs(visit.needs) if held.get(skill, 0) < level
    ]


def _lane(
    tech: Technician,
    visits: list[_Visit],
    shifts: list[tuple[dt.datetime, dt.datetime]],
    breaks: list[tuple[dt.datetime, dt.datetime]],
    travel: HaversineProvider,
) -> dict[str, Any]:
    visits.sort(key=lambda v: (v.start, v.end, v.ident))
    home = point_from_element(tech.home_base)
    held = {s.skill.code: s.level for s in tech.skills}
    conflicts: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []

    # Overlaps: each visit against the one ending last before it.
    latest: _Visit | None = None
    for visit in visits:
        if latest is not None and visit.start < latest.end:
            conflicts.append(_conflict("overlapping_jobs", [latest, visit], "Two visits overlap."))
        if latest is None or visit.end > latest.end:
            latest = visit

    working = _merged(shifts)
    for visit in visits:
        if not any(start <= visit.start and visit.end <= end for start, end in working):
            conflicts.append(_conflict("outside_shift", [visit], "Not inside a shift."))
        requested_start, requested_end = visit.requested_start, visit.requested_end
        if (requested_start is not None and visit.start < requested_start) or (
            requested_end is not None and visit.start > requested_end
        ):
            conflicts.append(
                _conflict(
                    "outside_requested_window",
                    [visit],
                    "Starts outside the customer's requested window.",
                )
            )
        if visit.role == "lead":
            gaps = _skill_gaps(visit, held)
            if gaps:
                conflicts.append(_conflict("missing_skill", [visit], f"Lacks {', '.join(gaps)}."))

    # Travel: one provider call per lane over every stop of every day (home base first).
    points = [home] + [v.point for v in visits]
    known = [p for p in points if p is not None]
    index = {id(p): i for i, p in enumerate(known)}
    matrix = travel.matrix(known) if len(known) > 1 else None
    previous: _Visit | None = None
    for visit in visits:
        if previous is not None and previous.day != visit.day:
            previous = None  # a new day starts from the home base
        origin = home if previous is None else previous.point
        if matrix is not None and origin is not None and visit.point is not None:
            cell = (index[id(origin)], index[id(visit.point)])
            seconds = int(matrix.durations_s[cell])
            trip = dt.timedelta(seconds=seconds)
            # From home: arrive just in time. Between visits: leave when the last one ends.
            leave = visit.start - trip if previous is None else previous.end
            segments.append(
                {
                    "from_order_id": None if previous is None else previous.ident,
                    "to_order_id": visit.ident,
                    "start": _iso(leave),
                    "end": _iso(leave + trip),
                    "distance_km": round(int(matrix.distances_m[cell]) / 1000.0, 2),
                    "duration_minutes": round(seconds / 60.0, 1),
                }
            )
            if previous is not None and leave + trip > visit.start:
                late = math.ceil((leave + trip - visit.start).total_seconds() / 60)
                conflicts.append(
                    _conflict(
                        "travel_makes_late",
                        [previous, visit],
                        f"Travel from the previous visit arrives {late} min late.",
                    )
                )
        previous = visit

    return {
        "technician": {"id": str(tech.id), "name": tech.name, "home_base": _point_of(home)},
        "shifts": [{"start": _iso(s), "end": _iso(e)} for s, e in shifts],
        "breaks": [{"start": _iso(s), "end": _iso(e)} for s, e in breaks],
        "jobs": [v.job for v in visits],
        "travel": segments,
        "conflicts": conflicts,
    }


def _point_of(point: Point | None) -> dict[str, float] | None:
    return None if point is None else {"lat": point.lat, "lon": point.lon}


def gantt(
    *,
    db_session: Session,
    tenant_id: uuid.UUID,
    args: Mapping[str, Any],
    travel: HaversineProvider | None = None,
) -> dict[str, Any]:
    """Gantt lanes (shifts, breaks, visits, travel, conflicts) per technician for local days."""
    days = _check_range(args["date_from"], args["date_to"])
    zone = tenant_zone(db_session, tenant_id)
    start, end = local_midnight(days[0], zone), local_midnight(days[-1] + dt.timedelta(1), zone)
    techs = _technicians(db_session, args)
    by_tech: dict[uuid.UUID, list[_Visit]] = defaultdict(list)
    for row in _job_rows(db_session, [t.id for t in techs], start, end):
        visit = _visit(row, zone)
        by_tech[visit.technician_id].append(visit)
    travel = travel or HaversineProvider()
    lanes = []
    for tech in techs:
        shifts, breaks = shift_intervals(tech.shifts, days, zone)
        lanes.append(_lane(tech, by_tech[tech.id], shifts, breaks, travel))
    db_session.commit()
    return {
        "date_from": days[0].isoformat(),
        "date_to": days[-1].isoformat(),
        "timezone": zone.key,
        "start": _iso(start),
        "end": _iso(end),
        "lanes": lanes,
    }


# --- map ------------------------------------------------------------------------------


def _bbox(raw: str) -> BBox:
    try:
        return BBox.parse(raw)
    except GeoError as exc:
        raise ValidationFailed(
            "Bad bbox: use min_lon,min_lat,max_lon,max_lat.",
            code="invalid_bbox",
            errors={"bbox": [str(exc)]},
        ) from exc


def _statuses(raw: str | None) -> list[str]:
    if raw is None:
        return list(MAP_STATUSES)
    wanted = [s.strip() for s in raw.split(",") if s.strip()]
    bad = [s for s in wanted if s not in Status.__members__.values()]
    if bad or not wanted:
        raise ValidationFailed("Unknown status.", code="unknown_status", errors={"status": bad})
    return wanted


def cell_size(zoom: int) -> float:
    """Grid cell edge in degrees: a map tile (360 / 2^zoom degrees wide) cut in eight."""
    return 360.0 / float(1 << zoom) / CELLS_PER_TILE


def _feature(ident: str, lon: float, lat: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": ident,
        "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
        "properties": properties,
    }


def _technician_features(
    db_session: Session, bbox: BBox, dialect: str, now: dt.datetime
) -> list[dict[str, Any]]:
    lon, lat = point_xy(Technician.last_position)
    rows = list(
        db_session.execute(
            select(
                Technician.id,
                Technician.name,
                Technician.last_position_at,
                Technician.last_position_accuracy_m,
                lon.label("lon"),
                lat.label("lat"),
            )
            .where(
                Technician.active.is_(True),
                Technician.last_position.is_not(None),
                in_bbox(Technician.last_position, bbox, dialect),
            )
            .order_by(Technician.name, Technician.id)
        )
    )
    current: dict[uuid.UUID, dict[str, Any]] = {}
    if rows:
        rank = case({s.value: i for i, s in enumerate(CURRENT)}, value=WorkOrder.status)
        orders = db_session.execute(
            select(WorkOrder.lead_technician_id, WorkOrder.id, WorkOrder.number, WorkOrder.status)
            .where(
                WorkOrder.lead_technician_id.in_([r.id for r in rows]),
                WorkOrder.status.in_([s.value for s in CURRENT]),
            )
            .order_by(rank, WorkOrder.scheduled_start.asc().nulls_last(), WorkOrder.id)
        )
        for tech_id, order_id, number, status in orders:
            current.setdefault(tech_id, {"id": str(order_id), "number": number, "status": status})
    features = []
    for row in rows:
        age = None if row.last_position_at is None else (now - row.last_position_at)
        busy = current.get(row.id)
        features.append(
            _feature(
                f"technician:{row.id}",
                row.lon,
                row.lat,
                {
                    "kind": "technician",
                    "id": str(row.id),
                    "name": row.name,
                    "position_at": _iso(row.last_position_at),
                    "position_age_s": None if age is None else max(0, int(age.total_seconds())),
                    "accuracy_m": row.last_position_accuracy_m,
                    "current_order": busy,
                    "status": busy["status"] if busy else "idle",
                },
            )
        )
    return features


def _order_features(
    db_session: Session, where: list[Any], limit: int
) -> tuple[list[dict[str, Any]], bool]:
    lon, lat = point_xy(WorkOrder.location)
    rows = list(
        db_session.execute(
            select(  # plain tuples below: thousands of rows, positional access is cheap
                WorkOrder.id,
                WorkOrder.number,
                WorkOrder.title,
                WorkOrder.status,
                WorkOrder.priority,
                WorkOrder.lead_technician_id,
                WorkOrder.scheduled_start,
                lon.label("lon"),
                lat.label("lat"),
            )
            .where(*where)
            .order_by(_PRIORITY_RANK.desc(), WorkOrder.id)
            .limit(limit + 1)
        )
    )
    features = []
    for order_id, number, title, status, priority, lead, start, lon_, lat_ in rows[:limit]:
        ident = str(order_id)
        properties = {
            "kind": "order",
            "id": ident,
            "number": number,
            "title": title,
            "status": status,
            "priority": priority,
            "lead_technician_id": None if lead is None else str(lead),
            "scheduled_start": _iso(start),
        }
        features.append(_feature(f"order:{ident}", lon_, lat_, properties))
    return features, len(rows) > limit


def _cluster_features(
    db_session: Session, where: list[Any], cell: float, dialect: str
) -> list[dict[str, Any]]:
    lon, lat = point_xy(WorkOrder.location)
    # Coordinates once per row in a fenced subquery (OFFSET 0): PostgreSQL then estimates
    # few groups and hash-aggregates instead of sorting every row by cell.
    rows = (
        select(lon.label("x"), lat.label("y"), _PRIORITY_RANK.label("rank"))
        .where(*where)
        .offset(0)
        .subquery()
    )
    cx, cy = grid_cell(rows.c.x, rows.c.y, cell, dialect)
    stmt = (
        select(
            cx.label("cx"),
            cy.label("cy"),
            func.count().label("n"),
            func.avg(rows.c.x).label("lon"),
            func.avg(rows.c.y).label("lat"),
            func.max(rows.c.rank).label("top"),
            func.min(rows.c.x).label("min_lon"),
            func.min(rows.c.y).label("min_lat"),
            func.max(rows.c.x).label("max_lon"),
            func.max(rows.c.y).label("max_lat"),
        )
        .group_by(cx, cy)
        .order_by(cx, cy)
    )
    return [
        _feature(
            f"cluster:{row.cx}:{row.cy}",
            row.lon,
            row.lat,
            {
                "kind": "cluster",
                "count": int(row.n),
                "max_priority": PRIORITIES[int(row.top)],
                "bbox": [
                    float(row.min_lon),
                    float(row.min_lat),
                    float(row.max_lon),
                    float(row.max_lat),
                ],
            },
        )
        for row in db_session.execute(stmt)
    ]


def map_data(
    *, db_session: Session, args: Mapping[str, Any], dialect: str, limit: int | None = None
) -> dict[str, Any]:
    """GeoJSON of technicians and open orders in a box; orders clustered below zoom 13."""
    bbox = _bbox(args["bbox"])
    zoom: int = args["zoom"]
    statuses = _statuses(args.get("status"))
    now = utcnow()
    features = _technician_features(db_session, bbox, dialect, now)
    where = [
        WorkOrder.location.is_not(None),
        # Inline (validated enum values): a prepared statement's generic plan cannot see
        # bound statuses, guesses most of the table and scans all of it.
        WorkOrder.status.in_([literal(status, literal_execute=True) for status in statuses]),
        points_within_bbox(
            WorkOrder.location, bbox, dialect, table="work_orders", column_name="location"
        ),
    ]
    clustered = zoom < CLUSTER_BELOW
    truncated = False
    if clustered:
        features += _cluster_features(db_session, where, cell_size(zoom), dialect)
    else:
        orders, truncated = _order_features(db_session, where, limit or MAX_ORDER_FEATURES)
        features += orders
    db_session.commit()
    return {
        "type": "FeatureCollection",
        "features": features,
        "clustered": clustered,
        "cell_deg": cell_size(zoom) if clustered else None,
        "truncated": truncated,
        "zoom": zoom,
    }
