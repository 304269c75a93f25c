"""Schema building blocks shared by every domain: strict numbers, points, timestamps."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from geo import Point
from geo.sql import point_from_element


def storable_text_error(text: str) -> str | None:
    """Why the databases cannot store this string (NUL, lone surrogates), or None."""
    if "\x00" in text:
        return "NUL characters are not allowed."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Not valid Unicode text."
    return None


class Text(fields.String):
    """A string both databases can store (PostgreSQL refuses NUL and lone surrogates)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = storable_text_error(text)
        if problem:
            raise ValidationError(problem)
        return text


def json_problem(value: Any, *, max_depth: int) -> str | None:
    """Why a decoded JSON document cannot be stored safely (bad text, too deep), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: a hostile document must not exhaust the Python stack
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = storable_text_error(item)
            if problem:
                return problem
            continue
        if isinstance(item, float) and not math.isfinite(item):
            # Python's parser accepts NaN/Infinity; JSON does not, nor does PostgreSQL.
            return "NaN and Infinity are not valid JSON numbers."
        if not isinstance(item, (dict, list)):
            continue
        if depth > max_depth:
            return f"Nested deeper than {max_depth} levels."
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return None


class StrictFloat(fields.Float):
    """A JSON number only: strings, booleans, NaN and infinities are refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Not a valid number.")
        try:
            number = float(value)  # a JSON integer of 400 digits does not fit a float
        except OverflowError as exc:
            raise ValidationError("Number out of range.") from exc
        if not math.isfinite(number):
            raise ValidationError("Must be a finite number.")
        return number


def StrictInt(**kwargs: Any) -> fields.Integer:  # noqa: N802 - reads like a field class
    """An integer field that refuses strings and floats."""
    return fields.Integer(strict=True, **kwargs)


class PointSchema(Schema):
    """A WGS84 position."""

    lat = StrictFloat(required=True, validate=validate.Range(-90, 90))
    lon = StrictFloat(required=True, validate=validate.Range(-180, 180))


class GeometryPoint(fields.Nested):
    """A point column: dumps the geometry as ``{lat, lon}``, loads ``{lat, lon}`` as a dict."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(PointSchema, **kwargs)

    # Field and Nested name the first parameter differently; positional use only.
    def _serialize(self, nested_obj: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return point_dict(point_from_element(nested_obj))


def point_of(data: dict[str, Any] | None) -> Point | None:
    """Turn a loaded PointSchema dict into a geo.Point."""
    return None if data is None else Point(lat=data["lat"], lon=data["lon"])


def point_dict(point: Point | None) -> dict[str, float] | None:
    """Serialise a geo.Point for responses."""
    return None if point is None else {"lat": point.lat, "lon": point.lon}


EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def utc_in_range(value: dt.datetime) -> dt.datetime | None:
    """The value in UTC when it lies in [1900, 2200), else None (year 1 or 9999 + offset
    would overflow on conversion; no service record is that old or that far ahead)."""
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        return None
    return utc if EARLIEST <= utc < LATEST else None


class BoundedDateTime(fields.AwareDateTime):
    """An offset-aware ISO-8601 time, returned in UTC, between 1900 and 2200."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        utc = utc_in_range(parsed)
        if utc is None:
            raise ValidationError("Must be between 1900 and 2200.")
        return utc


def Timestamp(**kwargs: Any) -> fields.AwareDateTime:  # noqa: N802
    """ISO-8601 with an explicit offset; naive times are ambiguous and refused."""
    return BoundedDateTime(format="iso", **kwargs)


def check_order(data: dict[str, Any], start: str, end: str) -> None:
    """Raise a field error when ``end`` is not after ``start``."""
    if data.get(start) is not None and data.get(end) is not None and data[end] <= data[start]:
        raise ValidationError(f"{end} must be after {start}.", field_name=end)


class WindowPairsMixin(Schema):
    """Validates every *_start/*_end pair present in the payload."""

    _PAIRS: tuple[tuple[str, str], ...] = ()

    @validates_schema
    def _windows(self, data: dict[str, Any], **kwargs: Any) -> None:
        for start, end in self._PAIRS:
            check_order(data, start, end)


class ListArgsSchema(Schema):
    """Query arguments every list endpoint accepts."""

    sort = fields.String(metadata={"description": "Comma-separated keys; '-' for descending."})
    q = fields.String(validate=validate.Length(max=200), metadata={"description": "Text search."})
