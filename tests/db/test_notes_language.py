"""The notes the server writes to the public are stored in the jurisdiction's default language
(an English city's exactly as before): cancelling, completing, starting work, reopening and
merging duplicates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from open311.db.models import Activity, ServiceRequest
from open311.domain import duplicates, intake, workflow
from open311.i18n import _
from open311.values import Status, WorkOrderState
from tests.factories import (
    make_agency,
    make_crew,
    make_jurisdiction,
    make_request,
    make_rule,
    make_service,
    make_work_order,
)

NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
LOCALES = ("en", "es", "vi", "ar")


@pytest.fixture(params=LOCALES)
def city(request, db):
    locale = request.param
    return make_jurisdiction(db, default_locale=locale, locales=["en", locale])


@pytest.fixture
def pothole(db, city):
    return make_service(db, city, "POT", service_name="Pothole")


def said(city, **by_locale: str) -> str:
    return by_locale[city.default_locale]


def public_summaries(db, request: ServiceRequest) -> list[str]:
    entries = db.scalars(
        select(Activity)
        .where(Activity.service_request_pk == request.id, Activity.public.is_(True))
        .order_by(Activity.id)
    )
    return [entry.summary for entry in entries]


def test_a_cancellation_is_told_in_the_citys_language(db, city, pothole):
    request = make_request(db, pothole)

    workflow.cancel_request(db, request, actor="staff:kim", reason="blocked street", now=NOW)

    notes = said(
        city,
        en="Cancelled: blocked street",
        es="Cancelada: blocked street",
        vi="Đã hủy: blocked street",
        ar="أُلغي: blocked street",
    )
    closed = said(city, en="Closed: ", es="Cerrada: ", vi="Đã đóng: ", ar="أُغلق: ")
    assert request.status is Status.closed
    assert request.status_notes == notes
    assert public_summaries(db, request)[-1] == closed + notes


def test_completing_and_starting_work_are_told_in_the_citys_language(db, city, pothole):
    request = make_request(db, pothole)
    agency = make_agency(db, city)
    crew = make_crew(db, agency)
    order = make_work_order(db, request, agency, crew=crew, title="Fill the hole")

    workflow.transition(db, order, WorkOrderState.in_progress, actor="staff:kim", now=NOW)
    started = request.status_notes
    workflow.transition(db, order, WorkOrderState.done, actor="staff:kim", now=NOW)

    assert started == said(
        city,
        en="Work in progress: Fill the hole",
        es="Trabajo en curso: Fill the hole",
        vi="Đang thực hiện: Fill the hole",
        ar="العمل جارٍ: Fill the hole",
    )
    assert request.status_notes == said(
        city,
        en="Completed: Fill the hole",
        es="Completado: Fill the hole",
        vi="Đã hoàn thành: Fill the hole",
        ar="اكتمل: Fill the hole",
    )


def test_a_reopening_and_its_reason_are_told_in_the_citys_language(db, city, pothole):
    make_rule(db, pothole, make_agency(db, city))
    request = make_request(db, pothole, status=Status.closed)
    # The reason POST servicerequestupdates gives, itself a marked text.
    reason = _("the requester reported the problem is not solved (via %(client)s)", client="App")

    workflow.reopen(db, request, actor="client:App", reason=reason, now=NOW)

    assert request.status is Status.open
    assert request.status_notes == said(
        city,
        en="Reopened: the requester reported the problem is not solved (via App)",
        es="Reabierta: el solicitante informó que el problema no está resuelto (a través de App)",
        vi="Đã mở lại: người yêu cầu báo rằng sự cố chưa được giải quyết (qua App)",
        ar="أُعيد فتحه: أفاد مقدّم الطلب بأن المشكلة لم تُحل (عبر App)",
    )
    assert public_summaries(db, request)[-1] == request.status_notes


def test_a_merge_is_told_in_the_citys_language(db, city, pothole):
    parent = make_request(db, pothole)
    duplicate = make_request(db, pothole)
    pid, did = parent.service_request_id, duplicate.service_request_id

    duplicates.merge(db, duplicate, parent, actor="staff:kim", now=NOW)

    assert duplicate.status_notes == said(
        city,
        en=f"Duplicate of request {pid}: this problem was already reported. "
        "Follow that request for updates.",
        es=f"Duplicado de la solicitud {pid}: este problema ya se había reportado. "
        "Siga esa solicitud para ver las novedades.",
        vi=f"Trùng với yêu cầu {pid}: sự cố này đã được báo trước đó. "
        "Hãy theo dõi yêu cầu đó để biết thông tin cập nhật.",
        ar=f"مكرر للطلب {pid}: سبق الإبلاغ عن هذه المشكلة. تابع ذلك الطلب لمعرفة المستجدات.",
    )
    assert public_summaries(db, parent)[-1] == said(
        city,
        en=f"Another report of this problem (request {did}) was merged into this one.",
        es=f"Otro reporte de este problema (solicitud {did}) se fusionó con esta.",
        vi=f"Một báo cáo khác về sự cố này (yêu cầu {did}) đã được gộp vào yêu cầu này.",
        ar=f"دُمج بلاغ آخر عن هذه المشكلة (الطلب {did}) في هذا الطلب.",
    )


def test_a_language_without_a_catalogue_writes_english(db):
    city = make_jurisdiction(db, default_locale="fr", locales=["fr", "en"])
    request = make_request(db, make_service(db, city, "POT"))

    workflow.cancel_request(db, request, actor="staff:kim", reason="rain", now=NOW)

    assert request.status_notes == "Cancelled: rain"


def test_the_ignored_attributes_notice_is_in_the_citys_language(db, city):
    make_service(db, city, "POT", service_notice=None)
    submission = intake.Submission(
        service_code="POT",
        address_string="1 Main St",
        attributes={"uprn": ["1000"], **{f"x{n}": ["1"] for n in range(21)}},
    )

    request = intake.submit(db, city, None, submission, now=NOW, actor="staff:kim")

    codes = ", ".join(["uprn", *(f"x{n}" for n in range(19))])
    assert request.service_notice == said(
        city,
        en=f"Ignored unknown attributes: {codes} and 2 more.",
        es=f"Se ignoraron atributos desconocidos: {codes} y 2 más.",
        vi=f"Đã bỏ qua các thuộc tính không xác định: {codes} và 2 thuộc tính khác.",
        ar=f"تم تجاهل خصائص غير معروفة: {codes} و2 خاصيتان أخريان.",
    )
