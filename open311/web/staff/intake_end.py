"""Ending a call on the intake screen, by the staff API's rules: filing a request for the caller
(POST /api/v1/intake/requests: its body schema, intake.submit, the contact in the same
transaction), recording the call on an open request already filed, or recording it as answered
from the knowledge base. Each returns where the browser goes next, or raises InvalidInput; the
view commits or rolls back.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import request, url_for

from open311 import clock
from open311.api import database
from open311.api.forms import reject_forbidden
from open311.api.smorest import load
from open311.api.staff.intake_schemas import IntakeRequestBody, submission_of
from open311.db import article_queries, request_queries
from open311.db.models import Article, Jurisdiction, ServiceRequest
from open311.domain import catalogue, contacts, staff
from open311.domain.answers import validate_answers
from open311.domain.intake import Submission, check_location, submit
from open311.errors import InvalidInput
from open311.i18n import negotiate
from open311.values import ContactChannel, ContactOutcome, Status
from open311.web.pages import say
from open311.web.staff.access import actor, current_user
from open311.web.staff.intake_form import IntakeForm


def city_of(form: IntakeForm) -> Jurisdiction:
    """The city of the call: one of the user's (staff.choose_jurisdiction: 403 otherwise)."""
    chosen = staff.choose_jurisdiction(
        database.session(), current_user(), form.jurisdiction_id or None
    )
    form.jurisdiction_id = chosen.jurisdiction_id
    return chosen


def caller_locale(form: IntakeForm, city: Jurisdiction) -> str:
    """The caller's language among the city's (as the API's `locale` is negotiated); the
    city's default when none was chosen."""
    offered = list(city.locales or ()) or [city.default_locale]
    chosen = negotiate(form.caller_locale or None, (), offered, city.default_locale)
    form.caller_locale = chosen
    return chosen


def _articles(form: IntakeForm, city: Jurisdiction) -> list[Article]:
    """The answers used, as the contacts API looks up its article_ids (400 naming one not
    of the city)."""
    found = []
    for article_id in form.article_ids:
        article = article_queries.get_article(database.session(), city, article_id)
        if article is None:
            raise InvalidInput(f"article_ids: no article {article_id[:100]} in this city")
        found.append(article)
    return found


def file_request(form: IntakeForm) -> str:
    """File the request as POST /api/v1/intake/requests does (its schema, intake.submit, the
    contact in the same transaction), with the answers used linked to the contact."""
    for key, value in request.form.items(multi=True):
        reject_forbidden(key, value)
    city = city_of(form)
    caller_locale(form, city)
    if not form.service_code:
        raise InvalidInput(say("service_code: choose a service."))
    body = load(IntakeRequestBody(), form.body())
    submission = submission_of(body)
    _check_all(city, submission)
    session = database.session()
    now = clock.now()
    stored = submit(session, city, None, submission, now, actor=actor())
    call = body.get("contact") or {}
    given = contacts.ContactFields(
        language=call.get("language"), interpreter=call.get("interpreter")
    )
    links = contacts.Links(requests=[stored], articles=_articles(form, city))
    contacts.record(
        session, city, current_user(), contacts.for_intake(given, body["channel"]), now, links
    )
    return url_for("console_intake.intake", filed=stored.service_request_id)


def _check_all(city: Jurisdiction, submission: Submission) -> None:
    """intake.submit's own checks of the place and the answers, both run before it, so that
    the call-taker sees every problem at once (submit stops at the first kind)."""
    problems: list[str] = []
    try:
        check_location(submission)
    except InvalidInput as error:
        problems += error.problems
    service = catalogue.get_service(database.session(), city, submission.service_code)
    try:
        validate_answers(service, submission.attributes, ZoneInfo(city.time_zone or "UTC"))
    except InvalidInput as error:
        problems += error.problems
    if problems:
        raise InvalidInput(*problems)


def attach(form: IntakeForm) -> str:
    """The caller reports an open request already filed: the call is recorded on it (outcome
    `request`, "filed or found"), and no new request is made."""
    city = city_of(form)
    caller_locale(form, city)
    wanted = request.form.get("attach", "")[:64]
    found = request_queries.get_request_by_public_id(database.session(), wanted)
    if found is None or found.jurisdiction_id != city.id or found.status is not Status.open:
        raise InvalidInput(say("No open request %(id)s in this city.", id=wanted))
    _record(form, city, ContactOutcome.request, [found])
    return url_for("console_intake.intake", attached=found.service_request_id)


def answered(form: IntakeForm) -> str:
    """A call answered from the knowledge base, no request filed (outcome `information`)."""
    city = city_of(form)
    caller_locale(form, city)
    if not form.article_ids:
        raise InvalidInput(say("article_ids: use an answer first, or file a request."))
    _record(form, city, ContactOutcome.information, [])
    return url_for("console_intake.intake", answered="1")


def _record(
    form: IntakeForm, city: Jurisdiction, outcome: ContactOutcome, requests: list[ServiceRequest]
) -> None:
    given = contacts.ContactFields(
        channel=ContactChannel(form.channel),
        language=form.caller_locale,
        interpreter=form.interpreter,
        outcome=outcome,
    )
    links = contacts.Links(requests=requests, articles=_articles(form, city))
    contacts.record(database.session(), city, current_user(), given, clock.now(), links)
