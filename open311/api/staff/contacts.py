"""Staff API: contacts, every call, chat, TTY call, walk-in and e-mail the centre takes, as
the call statistics count them. Call-takers record and end their own and read their own;
supervisors and administrators read (and end) all of their cities', and they alone see the
caller's number, each such read audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from open311 import clock
from open311.api import database, links
from open311.api.staff import contacts_schemas as s
from open311.api.staff.auth import (
    StaffBlueprint,
    audit_read,
    current_user,
    staff_jurisdiction,
    staff_required,
)
from open311.db import article_queries, contact_queries, request_queries, staff_queries
from open311.db.models import Contact, Jurisdiction
from open311.domain import contacts, staff
from open311.errors import InvalidInput, NotFound
from open311.values import ContactChannel, ContactOutcome, StaffRole

blp = StaffBlueprint(
    "staff_contacts",
    __name__,
    "Staff API: contacts (calls, chats, TTY calls, walk-ins, e-mails) for the call statistics.",
)

_R = StaffRole
TAKERS = (_R.call_taker, _R.supervisor, _R.administrator)
OVERSEERS = frozenset({_R.supervisor, _R.administrator})


def _sees_all() -> bool:
    return current_user().role in OVERSEERS


def _fields(body: dict[str, Any]) -> contacts.ContactFields:
    return contacts.ContactFields(
        channel=ContactChannel(body["channel"]) if body.get("channel") else None,
        language=body.get("language"),
        interpreter=body.get("interpreter"),
        queued_at=body.get("queued_at"),
        answered_at=body.get("answered_at"),
        ended_at=body.get("ended_at"),
        hold_seconds=body.get("hold_seconds"),
        abandoned=body.get("abandoned"),
        outcome=ContactOutcome(body["outcome"]) if body.get("outcome") else None,
        transfer_agency=body.get("transfer_agency"),
        caller_number=body.get("caller_phone"),
    )


def _links(city: Jurisdiction, body: dict[str, Any]) -> contacts.Links:
    """The requests and articles named in the body, looked up in the city (400 naming one not
    there: the field is the body's, not the URL's)."""
    session = database.session()
    found = []
    for public_id in dict.fromkeys(body.get("service_request_ids") or []):
        request = request_queries.get_request_by_public_id(session, public_id)
        if request is None or request.jurisdiction_id != city.id:
            raise InvalidInput(f"service_request_ids: no request {public_id[:64]} in this city")
        found.append(request)
    articles = []
    for article_id in dict.fromkeys(body.get("article_ids") or []):
        article = article_queries.get_article(session, city, article_id)
        if article is None:
            raise InvalidInput(f"article_ids: no article {article_id[:100]} in this city")
        articles.append(article)
    return contacts.Links(found, articles)


def _contact(contact_id: int, *, for_update: bool = False) -> Contact:
    """The contact, if the user may see it: one of their cities', and their own unless they
    are a supervisor or administrator (404 otherwise, as if it did not exist)."""
    user = current_user()
    found = contact_queries.get_contact(database.session(), contact_id, for_update=for_update)
    if (
        found is None
        or found.jurisdiction_id not in staff.jurisdiction_scope(user)
        or (not _sees_all() and found.staff_user_id != user.id)
    ):
        raise NotFound(f"contact {contact_id} not found")
    return found


def _views(rows: Sequence[Contact]) -> list[dict[str, Any]]:
    """The contacts as StaffContactOut reads them; the caller's number for overseers alone, and
    their reading it noted in the audit (the view commits)."""
    session = database.session()
    cities = {city.id: city.jurisdiction_id for city in current_user().jurisdictions}
    names = contact_queries.usernames_by_id(
        session, {row.staff_user_id for row in rows if row.staff_user_id is not None}
    )
    answered = contact_queries.articles_of(session, [row.id for row in rows])
    privileged = _sees_all()
    views = []
    for row in rows:
        view = {
            "id": row.id,
            "jurisdiction_id": cities.get(row.jurisdiction_id),
            "channel": str(row.channel),
            "language": row.language,
            "interpreter": row.interpreter,
            "queued_at": row.queued_at,
            "answered_at": row.answered_at,
            "ended_at": row.ended_at,
            "hold_seconds": row.hold_seconds,
            "abandoned": row.abandoned,
            "staff_user": names.get(row.staff_user_id) if row.staff_user_id else None,
            "outcome": str(row.outcome) if row.outcome is not None else None,
            "transfer_agency": row.transfer_agency,
            "call_id": row.external_id,
            "service_request_ids": sorted(r.service_request_id for r in row.requests),
            "article_ids": answered.get(row.id, []),
        }
        if privileged:
            view["caller_phone"] = row.caller_number
        views.append(view)
    if privileged and any(row.caller_number for row in rows):
        audit_read("caller_phone")
        session.commit()
    return views


@blp.route("/contacts", methods=["POST"])
@staff_required(*TAKERS)
@blp.arguments(s.NewContactBody)
@blp.response(201, s.StaffContactOut)
def record_contact(body: dict[str, Any]) -> dict[str, Any]:
    """Record a contact taken by the signed-in user: channel, language (and interpreter),
    queued/answered/ended times (default: queued and answered now; past times for one recorded
    afterwards, never future ones), hold, abandoned, outcome (a transfer names its agency), the
    caller's number, the requests it led to and the articles that answered it (each counted as
    an article answer)."""
    session = database.session()
    city = staff_jurisdiction(body.get("jurisdiction_id"))
    contact = contacts.record(
        session, city, current_user(), _fields(body), clock.now(), _links(city, body)
    )
    session.commit()
    return _views([contact])[0]


@blp.route("/contacts", methods=["GET"])
@staff_required(*TAKERS)
@blp.arguments(s.ContactListArgs, location="query", as_kwargs=True)
@blp.response(200, s.StaffContactOut(many=True))
def list_contacts(page: int, page_size: int, **args: Any) -> tuple[list[dict[str, Any]], dict]:
    """Contacts, newest first, narrowed by channel, outcome, staff_user (a username), abandoned
    and a start_date/end_date range of queued times. Supervisors and administrators see every
    contact of their cities (or of `jurisdiction_id`), call-takers their own. A `Link` header
    points to the next page when there is one."""
    session = database.session()
    user = current_user()
    if args.get("jurisdiction_id"):
        scope: tuple[int, ...] = (staff_jurisdiction(args["jurisdiction_id"]).id,)
    else:
        scope = staff.jurisdiction_scope(user)
    taker = None
    if args.get("staff_user"):
        taker = staff_queries.get_staff_user(session, args["staff_user"])
        if taker is None:
            return [], {}
    if not _sees_all():
        if taker is not None and taker.id != user.id:
            return [], {}
        taker = user
    start, end = args.get("start_date"), args.get("end_date")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("end_date: must be after start_date")
    where = contact_queries.ContactFilter(
        channel=ContactChannel(args["channel"]) if args.get("channel") else None,
        outcome=ContactOutcome(args["outcome"]) if args.get("outcome") else None,
        staff_user_id=taker.id if taker is not None else None,
        abandoned=args.get("abandoned"),
        start=start,
        end=end,
    )
    rows = list(
        contact_queries.find_contacts(
            session, scope, where, limit=page_size + 1, offset=(page - 1) * page_size
        )
    )
    more = len(rows) > page_size
    headers = {"Link": links.next_page_link(("page",), page=str(page + 1))} if more else {}
    return _views(rows[:page_size]), headers


@blp.route("/contacts/<int:contact_id>", methods=["GET"])
@staff_required(*TAKERS)
@blp.response(200, s.StaffContactOut)
def get_contact(contact_id: int) -> dict[str, Any]:
    """One contact (a call-taker's own; any of their cities' for supervisors and
    administrators)."""
    return _views([_contact(contact_id)])[0]


@blp.route("/contacts/<int:contact_id>", methods=["PATCH"])
@staff_required(*TAKERS)
@blp.arguments(s.ContactChangeBody)
@blp.response(200, s.StaffContactOut)
def change_contact(body: dict[str, Any], contact_id: int) -> dict[str, Any]:
    """End or correct a contact (the call-taker who took it, or a supervisor or administrator
    of its city): ended_at, outcome, hold, and requests and articles to add; the contact is
    checked again as a whole."""
    session = database.session()
    contact = _contact(contact_id, for_update=True)
    city = session.get(Jurisdiction, contact.jurisdiction_id)
    assert city is not None  # the contact's foreign key
    contacts.change(
        session, city, contact, current_user(), _fields(body), clock.now(), _links(city, body)
    )
    session.commit()
    return _views([contact])[0]
