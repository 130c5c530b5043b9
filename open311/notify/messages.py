"""The words of the e-mails to requesters: which language, and each template rendered.

Templates live in templates/<template>.<language>.txt; a rendered template's first line is the
subject, then a blank line, then the body. A language has messages when both of its files exist,
so adding one is adding two files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_time, format_timedelta, get_datetime_format
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from open311.values import EmailTemplate

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATES = tuple(EmailTemplate)
DEFAULT_LANGUAGE = "en"

# Plain text: nothing is HTML-escaped, and a missing value is an error rather than a blank.
_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=False,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Facts:
    """What a message may say: only what the city itself wrote (the service's name, the
    request's id, dates, the outcome, staff's public notes, a link).

    Nothing a client wrote belongs here, not even the recipient's own name or address: any API
    key holder can file a request with any e-mail address, and text of theirs in our message
    would make the city's mail server carry their words (links, phishing) to whomever they
    like. The templates see exactly these names, and `open_for` (how long the request took,
    from the two dates)."""

    service_request_id: str
    service_name: str
    # Aware datetimes in the city's time zone, written in the message's language by Babel
    # (`when`); a str is said as it is.
    received_at: datetime | str
    closed_at: datetime | str | None = None
    update_status: str | None = None
    status_notes: str | None = None  # staff's public notes (workflow), never a client's words
    link: str | None = None


@dataclass(frozen=True)
class Rendered:
    language: str  # the language the message is written in, for Content-Language
    subject: str
    body: str


@cache
def languages() -> tuple[str, ...]:
    """Languages with every template, lower case (e.g. en, es, ko); read once per process."""
    found = None
    for template in TEMPLATES:
        names = {path.name.split(".")[1] for path in TEMPLATE_DIR.glob(f"{template}.*.txt")}
        found = names if found is None else found & names
    return tuple(sorted(found or ()))


def choose_language(tag: str | None, available: tuple[str, ...] | None = None) -> str:
    """The exact tag if we write it, else its primary language (es-MX -> es), else English.

    Tags compare case-insensitively, as BCP 47 says; es_MX is read as es-MX."""
    available = languages() if available is None else available
    if tag:
        wanted = tag.strip().lower().replace("_", "-")
        for candidate in (wanted, wanted.split("-")[0]):
            if candidate in available:
                return candidate
    return DEFAULT_LANGUAGE


def render(template: str, language_tag: str | None, facts: Facts) -> Rendered:
    """The subject and plain-text body of `template` for someone who reads `language_tag`."""
    if template not in TEMPLATES:
        raise ValueError(f"no e-mail template {template!r}")
    language = choose_language(language_tag)
    # The subject is the first line: a service name with a line break must not end it early.
    values = asdict(facts) | {
        "service_request_id": _one_line(facts.service_request_id),
        "service_name": _one_line(facts.service_name),
        "received_at": when(facts.received_at, language),
        "closed_at": when(facts.closed_at, language) if facts.closed_at else None,
        "open_for": _open_for(facts, language),
    }
    text = _environment.get_template(f"{template}.{language}.txt").render(values)
    subject, _, body = text.partition("\n")
    return Rendered(language=language, subject=subject.strip(), body=body.lstrip("\n"))


def when(moment: datetime | str, language: str) -> str:
    """A date and time as `language` writes one (Babel, CLDR): its long date, its short time
    and the zone's abbreviation, in the order the language's datetime pattern puts them, e.g.
    "March 2, 2026, 9:05 AM PST", "2 de marzo de 2026, 9:05 PST", "09:05 PST 2 tháng 3, 2026".
    The moment is said in the zone it carries (the city's)."""
    if isinstance(moment, str):
        return moment
    date = format_date(moment, "long", locale=language)
    time = f"{format_time(moment, 'short', tzinfo=moment.tzinfo, locale=language)}"
    zone = moment.strftime("%Z")
    pattern = get_datetime_format("long", locale=language)
    return pattern.replace("{1}", date).replace("{0}", f"{time} {zone}".strip())


def _open_for(facts: Facts, language: str) -> str | None:
    """How long the request was open, as `language` says a duration (Babel: "3 days", "3 días",
    "يومان"...: the language's own plural forms), when both moments are known."""
    received, closed = facts.received_at, facts.closed_at
    if not isinstance(received, datetime) or not isinstance(closed, datetime):
        return None
    return format_timedelta(max(closed - received, timedelta(0)), locale=language)


def _one_line(text: str) -> str:
    return " ".join(text.split())
