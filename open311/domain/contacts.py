"""Contacts: recording a call, chat, TTY call, walk-in or e-mail as the call statistics count it,
and ending it. The rules the database checks (answered and ended after queued, an abandoned
call never answered) are checked here first, so that a bad contact is a 400 naming the field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from functools import lru_cache

from sqlalchemy.orm import Session

from open311 import i18n
from open311.db import contact_queries
from open311.db.models import Article, Contact, Jurisdiction, ServiceRequest, StaffUser
from open311.domain import knowledge
from open311.errors import InvalidInput
from open311.values import ContactChannel, ContactOutcome

# A call held longer than a day is a clock error, not a call.
MAX_HOLD_SECONDS = 86_400
MAX_CALLER_NUMBER = 32
MAX_TRANSFER_AGENCY = 255
MAX_LINKS = 50


@dataclass(frozen=True)
class ContactFields:
    """What a contact says about itself; None means "not given" (defaults apply on recording,
    the stored value stays on a change)."""

    channel: ContactChannel | None = None
    language: str | None = None
    interpreter: bool | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hold_seconds: int | None = None
    abandoned: bool | None = None
    outcome: ContactOutcome | None = None
    transfer_agency: str | None = None
    caller_number: str | None = None


@dataclass(frozen=True)
class Links:
    """The requests a contact led to and the articles that answered it (added, never removed)."""

    requests: Sequence[ServiceRequest] = field(default_factory=tuple)
    articles: Sequence[Article] = field(default_factory=tuple)


@lru_cache(maxsize=1024)
def _canonical(value: str) -> str | None:
    # An import asks for the same few tags on every row; Babel parses each time.
    return i18n.canonical(value)


def language_tag(field_name: str, value: str | None) -> str | None:
    """`value` as canonical BCP 47 (es_mx -> es-MX); a language Babel does not know is a 400."""
    if value is None or not value.strip():
        return None
    tag = _canonical(value)
    if tag is None:
        raise InvalidInput(f"{field_name}: {value[:40]!r} is not a known language tag")
    return tag


def caller_number(field_name: str, value: str | None) -> str | None:
    """A caller's number as given (trimmed): digits, spaces and + ( ) - . only."""
    if value is None or not value.strip():
        return None
    number = value.strip()
    if len(number) > MAX_CALLER_NUMBER or not all(ch.isdigit() or ch in " +()-." for ch in number):
        raise InvalidInput(
            f"{field_name}: a telephone number of at most {MAX_CALLER_NUMBER} digits, "
            "spaces and + ( ) - ."
        )
    return number


def check(contact: Contact, now: datetime, *, prefix: str = "") -> None:
    """The consistency rules of a contact, each refusal naming its field: no time in the
    future, answered and ended not before queued, ended not before answered, an abandoned
    contact never answered, a transfer names its agency and only a transfer does, hold time
    within a day."""
    for name in ("queued_at", "answered_at", "ended_at"):
        value = getattr(contact, name)
        if value is not None and value > now:
            raise InvalidInput(f"{prefix}{name}: in the future")
    if contact.answered_at is not None and contact.answered_at < contact.queued_at:
        raise InvalidInput(f"{prefix}answered_at: before queued_at")
    if contact.ended_at is not None and contact.ended_at < contact.queued_at:
        raise InvalidInput(f"{prefix}ended_at: before queued_at")
    answered, ended = contact.answered_at, contact.ended_at
    if ended is not None and answered is not None and ended < answered:
        raise InvalidInput(f"{prefix}ended_at: before answered_at")
    if contact.abandoned and contact.answered_at is not None:
        raise InvalidInput(f"{prefix}abandoned: an abandoned contact has no answered_at")
    if not 0 <= contact.hold_seconds <= MAX_HOLD_SECONDS:
        raise InvalidInput(f"{prefix}hold_seconds: 0 to {MAX_HOLD_SECONDS}")
    if contact.outcome is ContactOutcome.transfer and not contact.transfer_agency:
        raise InvalidInput(f"{prefix}transfer_agency: required when the outcome is transfer")
    if contact.transfer_agency and contact.outcome is not ContactOutcome.transfer:
        raise InvalidInput(f"{prefix}transfer_agency: only for the outcome transfer")
    if contact.abandoned and contact.outcome is not None:
        raise InvalidInput(f"{prefix}outcome: an abandoned contact has no outcome")


def record(
    session: Session,
    jurisdiction: Jurisdiction,
    user: StaffUser | None,
    given: ContactFields,
    now: datetime,
    links: Links = Links(),
) -> Contact:
    """Store a contact taken by `user`. Recorded live, it was queued `now`; times in the past
    are a contact recorded afterwards. Unless abandoned it was answered, at `answered_at` or
    else when queued (no wait known). Requests and
    articles must be the city's (the caller looked them up there); each article is counted as
    an answer given in this contact (knowledge.record_answer), in the contact's language or
    else the city's default. Flushes; the caller commits."""
    if given.channel is None:
        raise InvalidInput("channel: required")
    # To the second, as the API writes times: an ended_at echoed back is never "before".
    queued = given.queued_at or now.replace(microsecond=0)
    abandoned = bool(given.abandoned)
    answered = given.answered_at
    if answered is None and not abandoned:
        answered = queued  # taken by the call-taker; no wait is known
    contact = Contact(
        jurisdiction_id=jurisdiction.id,
        channel=given.channel,
        language=language_tag("language", given.language),
        interpreter=bool(given.interpreter),
        queued_at=queued,
        answered_at=answered,
        ended_at=given.ended_at,
        hold_seconds=given.hold_seconds or 0,
        abandoned=abandoned,
        staff_user_id=user.id if user is not None else None,
        outcome=given.outcome,
        transfer_agency=given.transfer_agency or None,
        caller_number=caller_number("caller_phone", given.caller_number),
    )
    check(contact, now)
    contact_queries.add_contact(session, contact)
    link(session, jurisdiction, contact, user, links, now)
    return contact


def change(
    session: Session,
    jurisdiction: Jurisdiction,
    contact: Contact,
    user: StaffUser | None,
    given: ContactFields,
    now: datetime,
    links: Links = Links(),
) -> Contact:
    """End or correct a contact: the fields given replace the stored ones (others stay), then
    the whole contact is checked again; links are added. The caller locked the row. Flushes."""
    changes = {
        item.name: getattr(given, item.name)
        for item in fields(given)
        if getattr(given, item.name) is not None
    }
    if "language" in changes:
        changes["language"] = language_tag("language", changes["language"])
    if "caller_number" in changes:
        changes["caller_number"] = caller_number("caller_phone", changes["caller_number"])
    before = {name: getattr(contact, name) for name in changes}
    for name, value in changes.items():
        setattr(contact, name, value)
    try:
        check(contact, now)
    except InvalidInput:
        for name, value in before.items():
            setattr(contact, name, value)
        raise
    session.flush()
    link(session, jurisdiction, contact, user, links, now)
    return contact


def link(
    session: Session,
    jurisdiction: Jurisdiction,
    contact: Contact,
    user: StaffUser | None,
    links: Links,
    now: datetime,
) -> None:
    """Tie the contact to the requests it led to and count the articles that answered it."""
    if len(links.requests) > MAX_LINKS or len(links.articles) > MAX_LINKS:
        raise InvalidInput(f"service_request_ids, article_ids: at most {MAX_LINKS} each")
    for request in links.requests:
        if request.jurisdiction_id != jurisdiction.id:
            raise InvalidInput("service_request_ids: not a request of this jurisdiction")
        if request not in contact.requests:
            contact.requests.append(request)
    first = contact.requests[0] if contact.requests else None
    locale = contact.language or jurisdiction.default_locale
    for article in links.articles:
        knowledge.record_answer(
            session, jurisdiction, article, user, locale, now, first, contact=contact
        )
    session.flush()


def for_intake(given: ContactFields, channel: str) -> ContactFields:
    """The contact a call-taker's intake records: its channel, the outcome `request`."""
    return replace(given, channel=ContactChannel(channel), outcome=ContactOutcome.request)
