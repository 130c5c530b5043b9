"""E-mail to requesters through a real SMTP server (aiosmtpd on a free local port).

send() is called directly with Delivery and OutboxEvent rows made here, as the worker would call
it; the outbox that writes them in production is tested with the worker.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import update

from open311.config import Settings
from open311.db.cluster import free_port
from open311.db.models import Activity, Delivery, OutboxEvent, Requester, ServiceRequest
from open311.notify import messages
from open311.notify.email import PermanentFailure, Refused, send
from open311.values import DeliveryChannel, Status
from tests.factories import make_jurisdiction, make_request, make_service
from tests.notify.helpers import Inbox, serve, settings_for

RECEIVED_AT = datetime(2026, 3, 2, 17, 5, tzinfo=UTC)  # 09:05 in Los Angeles (PST)
CLOSED_AT = datetime(2026, 3, 4, 22, 30, tzinfo=UTC)  # 14:30 PST
ANA = {
    "email": "ana.rivera@example.org",
    "first_name": "Ana",
    "last_name": "Rivera-Quintanilla",
    "phone": "+1 213 555 0142",
    "device_id": "device-7f3a9",
    "account_id": "acct-55120",
}
# Someone else's request in the same city: none of this may reach Ana's mailbox.
OTHER = {
    "email": "bartholomew.z@example.org",
    "first_name": "Bartholomew",
    "last_name": "Zywiec",
    "phone": "+1 310 555 0177",
}


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp(inbox: Inbox) -> Iterator[Settings]:
    yield from serve(inbox)


@pytest.fixture
def pothole(db):
    city = make_jurisdiction(db, time_zone="America/Los_Angeles")
    return make_service(db, city, "POT", service_name="Pothole")


def filed(db, service, person: dict[str, str] | None, *, language: str | None = None, **kw):
    fields = {
        "requested_datetime": RECEIVED_AT,
        "updated_datetime": RECEIVED_AT,
        "address": "200 N Spring St, Los Angeles",
        "description": "Deep hole by the kerb, call me on my cell",
    }
    request = make_request(db, service, **(fields | kw))
    if person is not None:
        request.requester = Requester(**person, language=language)
    db.flush()
    return request


def delivery_for(
    db, request: ServiceRequest, template: str = "received", activity: Activity | None = None
) -> Delivery:
    now = datetime.now(UTC)
    event = OutboxEvent(
        kind="request.created" if template == "received" else "request.status_changed",
        service_request_pk=request.id,
        activity_id=activity.id if activity is not None else None,
        occurred_at=now,
        payload={"service_request_id": request.service_request_id},
    )
    delivery = Delivery(
        delivery_id=str(uuid.uuid4()),
        event=event,
        channel=DeliveryChannel.email,
        template=template,
        next_attempt_at=now,
        created_at=now,
    )
    db.add(delivery)
    db.flush()
    return delivery


def close(db, request: ServiceRequest, status: str, notes: str | None) -> Activity:
    request.status = Status.closed
    request.status_notes = notes
    request.updated_datetime = CLOSED_AT
    entry = Activity(
        service_request_pk=request.id,
        at=CLOSED_AT,
        actor="staff:crew-7",
        kind="closed",
        summary="Closed",
        public=True,
        status=status,
    )
    db.add(entry)
    db.flush()
    return entry


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


# --- what is sent ----------------------------------------------------------------------------


def test_received_in_english(db, smtp, inbox, pothole):
    request = filed(db, pothole, ANA, language="en-US")
    delivery = delivery_for(db, request)

    send(db, delivery, smtp)

    envelope, message = inbox.only()
    assert envelope.rcpt_tos == [ANA["email"]]
    assert envelope.mail_from == "noreply@311.lacity.org"
    assert message["To"] == ANA["email"]
    assert message["From"] == "Los Angeles 311 <noreply@311.lacity.org>"
    assert message["Subject"] == f"Request {request.service_request_id} received: Pothole"
    assert message["Message-ID"] == f"<{delivery.delivery_id}@311.lacity.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "en"
    assert message["Date"].datetime.tzinfo is not None
    assert message.get_content_type() == "text/plain"
    text = text_of(message)
    assert text.startswith("Hello,\n")
    assert "Service: Pothole" in text
    assert f"Request number: {request.service_request_id}" in text
    assert "Received: March 2, 2026, 9:05\u202fAM PST" in text  # Babel's English (CLDR)
    assert "200 N Spring St" not in text  # the client's words, not the city's
    assert (
        f"https://311.lacity.org/open311/v2/requests/{request.service_request_id}.json"
        "?jurisdiction_id=lacity.org"
    ) in text
    assert "automated message" in text


@pytest.mark.parametrize("language", ["es", "es-MX", "ES-419", "es_US"])
def test_received_in_spanish_including_regional_tags(db, smtp, inbox, pothole, language):
    request = filed(db, pothole, ANA, language=language)

    send(db, delivery_for(db, request), smtp)

    _envelope, message = inbox.only()
    assert message["Subject"] == f"Solicitud {request.service_request_id} recibida: Pothole"
    assert message["Content-Language"] == "es"
    text = text_of(message)
    assert text.startswith("Hola:\n")
    assert f"Número de solicitud: {request.service_request_id}" in text
    assert "mensaje automático" in text


def test_korean_subject_travels_as_an_encoded_header(db, smtp, inbox, pothole):
    request = filed(db, pothole, ANA, language="ko-KR")

    send(db, delivery_for(db, request), smtp)

    envelope, message = inbox.only()
    assert message["Subject"] == f"민원 {request.service_request_id} 접수 완료: Pothole"
    assert b"=?utf-8?" in envelope.content.split(b"\r\n\r\n")[0]  # RFC 2047, not raw UTF-8
    assert text_of(message).startswith("안녕하세요.")


@pytest.mark.parametrize("language", [None, "fr", "zh-Hant", "esx"])
def test_unknown_or_missing_language_is_english(db, smtp, inbox, pothole, language):
    send(db, delivery_for(db, filed(db, pothole, ANA, language=language)), smtp)

    _envelope, message = inbox.only()
    assert message["Content-Language"] == "en"
    assert message["Subject"].startswith("Request ")


@pytest.mark.parametrize(
    ("language", "subject", "outcome", "notes_heading"),
    [
        ("en", "Request {} closed: Pothole", "Outcome: Fixed", "Notes from the city:"),
        ("es-MX", "Solicitud {} cerrada: Pothole", "Resultado: Reparado", "Notas de la ciudad:"),
    ],
)
def test_closed_says_the_outcome_and_the_notes(
    db, smtp, inbox, pothole, language, subject, outcome, notes_heading
):
    request = filed(db, pothole, ANA, language=language)
    closing = close(db, request, "fixed", "Filled with cold asphalt; permanent repair in May.")

    send(db, delivery_for(db, request, "closed", closing), smtp)

    _envelope, message = inbox.only()
    assert message["Subject"] == subject.format(request.service_request_id)
    text = text_of(message)
    assert outcome in text
    assert (
        "March 4, 2026, 2:30\u202fPM PST" if language == "en" else "4 de marzo de 2026, 14:30 PST"
    ) in text
    assert f"{notes_heading}\nFilled with cold asphalt; permanent repair in May." in text


def test_closed_without_an_update_status_or_notes(db, smtp, inbox, pothole):
    request = filed(db, pothole, ANA)
    request.status = Status.closed
    db.flush()

    send(db, delivery_for(db, request, "closed"), smtp)

    text = text_of(inbox.only()[1])
    assert "Outcome: Closed" in text
    assert "Notes from the city" not in text


def test_no_personal_data_at_all(db, smtp, inbox, pothole):
    other = filed(db, pothole, OTHER, address="1 Other St")
    request = filed(db, pothole, ANA, language="en")
    closing = close(db, request, "duplicate", "Same hole as an earlier report.")
    request.duplicate_of_pk = other.id
    request.duplicate_state = "confirmed"
    db.flush()

    send(db, delivery_for(db, request, "closed", closing), smtp)

    envelope, _message = inbox.only()
    raw = envelope.content.decode("utf-8", "replace")
    decoded = text_of(inbox.only()[1])
    for secret in [*OTHER.values(), *(ANA[k] for k in ANA if k != "email")]:
        assert secret not in raw
        assert secret not in decoded
    assert "call me on my cell" not in decoded  # the description is not repeated
    assert ANA["email"] not in decoded  # only in the To header


# Any API key holder may file a request with any e-mail address: what they write must not ride
# in the city's e-mail to that address (issue 12).
RELAYED = {
    "first_name": "Win a prize at https://evil.example/claim",
    "last_name": "Call +1 900 555 0100 now",
    "address": "Your account is locked: http://phish.example/login",
    "description": "Reply with your password to http://phish.example/pw",
}


@pytest.mark.parametrize("language", ["en", "es", "ko"])
@pytest.mark.parametrize("template", ["received", "closed"])
def test_a_clients_words_never_reach_the_email(db, smtp, inbox, pothole, language, template):
    person = {"email": "victim@example.net", **{k: RELAYED[k] for k in ("first_name", "last_name")}}
    request = filed(
        db,
        pothole,
        person,
        language=language,
        address=RELAYED["address"],
        description=RELAYED["description"],
    )
    closing = close(db, request, "fixed", None) if template == "closed" else None

    send(db, delivery_for(db, request, template, closing), smtp)

    envelope, message = inbox.only()
    raw = envelope.content.decode("utf-8", "replace")
    seen = f"{message['Subject']}\n{text_of(message)}"
    for words in RELAYED.values():
        for piece in (words, *words.split()):
            if piece.startswith("http") or len(piece) > 6:
                assert piece not in seen
                assert piece not in raw
    assert "evil.example" not in raw and "phish.example" not in raw
    assert request.service_request_id in message["Subject"]


def test_no_public_url_gives_a_neutral_line_instead_of_a_link(db, inbox, pothole):
    request = filed(db, pothole, ANA)
    for settings in serve(inbox):
        settings.public_url = ""
        send(db, delivery_for(db, request), settings)

    text = text_of(inbox.only()[1])
    assert "http" not in text
    assert "Please quote the request number if you contact us about it." in text


def test_a_retry_carries_the_same_message_id(db, smtp, inbox, pothole):
    delivery = delivery_for(db, filed(db, pothole, ANA))

    send(db, delivery, smtp)
    send(db, delivery, smtp)

    ids = {
        email.message_from_bytes(e.content, policy=email.policy.default)["Message-ID"]
        for e in inbox.messages
    }
    assert ids == {f"<{delivery.delivery_id}@311.lacity.org>"}


# --- transport: STARTTLS, AUTH ---------------------------------------------------------------


def test_starttls_is_off_unless_configured(monkeypatch, db, smtp, inbox, pothole):
    monkeypatch.delenv("OPEN311_SMTP_STARTTLS", raising=False)
    assert Settings().smtp_starttls is False

    send(db, delivery_for(db, filed(db, pothole, ANA)), smtp)  # the server offers no STARTTLS

    assert len(inbox.messages) == 1


def test_starttls_asked_of_a_server_without_it_sends_nothing(db, smtp, inbox, pothole):
    smtp.smtp_starttls = True

    with pytest.raises(smtplib.SMTPNotSupportedError):
        send(db, delivery_for(db, filed(db, pothole, ANA)), smtp)

    assert inbox.messages == []


def test_login_when_a_user_is_configured(db, inbox, pothole):
    for settings in serve(inbox, authenticator=inbox.authenticate, auth_require_tls=False):
        settings.smtp_user, settings.smtp_password = "open311", "s3cret"
        send(db, delivery_for(db, filed(db, pothole, ANA)), settings)

    assert inbox.logins == [(b"open311", b"s3cret")]
    assert len(inbox.messages) == 1


def test_wrong_password_raises(db, inbox, pothole):
    for settings in serve(inbox, authenticator=inbox.authenticate, auth_require_tls=False):
        settings.smtp_user, settings.smtp_password = "open311", "wrong"
        with pytest.raises(Refused) as raised:
            send(db, delivery_for(db, filed(db, pothole, ANA)), settings)

    assert raised.value.smtp_code == 535
    assert inbox.messages == []


# --- failures the worker retries, and the one it should not ----------------------------------


def test_refused_recipient_raises_without_naming_the_address(db, smtp, inbox, pothole):
    inbox.refuse_rcpt = f"550 5.1.1 <{ANA['email'].upper()}>: Recipient address rejected"

    with pytest.raises(Refused) as raised:
        send(db, delivery_for(db, filed(db, pothole, ANA)), smtp)

    assert raised.value.smtp_code == 550
    assert raised.value.permanent
    assert "Recipient address rejected" in str(raised.value)
    assert ANA["email"] not in str(raised.value).lower()
    assert raised.value.__context__ is None or raised.value.__suppress_context__
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("reply", "permanent"), [("554 5.6.0 Rejected", True), ("451 Later", False)]
)
def test_refused_message_raises(db, smtp, inbox, pothole, reply, permanent):
    inbox.refuse_data = reply

    with pytest.raises(Refused) as raised:
        send(db, delivery_for(db, filed(db, pothole, ANA)), smtp)

    assert raised.value.smtp_code == int(reply[:3])
    assert raised.value.permanent is permanent


def test_a_server_that_is_down_raises_oserror_quickly(db, pothole):
    settings = settings_for(free_port())  # nobody listens there
    started = time.monotonic()

    with pytest.raises(OSError):
        send(db, delivery_for(db, filed(db, pothole, ANA)), settings)

    assert time.monotonic() - started < 5


def test_requester_without_email_is_a_permanent_failure(db, smtp, inbox, pothole):
    request = filed(db, pothole, {"first_name": "Ana", "phone": ANA["phone"]})

    with pytest.raises(PermanentFailure):
        send(db, delivery_for(db, request), smtp)

    assert inbox.messages == []


def test_request_without_requester_is_a_permanent_failure(db, smtp, inbox, pothole):
    with pytest.raises(PermanentFailure):
        send(db, delivery_for(db, filed(db, pothole, None)), smtp)


def test_address_removed_after_queueing_is_read_at_send_time(db, smtp, inbox, pothole):
    request = filed(db, pothole, ANA)
    delivery = delivery_for(db, request)
    assert request.requester.email == ANA["email"]  # loaded in this session already
    # Erased behind the session's back, as another process would.
    db.execute(
        update(Requester)
        .where(Requester.service_request_pk == request.id)
        .values(email=None, first_name=None)
        .execution_options(synchronize_session=False)
    )

    with pytest.raises(PermanentFailure):
        send(db, delivery, smtp)

    assert inbox.messages == []


def test_unknown_template_is_a_permanent_failure(db, smtp, inbox, pothole):
    delivery = delivery_for(db, filed(db, pothole, ANA), "reminder")

    with pytest.raises(PermanentFailure):
        send(db, delivery, smtp)


# --- choosing the language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "chosen"),
    [
        ("es", "es"),
        ("es-MX", "es"),
        ("ES", "es"),
        ("es_mx", "es"),
        ("ko-KR", "ko"),
        ("en-GB", "en"),
        ("fr-CA", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_choose_language(tag, chosen):
    assert messages.choose_language(tag) == chosen


def test_an_exact_tag_wins_over_its_language():
    assert messages.choose_language("zh-Hant", ("en", "zh", "zh-hant")) == "zh-hant"
    assert messages.choose_language("zh-Hans", ("en", "zh", "zh-hant")) == "zh"


def test_every_language_has_every_template():
    assert {"en", "es"} <= set(messages.languages())
    facts = messages.Facts("1", "Pothole", "2026-03-02 09:05 PST", update_status="fixed")
    for language in messages.languages():
        for template in messages.TEMPLATES:
            rendered = messages.render(template, language, facts)
            assert rendered.language == language
            assert rendered.subject and "\n" not in rendered.subject
            assert rendered.body.strip()


def test_a_line_break_in_a_service_name_does_not_end_the_subject():
    rendered = messages.render("received", "en", messages.Facts("7", "Pot\nhole", "now"))
    assert rendered.subject == "Request 7 received: Pot hole"
