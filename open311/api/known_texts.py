"""English texts a client may read that are made where `_()` cannot mark them: marshmallow's
and webargs' own validation messages, the schemas' and the wire layer's ValueErrors (a str(exc)
drops a Text). Listing them here puts them in the catalogues; i18n.translate recognises them
by their shape (after a `field: ` prefix too) when an error is rendered.

marshmallow formats its {min}-style placeholders before we see the text; here they are
%(min)s-style, which is what the recogniser reads. Nothing imports the names below: the list
is for extraction (and tests/unit/test_catalogues.py), the catalogues are what is used.
"""

from __future__ import annotations

from open311.i18n import _

MARSHMALLOW = (
    _("Missing data for required field."),
    _("Field may not be null."),
    _("Invalid value."),
    _("Invalid input."),
    _("Invalid type."),
    _("Not a valid string."),
    _("Not a valid utf-8 string."),
    _("Not a valid integer."),
    _("Not a valid number."),
    _("Number too large."),
    _("Special numeric values (nan or infinity) are not permitted."),
    _("Not a valid boolean."),
    _("Not a valid list."),
    _("Not a valid URL."),
    _("Not a valid email address."),
    _("Not a valid mapping type."),
    _("Unknown field."),
    _("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    _("Must be greater than %(min)s and less than %(max)s."),
    _("Must be greater than or equal to %(min)s and less than %(max)s."),
    _("Must be greater than %(min)s and less than or equal to %(max)s."),
    _("Must be greater than or equal to %(min)s."),
    _("Must be greater than %(min)s."),
    _("Must be less than or equal to %(max)s."),
    _("Must be less than %(max)s."),
    _("Length must be between %(min)s and %(max)s."),
    _("Length must be %(equal)s."),
    _("Longer than maximum length %(max)s."),
    _("Shorter than minimum length %(min)s."),
    _("Must be one of: %(choices)s."),
    _("String does not match expected pattern."),
)

# api/schemas.py, api/updates.py and api/georeport.py (argument schemas and views other
# helpers keep), said as they say them.
SCHEMAS = (
    _("not a W3C datetime"),
    _("must be a comma-separated list"),
    _("%(items)s not allowed; use %(choices)s"),
    _("must be minLng,minLat,maxLng,maxLat: four numbers separated by commas"),
    _("longitudes must lie between -180 and 180"),
    _("latitudes must lie between -90 and 90"),
    _("minLng must not exceed maxLng, nor minLat maxLat"),
    _("not a valid cursor"),
    _("lat and long are required with radius"),
    _("radius (metres, at most %(most)s) is required with lat and long"),
    _("lat and long go together"),
    _("distance needs lat, long and radius"),
    _("use either page or cursor, not both"),
    _("must be a JavaScript identifier (letters, digits, _, $ and dots; at most 64 characters)"),
    _("must be a BCP 47 language tag such as es, en-US or zh-Hant"),
    _("%(field)s was not provided"),
    _("must be a string"),
    _("%(status)s is not one of %(statuses)s"),
    _("service_request_id %(id)s not found"),
    _("token %(token)s not found"),
)

# The wire layer's ValueErrors, which reach the client as str(exc).
WIRE = (
    _(
        "%(value)s is not a W3C datetime with a zone, e.g. 2024-04-12T09:14:03Z "
        "or 2024-04-12T09:14:03-07:00"
    ),
    _("%(value)s is not a valid date and time"),
    _(
        "callback must be a JavaScript identifier (letters, digits, _, $ and dots; "
        "at most 64 characters)"
    ),
    _("not a valid cursor; use the one from the previous page's Link header"),
    _("unknown event %(event)s; events: %(events)s"),
    _("area: the polygon is empty or invalid (self-intersecting?)"),
    _("area: coordinates must be longitude, latitude in WGS 84"),
    _("area: a GeoJSON Polygon or MultiPolygon, or a bbox minLng,minLat,maxLng,maxLat"),
    _("area: bbox numbers must be finite"),
    _("area: bbox must be minLng,minLat,maxLng,maxLat with min < max"),
    _("area: not valid JSON"),
    _("area: GeoJSON must be a Polygon or a MultiPolygon geometry"),
    _("area: the GeoJSON coordinates are malformed"),
)
