"""A city to file requests in from the browser's form, and reading the pages it answers: the
form's CSRF token and the problems shown next to each field (no HTML parser is installed, and
the pages' markup is ours, so a few exact patterns do)."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime

from PIL import Image
from sqlalchemy.orm import Session

from open311.db.models import Jurisdiction
from open311.domain import translations
from open311.domain.translations import Entry
from open311.values import Datatype
from tests.factories import make_attribute, make_jurisdiction, make_service

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CITY = "springfield.example"
# The six datatypes, one question each, and an informational attribute between them.
QUESTIONS = {
    "WHERE": Datatype.string,
    "DEPTH": Datatype.number,
    "SEEN": Datatype.datetime,
    "DETAILS": Datatype.text,
    "SIZE": Datatype.singlevaluelist,
    "HAZARDS": Datatype.multivaluelist,
}
SPANISH = [
    ("service_name", "Pothole", "Bache"),
    ("group", "Streets", "Calles"),
    ("attribute", "How big is it?", "¿Qué tamaño tiene?"),
    ("datatype_description", "Pick the closest size", "Elija el tamaño más parecido"),
    ("value", "Small", "Pequeño"),
]
ARABIC = [
    ("service_name", "Pothole", "حفرة في الطريق"),
    ("attribute", "How big is it?", "ما حجمها؟"),
]


def make_filing_city(db: Session) -> Jurisdiction:
    """Springfield: a Pothole service asking one question of every datatype (SIZE required),
    an informational note, and Graffiti with no question; Spanish and Arabic translations."""
    city = make_jurisdiction(
        db,
        jurisdiction_id=CITY,
        name="Springfield",
        time_zone="America/Los_Angeles",
        locales=["en", "es", "ar"],
        default_locale="en",
    )
    attributes = [
        make_attribute("NOTE", variable=False, description="Potholes are fixed within 3 days."),
        make_attribute("WHERE", Datatype.string, description="Which lane?"),
        make_attribute(
            "DEPTH",
            Datatype.number,
            description="How deep is it, in cm?",
            datatype_description="A number, e.g. 7.5",
        ),
        make_attribute("SEEN", Datatype.datetime, description="When did you see it?"),
        make_attribute("DETAILS", Datatype.text, description="Anything else?"),
        make_attribute(
            "SIZE",
            Datatype.singlevaluelist,
            required=True,
            description="How big is it?",
            datatype_description="Pick the closest size",
            values=[("S", "Small"), ("L", "Large")],
        ),
        make_attribute(
            "HAZARDS",
            Datatype.multivaluelist,
            description="What else is there?",
            values=[("WATER", "Water"), ("GLASS", "Broken glass")],
        ),
    ]
    make_service(db, city, "POT", service_name="Pothole", group="Streets", attributes=attributes)
    make_service(db, city, "GRF", service_name="Graffiti", group="Walls", description="Paint")
    for locale, entries in (("es", SPANISH), ("ar", ARABIC)):
        translations.put(db, city, locale, [Entry(*e) for e in entries], actor="test", now=NOW)
    return city


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def problems_next_to(page: str, input_id: str) -> list[str]:
    """The problems shown next to the input `input_id`, each also named by the input's
    aria-describedby (for checkboxes: their fieldset's)."""
    found = re.findall(rf'<p class="error" id="({re.escape(input_id)}-error-\d+)">(.*?)</p>', page)
    for error_id, _text in found:
        assert re.search(rf'aria-describedby="[^"]*\b{re.escape(error_id)}\b', page), error_id
    return [html.unescape(text) for _id, text in found]


def small_jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "JPEG", quality=90)
    return out.getvalue()
