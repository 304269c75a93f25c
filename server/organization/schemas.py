"""Skills, territories (GeoJSON boundaries) and custom field definitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from geo import Point
from geo.sql import polygon_from_element
from server.schemas import ListArgsSchema, StrictFloat, Timestamp

# Codes are referenced by other rows (work orders keep skill codes), so keep them plain.
CODE = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
    error="Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
)
NOT_BLANK = validate.Regexp(r"\s*\S", error="Must not be blank.")
CUSTOM_FIELD_KEY = validate.Regexp(
    r"^[a-z][a-z0-9_]{0,63}$",
    error="Use 1-64 lowercase letters, digits or '_', starting with a letter.",
)
CUSTOM_FIELD_ENTITIES = ("work_order",)
CUSTOM_FIELD_TYPES = ("text", "integer", "decimal", "boolean", "date", "datetime", "enum")


class StrictBool(fields.Boolean):
    """A JSON boolean only: 1, "true" and "yes" are refused in request bodies."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def name_field(max_length: int = 200, **kwargs: Any) -> fields.String:
    """A required-looking human name: non-blank, bounded length."""
    return fields.String(validate=[validate.Length(min=1, max=max_length), NOT_BLANK], **kwargs)


# --- skills -----------------------------------------------------------------------------


class SkillSchema(Schema):
    """A skill as the API shows it."""

    id = fields.UUID(dump_only=True)
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class SkillCreateSchema(Schema):
    """Fields of a new skill."""

    code = fields.String(required=True, validate=CODE)
    name = name_field(required=True)


class SkillUpdateSchema(Schema):
    """Changeable skill fields; the code is immutable because work orders refer to it."""

    name = name_field()


class SkillQueryArgsSchema(ListArgsSchema):
    """Filters for the skill list (q matches code or name)."""


# --- territories ------------------------------------------------------------------------


def _ring_problems(ring: list[list[float]]) -> list[str]:
    problems = []
    if len(ring) < 4:
        problems.append("A ring needs at least 4 positions (the first repeated last).")
    for lon, lat in ring:
        if not -180.0 <= lon <= 180.0:
            problems.append(f"Longitude {lon} outside [-180, 180].")
        if not -90.0 <= lat <= 90.0:
            problems.append(f"Latitude {lat} outside [-90, 90].")
    if ring and ring[0] != ring[-1]:
        problems.append("The ring is not closed: repeat the first position last.")
    if not problems:
        polygon = Polygon(ring)
        if not polygon.is_valid:
            problems.append(f"The polygon is not valid: {explain_validity(polygon)}.")
    return problems


class PolygonSchema(Schema):
    """A GeoJSON Polygon with one outer ring of [lon, lat] positions (RFC 7946)."""

    type = fields.String(required=True, validate=validate.Equal("Polygon"))
    coordinates = fields.List(
        fields.List(
            fields.List(
                StrictFloat(),
                validate=validate.Length(equal=2, error="A position is [longitude, latitude]."),
            )
        ),
        required=True,
        validate=validate.Length(equal=1, error="Give exactly one (outer) ring; no holes."),
    )

    @validates_schema
    def _valid_ring(self, data: dict[str, Any], **kwargs: Any) -> None:
        problems = _ring_problems(data["coordinates"][0])
        if problems:
            raise ValidationError(problems, field_name="coordinates")


class GeoJSONPolygon(fields.Nested):
    """A polygon column as GeoJSON; loads into the outer ring as a list of geo.Point."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(PolygonSchema, **kwargs)

    def get_value(
        self,
        obj: Any,
        attr: str,
        accessor: Callable[[Any, str, Any], Any] | None = None,
        default: Any = missing,
    ) -> Any:
        """The column's polygon as a GeoJSON dict, ready for the nested schema."""
        value = super().get_value(obj, attr, accessor, default)
        if value is missing or value is None:
            return value
        ring = polygon_from_element(value) or []
        return {"type": "Polygon", "coordinates": [[[p.lon, p.lat] for p in ring]]}

    def _deserialize(
        self, value: Any, attr: Any, data: Any, partial: Any = None, **kwargs: Any
    ) -> Any:
        loaded = super()._deserialize(value, attr, data, partial=partial, **kwargs)
        return [Point(lat=lat, lon=lon) for lon, lat in loaded["coordinates"][0]]


class TerritorySchema(Schema):
    """A territory as the API shows it."""

    id = fields.UUID(dump_only=True)
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    boundary = GeoJSONPolygon(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class TerritoryCreateSchema(Schema):
    """Fields of a new territory."""

    code = fields.String(required=True, validate=CODE)
    name = name_field(required=True)
    boundary = GeoJSONPolygon(allow_none=True, load_default=None)


class TerritoryUpdateSchema(Schema):
    """Changeable territory fields; a null boundary removes it."""

    code = fields.String(validate=CODE)
    name = name_field()
    boundary = GeoJSONPolygon(allow_none=True)


class TerritoryQueryArgsSchema(ListArgsSchema):
    """Filters for the territory list; lat+lon keep territories containing that point."""

    lat = fields.Float(validate=validate.Range(-90, 90))
    lon = fields.Float(validate=validate.Range(-180, 180))

    @validates_schema
    def _both_or_neither(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("lat" in data) != ("lon" in data):
            raise ValidationError("Give lat and lon together.", field_name="lat")


# --- custom field definitions -----------------------------------------------------------


def options_problem(field_type: str, options: list[str] | None) -> str | None:
    """Why these options do not suit this field type, or None when they do."""
    if field_type == "enum":
        if not options:
            return "An enum field needs a non-empty list of options."
        return None
    if options is not None:
        return "Only enum fields take options."
    return None


def _unique_options(options: list[str] | None) -> None:
    if options is not None and len(set(options)) != len(options):
        raise ValidationError("Options must be unique.")


def options_field(**kwargs: Any) -> fields.List[str]:
    """The choices of an enum field: unique, non-blank strings."""
    return fields.List(
        fields.String(validate=[validate.Length(min=1, max=200), NOT_BLANK]),
        allow_none=True,
        validate=[validate.Length(max=500), _unique_options],
        **kwargs,
    )


class CustomFieldSchema(Schema):
    """A custom field definition as the API shows it."""

    id = fields.UUID(dump_only=True)
    entity = fields.String(dump_only=True, metadata={"enum": list(CUSTOM_FIELD_ENTITIES)})
    key = fields.String(dump_only=True)
    label = fields.String(dump_only=True)
    field_type = fields.String(dump_only=True, metadata={"enum": list(CUSTOM_FIELD_TYPES)})
    required = fields.Boolean(dump_only=True)
    options = fields.List(fields.String(), dump_only=True, allow_none=True)
    active = fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class CustomFieldCreateSchema(Schema):
    """Fields of a new custom field definition."""

    entity = fields.String(
        load_default="work_order", validate=validate.OneOf(CUSTOM_FIELD_ENTITIES)
    )
    key = fields.String(required=True, validate=CUSTOM_FIELD_KEY)
    label = name_field(required=True)
    field_type = fields.String(required=True, validate=validate.OneOf(CUSTOM_FIELD_TYPES))
    required = StrictBool(load_default=False)
    options = options_field()
    active = StrictBool(load_default=True)

    @validates_schema
    def _options_fit_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        problem = options_problem(data["field_type"], data.get("options"))
        if problem:
            raise ValidationError(problem, field_name="options")


class CustomFieldUpdateSchema(Schema):
    """Changeable definition fields; entity, key and type are fixed once values exist."""

    label = name_field()
    required = StrictBool()
    options = options_field()
    active = StrictBool()


class CustomFieldQueryArgsSchema(ListArgsSchema):
    """Filters for the definition list (q matches key or label)."""

    entity = fields.String(validate=validate.OneOf(CUSTOM_FIELD_ENTITIES))
    field_type = fields.String(validate=validate.OneOf(CUSTOM_FIELD_TYPES))
    active = fields.Boolean()
