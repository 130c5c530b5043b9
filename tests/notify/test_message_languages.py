"""E-mail receipts in every language we write (en, es, ko, vi, ar): each template renders, the
dates are Babel's for that language in the city's time zone, the time a request took is said
with the language's own plural forms, and Content-Language names the language."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from open311.db.models import Activity, Delivery, OutboxEvent, Requester, ServiceRequest
from open311.notify import messages
from open311.notify.email import compose
from open311.values import DeliveryChannel, Status
from tests.factories import make_jurisdiction, make_request, make_service
from tests.notify.helpers import settings_for

RECEIVED_AT = datetime(2026, 3, 2, 17, 5, tzinfo=UTC)  # 09:05 in Los Angeles (PST)
CLOSED_AT = datetime(2026, 3, 4, 22, 30, tzinfo=UTC)  # 14:30 PST, two days later

# What each language writes for RECEIVED_AT and CLOSED_AT in Los Angeles, and for the two days
# between (CLDR through Babel; U+202F is CLDR's narrow space before AM/PM).
RECEIVED = {
    "en": "March 2, 2026, 9:05\u202fAM PST",
    "es": "2 de marzo de 2026, 9:05 PST",
    "ko": "2026년 3월 2일 오전 9:05 PST",
    "vi": "09:05 PST 2 tháng 3, 2026",
    "ar": "2 مارس 2026، 9:05 ص PST",
}
CLOSED = {
    "en": "March 4, 2026, 2:30\u202fPM PST",
    "es": "4 de marzo de 2026, 14:30 PST",
    "ko": "2026년 3월 4일 오후 2:30 PST",
    "vi": "14:30 PST 4 tháng 3, 2026",
    "ar": "4 مارس 2026، 2:30 م PST",
}
TOOK = {"en": "2 days", "es": "2 días", "ko": "2일", "vi": "2 ngày", "ar": "يومان"}
# One line of each template in each language: the receipt's "thank you", the closure's outcome.
RECEIVED_LINE = {
    "en": "Thank you for your report.",
    "es": "Gracias por su reporte.",
    "ko": "신고해 주셔서 감사합니다.",
    "vi": "Cảm ơn quý vị đã báo cáo.",
    "ar": "شكرًا لك على بلاغك.",
}
FIXED = {
    "en": "Outcome: Fixed",
    "es": "Resultado: Reparado",
    "ko": "처리 결과: 수리 완료",
    "vi": "Kết quả: Đã sửa xong",
    "ar": "النتيجة: تم الإصلاح",
}
LANGUAGES = sorted(RECEIVED)


@pytest.fixture
def pothole(db):
    city = make_jurisdiction(db, time_zone="America/Los_Angeles")
    return make_service(db, city, "POT", service_name="Pothole")


def filed(db, service, language: str | None) -> ServiceRequest:
    request = make_request(
        db, service, requested_datetime=RECEIVED_AT, updated_datetime=RECEIVED_AT
    )
    request.requester = Requester(email="ana.rivera@example.org", language=language)
    db.flush()
    return request


def closed(db, request: ServiceRequest) -> Activity:
    request.status = Status.closed
    request.status_notes = "Filled."
    request.updated_datetime = CLOSED_AT
    entry = Activity(
        service_request_pk=request.id,
        at=CLOSED_AT,
        actor="staff:crew-7",
        kind="closed",
        summary="Closed",
        public=True,
        status="fixed",
    )
    db.add(entry)
    db.flush()
    return entry


def message_for(
    db, request: ServiceRequest, template: str, activity: Activity | None = None
) -> EmailMessage:
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
    return compose(db, delivery, settings_for(2525), now=now)


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def test_every_language_is_written():
    assert set(LANGUAGES) <= set(messages.languages())


@pytest.mark.parametrize("language", LANGUAGES)
def test_received_in_each_language(db, pothole, language):
    request = filed(db, pothole, language)

    message = message_for(db, request, "received")

    text = text_of(message)
    assert message["Content-Language"] == language
    assert request.service_request_id in message["Subject"]
    assert RECEIVED_LINE[language] in text
    assert RECEIVED[language] in text
    assert "2026-03-02" not in text  # no ISO dates left over


@pytest.mark.parametrize("language", LANGUAGES)
def test_closed_in_each_language(db, pothole, language):
    request = filed(db, pothole, language)
    closing = closed(db, request)

    message = message_for(db, request, "closed", closing)

    text = text_of(message)
    assert message["Content-Language"] == language
    assert RECEIVED[language] in text
    assert CLOSED[language] in text
    assert TOOK[language] in text
    assert FIXED[language] in text
    assert "Filled." in text  # the city's own words, as written


@pytest.mark.parametrize(("tag", "language"), [("vi-VN", "vi"), ("ar-EG", "ar"), ("AR", "ar")])
def test_regional_tags_choose_the_language(db, pothole, tag, language):
    message = message_for(db, filed(db, pothole, tag), "received")

    assert message["Content-Language"] == language
    assert RECEIVED_LINE[language] in text_of(message)


@pytest.mark.parametrize(
    ("closed_at", "language", "said"),
    [
        (datetime(2026, 3, 2, 17, 50, tzinfo=UTC), "en", "45 minutes"),
        (datetime(2026, 3, 2, 18, 5, tzinfo=UTC), "en", "1 hour"),
        (datetime(2026, 3, 2, 18, 5, tzinfo=UTC), "ar", "ساعة"),  # Arabic's one: no digit
        (datetime(2026, 3, 4, 17, 5, tzinfo=UTC), "ar", "يومان"),  # its dual
        (datetime(2026, 3, 5, 17, 5, tzinfo=UTC), "ar", "3 أيام"),  # its few (3-10)
        (datetime(2026, 3, 2, 17, 16, tzinfo=UTC), "ar", "11 دقيقة"),  # its many (11-99)
        (datetime(2026, 3, 3, 17, 5, tzinfo=UTC), "es", "1 día"),
        (datetime(2026, 3, 5, 17, 5, tzinfo=UTC), "es", "3 días"),
        (datetime(2026, 3, 5, 17, 5, tzinfo=UTC), "vi", "3 ngày"),
        (datetime(2026, 3, 13, 17, 5, tzinfo=UTC), "en", "2 weeks"),
    ],
)
def test_the_time_taken_uses_the_languages_plural_forms(closed_at, language, said):
    facts = messages.Facts("7", "Pothole", RECEIVED_AT, closed_at=closed_at, update_status="fixed")

    assert f": {said}\n" in messages.render("closed", language, facts).body


def test_a_received_date_given_as_text_is_said_as_it_is():
    facts = messages.Facts("7", "Pothole", "2026-03-02 09:05 PST")

    assert "2026-03-02 09:05 PST" in messages.render("received", "ar", facts).body


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "June 30, 2026, 5:30\u202fPM PDT"),
        ("es", "30 de junio de 2026, 17:30 PDT"),
        ("vi", "17:30 PDT 30 tháng 6, 2026"),
    ],
)
def test_dates_are_in_the_citys_zone(language, said):
    # Just after midnight UTC on July 1st is still June 30th in Los Angeles, in summer time.
    late = datetime(2026, 7, 1, 0, 30, tzinfo=UTC).astimezone(ZoneInfo("America/Los_Angeles"))

    assert messages.when(late, language) == said
