"""The server's own error descriptions in the caller's language: the `locale` parameter, else
Accept-Language (es-MX -> es; unknown -> English), never a different status or shape, and
Content-Language on every error answer."""

from __future__ import annotations

import pytest

from tests.api.helpers import FORMATS, counts, errors, url
from tests.factories import make_api_key, make_jurisdiction, make_service

UNKNOWN_SERVICE = {
    "en": "service_code NOPE not found",
    "es": "no se encontró service_code NOPE",
    "vi": "không tìm thấy service_code NOPE",
    "ar": "لم يُعثر على service_code \u200fNOPE",
    "ko": "service_code NOPE을(를) 찾을 수 없습니다",
}


@pytest.fixture
def city(db):
    city = make_jurisdiction(db)
    make_service(db, city, "POT-01")
    return city


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("locale", sorted(UNKNOWN_SERVICE))
def test_the_locale_parameter_chooses_the_language(client, city, fmt, locale):
    response = client.get(url("services/NOPE", fmt), query_string={"locale": locale})

    assert errors(response, fmt, 404) == [UNKNOWN_SERVICE[locale]]  # XML parses too
    assert response.headers["Content-Language"] == locale


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("es", "es"),
        ("es-MX", "es"),  # a region we have no catalogue of: its language
        ("vi-VN,vi;q=0.9,en;q=0.8", "vi"),
        ("fr-CA, ar;q=0.5", "ar"),  # the first we have, by quality
        ("ar-EG", "ar"),
        ("fr", "en"),  # unknown: English
        ("*", "en"),
        ("", "en"),
        ("x" * 60, "en"),
        ("en-GB", "en"),
    ],
)
def test_accept_language_chooses_when_no_parameter(client, city, fmt, header, locale):
    response = client.get(url("services/NOPE", fmt), headers={"Accept-Language": header})

    assert errors(response, fmt, 404) == [UNKNOWN_SERVICE[locale]]
    assert response.headers["Content-Language"] == locale


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_parameter_wins_over_the_header(client, city, fmt):
    response = client.get(
        url("services/NOPE", fmt), query_string={"locale": "vi"}, headers={"Accept-Language": "ar"}
    )

    assert errors(response, fmt, 404) == [UNKNOWN_SERVICE["vi"]]
    assert response.headers["Content-Language"] == "vi"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("locale", ["klingon", "zz", "@@", "x" * 50, "fr-FR", "-es"])
def test_an_unknown_or_malformed_locale_is_english_and_no_error(client, city, fmt, locale):
    response = client.get(url("services/NOPE", fmt), query_string={"locale": locale})

    assert errors(response, fmt, 404) == [UNKNOWN_SERVICE["en"]]
    assert response.headers["Content-Language"] == "en"


@pytest.mark.parametrize("fmt", FORMATS)
def test_arabic_in_xml_is_well_formed_utf8(client, city, fmt):
    response = client.get(url("requests", fmt), query_string={"locale": "ar", "page_size": "x"})

    assert errors(response, fmt, 400) == ["page_size: ليس عددًا صحيحًا صالحًا."]
    assert response.headers["Content-Language"] == "ar"
    if fmt == "xml":
        assert "ليس عددًا".encode() in response.data  # raw UTF-8, not character references


# Each row: one bad call, its status, and its description in en, es, vi, ar.
CASES = [
    (
        "GET",
        "requests",
        {"page_size": "0"},
        400,
        [
            "page_size: Must be greater than or equal to 1 and less than or equal to 1000.",
            "page_size: Debe ser mayor o igual que 1 y menor o igual que 1000.",
            "page_size: Phải lớn hơn hoặc bằng 1 và nhỏ hơn hoặc bằng 1000.",
            "page_size: يجب أن يكون أكبر من أو يساوي 1 وأصغر من أو يساوي 1000.",
        ],
    ),
    (
        "GET",
        "requests",
        {"start_date": "2026-01-02", "end_date": "2026-01-01T00:00:00Z"},
        400,
        [
            "start_date: '2026-01-02' is not a W3C datetime with a zone, e.g. "
            "2024-04-12T09:14:03Z or 2024-04-12T09:14:03-07:00",
            "start_date: '2026-01-02' no es una fecha y hora W3C con zona horaria, p. ej. "
            "2024-04-12T09:14:03Z o 2024-04-12T09:14:03-07:00",
            "start_date: '2026-01-02' không phải là ngày giờ W3C có múi giờ, ví dụ "
            "2024-04-12T09:14:03Z hoặc 2024-04-12T09:14:03-07:00",
            "start_date: '2026-01-02' ليس تاريخًا ووقتًا بصيغة W3C مع منطقة زمنية، مثل "
            "2024-04-12T09:14:03Z أو 2024-04-12T09:14:03-07:00",
        ],
    ),
    (
        "GET",
        "requests",
        {"start_date": "2026-01-02T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        400,
        [
            "end_date is earlier than start_date",
            "end_date es anterior a start_date",
            "end_date sớm hơn start_date",
            "end_date أسبق من start_date",
        ],
    ),
    (
        "GET",
        "requests/999999",
        {},
        404,
        [
            "service_request_id 999999 not found",
            "no se encontró service_request_id 999999",
            "không tìm thấy service_request_id 999999",
            "لم يُعثر على service_request_id \u200f999999",
        ],
    ),
    (
        "GET",
        "nowhere",
        {},
        404,
        [
            "no such resource; GeoReport resources end in .json or .xml",
            "no existe ese recurso; los recursos GeoReport terminan en .json o .xml",
            "không có tài nguyên này; tài nguyên GeoReport kết thúc bằng .json hoặc .xml",
            "لا يوجد مورد بهذا الاسم؛ تنتهي موارد GeoReport بـ \u200e.json أو \u200e.xml",
        ],
    ),
    (
        "DELETE",
        "requests",
        {},
        405,
        [
            "method not allowed on this resource",
            "método no permitido en este recurso",
            "phương thức không được phép trên tài nguyên này",
            "الطريقة غير مسموح بها على هذا المورد",
        ],
    ),
    (
        "GET",
        "requests",
        {"q": "pothole\x01"},
        400,
        [
            "q: contains control characters",
            "q: contiene caracteres de control",
            "q: chứa ký tự điều khiển",
            "q: يحتوي على محارف تحكم",
        ],
    ),
]
LANGUAGES = ("en", "es", "vi", "ar")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("method", "resource", "args", "status", "said"), CASES)
def test_the_same_bad_request_in_every_language(
    client, city, fmt, method, resource, args, status, said
):
    for locale, expected in zip(LANGUAGES, said, strict=True):
        response = client.open(
            url(resource, fmt), method=method, query_string=args | {"locale": locale}
        )
        assert errors(response, fmt, status) == [expected], locale
        assert response.headers["Content-Language"] == locale

        by_header = client.open(
            url(resource, fmt),
            method=method,
            query_string=args,
            headers={"Accept-Language": f"{locale}-XX;q=0.9"},
        )
        assert errors(by_header, fmt, status) == [expected], locale


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_refused_post_is_told_in_the_language_and_changes_nothing(client, db, city, fmt):
    key = make_api_key(db)
    before = counts(db)

    no_key = client.post(
        url("requests", fmt),
        data={"service_code": "POT-01", "lat": "34.05", "long": "-118.24", "locale": "es"},
    )
    half_point = client.post(
        url("requests", fmt),
        data={"api_key": key, "service_code": "POT-01", "lat": "34.05"},
        headers={"Accept-Language": "vi"},
    )
    nowhere = client.post(
        url("requests", fmt) + "?locale=ar", data={"api_key": key, "service_code": "POT-01"}
    )

    # A POST's locale travels in the query string or the header; a body field is a field.
    assert errors(no_key, fmt, 403) == ["api_key was not provided"]
    assert no_key.headers["Content-Language"] == "en"
    assert errors(half_point, fmt, 400) == ["lat và long phải được gửi cùng nhau"]
    assert errors(nowhere, fmt, 400) == ["يلزم موقع: lat+long أو address_string أو address_id"]
    assert counts(db) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_several_problems_are_each_translated(client, db, city, fmt):
    response = client.get(
        url("requests", fmt),
        query_string={"locale": "es", "page_size": "many", "page": "zero"},
    )

    assert sorted(errors(response, fmt, 400)) == [
        "page: No es un número entero válido.",
        "page_size: No es un número entero válido.",
    ]


def test_unknown_jurisdiction_and_staff_errors_carry_content_language(client, city):
    georeport = client.get(
        url("services", "json"), query_string={"jurisdiction_id": "nowhere.example", "locale": "es"}
    )
    staff = client.get("/api/v1/me", headers={"Accept-Language": "es"})

    assert errors(georeport, "json", 404) == ["no se encontró jurisdiction_id nowhere.example"]
    assert georeport.headers["Content-Language"] == "es"
    assert staff.status_code == 401
    assert staff.headers["Content-Language"] == "es"
    assert "Accept-Language" in staff.headers.get("Vary", "")
