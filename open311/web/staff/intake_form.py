"""The intake screen's form: what the call-taker typed, read back from a POST (or a GET's query)
into plain values, and the domain's refusals placed next to the fields they are about.

The whole call lives in the form, re-sent on each step (choosing a service, checking for
duplicates, searching the knowledge base), so that nothing about the caller is kept on the
server or put in a URL before the request is filed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from open311.api.staff.intake_schemas import CHANNELS
from open311.i18n import _

ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
# Longest text each plain field keeps (the staff API's schema allows as much).
LIMITS = {
    "address_string": 1000,
    "description": 4000,
    "first_name": 255,
    "last_name": 255,
    "email": 254,
    "phone": 64,
    "q": 500,
}
MAX_ARTICLES = 20
# Where a problem that names no field of its own is shown.
GENERAL = "general"
LOCATION = "location"


@dataclass
class IntakeForm:
    """One call as the form holds it; strings as typed (blank is ""), except lat and long."""

    jurisdiction_id: str = ""
    caller_locale: str = ""
    channel: str = CHANNELS[0]
    interpreter: bool = False
    service_code: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)
    address_string: str = ""
    lat: float | None = None
    long: float | None = None
    description: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    q: str = ""
    article_ids: list[str] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def located(self) -> bool:
        return self.lat is not None and self.long is not None

    def add_problem(self, name: str, problem: str) -> None:
        self.problems.setdefault(name, []).append(problem)

    def body(self) -> dict[str, Any]:
        """The call as the staff API's POST /api/v1/intake/requests body, for its schema to
        check (IntakeRequestBody): blank fields left out, as a client would."""
        caller = {
            name: getattr(self, name)
            for name in ("first_name", "last_name", "email", "phone")
            if getattr(self, name)
        }
        if self.caller_locale:
            caller["language"] = self.caller_locale
        body: dict[str, Any] = {
            "service_code": self.service_code,
            "channel": self.channel,
            "attributes": self.attributes,
            "contact": {"interpreter": self.interpreter},
        }
        if self.caller_locale:
            body["contact"]["language"] = self.caller_locale
        if caller:
            body["caller"] = caller
        if self.located:
            body["lat"], body["long"] = self.lat, self.long
        for name in ("address_string", "description"):
            if getattr(self, name):
                body[name] = getattr(self, name)
        return body


def read_form(values: MultiDict[str, str]) -> IntakeForm:
    """The form from the submitted values; a malformed coordinate or channel is a problem on
    its field, not an error page."""
    form = IntakeForm()
    for name in ("jurisdiction_id", "caller_locale", "service_code"):
        setattr(form, name, values.get(name, "").strip()[:255])
    for name, limit in LIMITS.items():
        setattr(form, name, values.get(name, "").strip()[:limit])
    channel = values.get("channel", CHANNELS[0])
    if channel in CHANNELS:
        form.channel = channel
    else:
        form.add_problem("channel", _("%(value)s is not a channel here", value=channel[:20]))
    form.interpreter = values.get("interpreter") == "yes"
    form.lat = _coordinate(form, values, "lat", 90.0)
    form.long = _coordinate(form, values, "long", 180.0)
    for key in values:
        matched = ATTRIBUTE_KEY.match(key)
        if matched:
            answers = [value for value in values.getlist(key) if value.strip()]
            if answers:
                form.attributes[matched.group(1)] = answers
    used = values.getlist("article_id") + values.getlist("use_article")
    form.article_ids = list(dict.fromkeys(a.strip() for a in used if a.strip()))[:MAX_ARTICLES]
    return form


def _coordinate(
    form: IntakeForm, values: Mapping[str, str], name: str, bound: float
) -> float | None:
    raw = values.get(name, "").strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not -bound <= number <= bound:
        form.add_problem(name, _("a number from -%(bound)s to %(bound)s", bound=f"{bound:g}"))
        return None
    return number


def place_problems(
    form: IntakeForm, problems: Iterable[str], fields: Iterable[str], say: Callable[[str], str]
) -> None:
    """Each of the domain's problems, said in the page's language by `say`, next to its
    field: an answer's next to its question (`attribute CODE ...`), a location's next to the
    address and map, `name: ...` next to `name` when the form has it, anything else at the
    top."""
    known = set(fields)
    for problem in problems:
        name = field_of(problem, known)
        said = say(problem)
        head = str(problem).split(":", 1)[0]
        if name in known and said.startswith(f"{head}:"):
            # Shown next to its field, the field's name in front says nothing more.
            said = said[len(head) + 1 :].strip()
            said = said[:1].upper() + said[1:]
        form.add_problem(name, said)


def field_of(problem: str, known: set[str]) -> str:
    """The form field a problem of the domain is about (see place_problems)."""
    params = getattr(problem, "params", None) or {}
    msgid = getattr(problem, "msgid", str(problem))
    if msgid.startswith("attribute ") and "code" in params:
        return f"attribute[{params['code']}]"
    if "lat+long" in msgid or msgid.startswith("lat and long"):
        return LOCATION
    head = str(problem).split(":", 1)[0].strip()
    aliases = {"caller.email": "email", "caller.phone": "phone", "caller_phone": "phone"}
    head = aliases.get(head, head)
    if head in ("lat", "long"):
        return LOCATION
    return head if head in known else GENERAL
