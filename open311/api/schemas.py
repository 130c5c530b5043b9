"""marshmallow schemas of GeoReport arguments: types, ranges and lengths (the database only to
read a zone-less datetime in its jurisdiction's time zone, LocalTimes)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from open311.api import database
from open311.api.smorest import BaseSchema
from open311.domain import jurisdictions
from open311.domain.request_search import MAX_PAGE_SIZE, MAX_RADIUS_M, SearchArgs
from open311.values import Status
from open311.wire import cursor as cursors
from open311.wire import jsonp
from open311.wire.datetimes import format_w3c, parse_w3c

# Read a zone-less datetime as naive; LocalTimes gives it the jurisdiction's zone after loading.
_NAIVE = ZoneInfo("UTC")


class W3CDateTime(fields.Field):
    """A W3C datetime (digest §1.3); written as GeoReport writes them, in UTC to the second.
    In a LocalTimes schema one without a zone (2026-12-03T15:20:11.609737, as validators and
    browsers send) is the jurisdiction's local time; elsewhere the zone is required."""

    def __init__(self, **kwargs: Any) -> None:
        # Documented as text (/openapi.json): a number or a list is no datetime. Which texts
        # are is the parser's rule, with or without a zone depending on the schema.
        documented = {"type": "string", "example": "2026-12-03T15:20:11Z"}
        super().__init__(**{**kwargs, "metadata": {**documented, **kwargs.get("metadata", {})}})

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        local = _NAIVE if isinstance(self.parent, LocalTimes) else None
        try:
            moment = parse_w3c(value, local)
        except ValueError as exc:
            raise fields.ValidationError(str(exc)) from None
        return moment.replace(tzinfo=None) if moment.tzinfo is _NAIVE else moment

    def _serialize(self, value, attr, obj, **kwargs):
        return format_w3c(value) if value is not None else None

    default_error_messages = {"invalid": "not a W3C datetime"}


CALLBACK_DOC = {
    "description": "JSONP function name (.json only)",
    "pattern": jsonp.CALLBACK.pattern,
    "maxLength": jsonp.CALLBACK_MAX,
}


def comma_list_pattern(item: str) -> str:
    """The regular expression of a comma-separated list of `item`s as the API reads one: blank
    parts skipped, spaces around items forgiven. /openapi.json states lists with it."""
    return rf"^\s*(?:(?:{item})\s*)?(?:,\s*(?:(?:{item})\s*)?)*$"


def one_of(choices: tuple[str, ...]) -> str:
    return "|".join(map(re.escape, choices))


class CommaList(fields.Field):
    """`a,b,c` as a tuple of non-empty items; the spec's lists carry no spaces, we forgive them."""

    def __init__(self, choices: tuple[str, ...] | None = None, **kwargs):
        documented = {"type": "string"}
        if choices is not None:
            documented["pattern"] = comma_list_pattern(one_of(choices))
        super().__init__(**{**kwargs, "metadata": {**documented, **kwargs.get("metadata", {})}})
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise fields.ValidationError("must be a comma-separated list")
        items = tuple(dict.fromkeys(i.strip() for i in value.split(",") if i.strip()))
        if self.choices is not None:
            wrong = [i for i in items if i not in self.choices]
            if wrong:
                raise fields.ValidationError(
                    f"{', '.join(wrong)} not allowed; use {', '.join(self.choices)}"
                )
        return items


class LocalTimes(BaseSchema):
    """A schema whose zone-less W3CDateTime values are the named jurisdiction's local time
    (README: Dates and times). The jurisdiction is looked up only when such a value came, so an
    unknown jurisdiction_id is refused then as the view would refuse it."""

    @post_load
    def localise_naive_datetimes(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        naive = [k for k, v in data.items() if isinstance(v, datetime) and v.tzinfo is None]
        if naive:
            jurisdiction = jurisdictions.resolve(database.session(), data.get("jurisdiction_id"))
            zone = ZoneInfo(jurisdiction.time_zone)
            data.update({key: data[key].replace(tzinfo=zone) for key in naive})
        return data


class JurisdictionArgs(LocalTimes):
    jurisdiction_id = fields.String(validate=validate.Length(max=255))
    api_key = fields.String()  # accepted and ignored on GET (digest §11)
    # Read by api/locales.content_locale; any text is accepted, an unknown tag meaning the
    # jurisdiction's default language (never a 400).
    locale = fields.String(
        metadata={"description": "BCP 47 tag, e.g. es; wins over Accept-Language"}
    )


class BBox(fields.Field):
    """`minLng,minLat,maxLng,maxLat` (digest §11), as a tuple of four floats."""

    default_error_messages = {
        "invalid": "must be minLng,minLat,maxLng,maxLat: four numbers separated by commas"
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        parts = value.split(",")
        if len(parts) != 4:
            raise self.make_error("invalid")
        try:
            west, south, east, north = (float(p) for p in parts)
        except ValueError:
            raise self.make_error("invalid") from None
        if not all(math.isfinite(v) for v in (west, south, east, north)):
            raise self.make_error("invalid")
        if not (-180 <= west <= 180 and -180 <= east <= 180):
            raise ValidationError("longitudes must lie between -180 and 180")
        if not (-90 <= south <= 90 and -90 <= north <= 90):
            raise ValidationError("latitudes must lie between -90 and 90")
        if west > east or south > north:
            raise ValidationError("minLng must not exceed maxLng, nor minLat maxLat")
        return west, south, east, north


class CursorField(fields.Field):
    """The opaque keyset cursor of a previous page's Link header."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("not a valid cursor")
        try:
            return cursors.decode(value.strip())
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


SORTS = (
    "requested_datetime",
    "-requested_datetime",
    "updated_datetime",
    "-updated_datetime",
    "distance",
    "-distance",
)


class RequestFilterArgs(JurisdictionArgs):
    """The filters GET requests and the exports share."""

    service_request_id = CommaList(metadata={"description": "comma list; overrides other filters"})
    service_code = CommaList()
    start_date = W3CDateTime()
    end_date = W3CDateTime()
    status = CommaList(choices=tuple(s.value for s in Status))
    updated_after = W3CDateTime(metadata={"description": "updated_datetime > this (strict)"})
    updated_before = W3CDateTime(metadata={"description": "updated_datetime < this (strict)"})
    bbox = BBox(metadata={"description": "minLng,minLat,maxLng,maxLat (WGS84 degrees)"})
    lat = fields.Float(allow_nan=False, validate=validate.Range(-90, 90))
    long = fields.Float(allow_nan=False, validate=validate.Range(-180, 180))
    radius = fields.Float(
        allow_nan=False,
        validate=validate.Range(0, MAX_RADIUS_M),
        metadata={"description": "metres around lat/long; needs both"},
    )
    district = fields.String(
        validate=validate.Length(max=255), metadata={"description": "district name or id"}
    )
    layer = fields.String(
        validate=validate.Length(max=64), metadata={"description": "boundary layer name or id"}
    )
    agency_responsible = fields.String(validate=validate.Length(max=255))
    crew = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "crew code or id: requests with an open work order of it"},
    )
    q = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "full-text search of description and address"},
    )
    sort = fields.String(validate=validate.OneOf(SORTS))

    @validates_schema
    def check_combinations(self, data, **kwargs):
        point = [name for name in ("lat", "long") if name in data]
        if "radius" in data and len(point) < 2:
            raise ValidationError("lat and long are required with radius", "radius")
        if point and "radius" not in data:
            raise ValidationError(
                f"radius (metres, at most {MAX_RADIUS_M:,.0f}) is required with lat and long",
                "radius",
            )
        if len(point) == 1:
            raise ValidationError("lat and long go together", point[0])
        if data.get("sort", "").endswith("distance") and "radius" not in data:
            raise ValidationError("distance needs lat, long and radius", "sort")


class RequestsArgs(RequestFilterArgs):
    page = fields.Integer(
        validate=validate.Range(1, 1_000_000), metadata={"description": "1-based"}
    )
    page_size = fields.Integer(validate=validate.Range(1, MAX_PAGE_SIZE))
    cursor = CursorField(metadata={"description": "from the previous page's Link header"})
    extensions = fields.Boolean(metadata={"description": "true: extended_attributes and notes"})
    callback = fields.String(metadata=CALLBACK_DOC)

    @validates_schema
    def check_paging(self, data, **kwargs):
        if "page" in data and "cursor" in data:
            raise ValidationError("use either page or cursor, not both", "page")


class RequestArgs(JurisdictionArgs):
    """GET requests/{id}: the extensions and JSONP apply to the single form too."""

    extensions = fields.Boolean(metadata={"description": "true: extended_attributes and notes"})
    callback = fields.String(metadata=CALLBACK_DOC)


class ExportArgs(RequestFilterArgs):
    """The exports take GET requests' filters; there is no window to lift and no paging."""


def _callback_name(value: str) -> None:
    if not jsonp.valid_callback(value):
        raise ValidationError(f"must be {jsonp.CALLBACK_RULE}")


class CallbackArgs(BaseSchema):
    """JSONP's `callback`, checked apart from each resource's own arguments."""

    callback = fields.String(validate=_callback_name)


# A BCP 47 tag in the shape apps send: a 2-3 letter language, then subtags of 1-8 letters or
# digits (es, en-US, zh-Hant, es-419). Whether the subtags are registered is not checked: a tag we
# have no messages in falls back to its language, then to English, when e-mail is written.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
LANGUAGE_TAG_INPUT = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
LANGUAGE_TAG_MAX = 16  # Requester.language


class LanguageTag(fields.String):
    """A BCP 47 language tag; the POSIX spelling es_MX that phones report is read as es-MX."""

    default_error_messages = {"tag": "must be a BCP 47 language tag such as es, en-US or zh-Hant"}

    def __init__(self, **kwargs: Any) -> None:
        # Documented as the pattern it is checked against (/openapi.json), '_' allowed.
        metadata = {"pattern": LANGUAGE_TAG_INPUT.pattern, "maxLength": LANGUAGE_TAG_MAX}
        super().__init__(**{**kwargs, "metadata": {**metadata, **kwargs.get("metadata", {})}})

    def _deserialize(self, value, attr, data, **kwargs):
        tag = super()._deserialize(value, attr, data, **kwargs).replace("_", "-")
        if len(tag) > LANGUAGE_TAG_MAX or not LANGUAGE_TAG.match(tag):
            raise self.make_error("tag")
        return tag


class RequestForm(BaseSchema):
    """The fixed fields of POST requests; `attribute[...]` answers are read apart."""

    jurisdiction_id = fields.String(validate=validate.Length(max=255))
    service_code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        error_messages={"required": "service_code was not provided"},
    )
    lat = fields.Float(allow_nan=False, validate=validate.Range(-90, 90))
    long = fields.Float(allow_nan=False, validate=validate.Range(-180, 180))
    address_string = fields.String(validate=validate.Length(max=1000))
    address_id = fields.String(validate=validate.Length(max=255))
    description = fields.String(validate=validate.Length(max=4000))
    media_url = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2048))
    email = fields.Email(validate=validate.Length(max=254))
    first_name = fields.String(validate=validate.Length(max=255))
    last_name = fields.String(validate=validate.Length(max=255))
    phone = fields.String(validate=validate.Length(max=64))
    device_id = fields.String(validate=validate.Length(max=255))
    account_id = fields.String(validate=validate.Length(max=255))
    # Not GeoReport: the language to write to the requester in (kept private, like e-mail).
    language = LanguageTag(metadata={"description": "BCP 47 tag, e.g. es; for e-mail only"})
    locale = LanguageTag(metadata={"description": "alias of language (language wins)"})

    @post_load
    def language_from_locale(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        locale = data.pop("locale", None)
        if locale is not None and "language" not in data:
            data["language"] = locale
        return data


MAX_LINKED_MEDIA = 20


class LinkedMedia(BaseSchema):
    """Every media_url of a POST requests body (FixMyStreet repeats the field), each checked as
    RequestForm checks the one it keeps (the first)."""

    media_url = fields.List(
        fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2048)),
        validate=validate.Length(max=MAX_LINKED_MEDIA),
        load_default=list,
    )


def search_args(args: dict[str, Any]) -> SearchArgs:
    """The schema's arguments (RequestFilterArgs and its subclasses) as the domain's."""
    near = None
    if "radius" in args:
        near = (args["lat"], args["long"], args["radius"])
    return SearchArgs(
        service_request_ids=args.get("service_request_id", ()),
        service_codes=args.get("service_code", ()),
        statuses=tuple(Status(s) for s in args.get("status", ())),
        start=args.get("start_date"),
        end=args.get("end_date"),
        updated_after=args.get("updated_after"),
        updated_before=args.get("updated_before"),
        bbox=args.get("bbox"),
        near=near,
        district=args.get("district"),
        layer=args.get("layer"),
        agency=args.get("agency_responsible"),
        crew=args.get("crew"),
        text=args.get("q"),
        sort=args.get("sort"),
        page=args.get("page"),
        page_size=args.get("page_size"),
        cursor=args.get("cursor"),
        extensions=args.get("extensions", False),
    )
