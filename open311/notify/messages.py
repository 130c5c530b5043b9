"""The words of the e-mails to requesters: which language, and each template rendered.

Templates live in templates/<template>.<language>.txt; a rendered template's first line is the
subject, then a blank line, then the body. A language has messages when both of its files exist,
so adding one is adding two files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

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
    like. The templates see exactly these names."""

    service_request_id: str
    service_name: str
    received_at: str
    closed_at: str | None = None
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
    }
    text = _environment.get_template(f"{template}.{language}.txt").render(values)
    subject, _, body = text.partition("\n")
    return Rendered(language=language, subject=subject.strip(), body=body.lstrip("\n"))


def _one_line(text: str) -> str:
    return " ".join(text.split())
