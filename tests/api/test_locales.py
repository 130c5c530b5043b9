"""Services and service definitions in the caller's language: the `locale` parameter wins over
Accept-Language, es-MX falls back to es, an unknown tag to the city's default and never to a
4xx; Content-Language and Vary say so; codes and keys never change; discovery lists the city's
languages; Arabic and Vietnamese are well-formed in both formats."""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from xml.dom import minidom

import pytest
from sqlalchemy import event

from open311.domain import translations
from open311.domain.translations import Entry
from open311.values import Datatype, ServiceType
from tests.api.helpers import FORMATS, body, url
from tests.factories import make_attribute, make_jurisdiction, make_request, make_service

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
VI_DECOMPOSED = unicodedata.normalize("NFD", "Ổ gà trên đường")
VI = unicodedata.normalize("NFC", VI_DECOMPOSED)
AR = "حفرة في الشارع"

SPANISH = [
    ("service_name", "Pothole", "Bache"),
    ("description", "A hole in the street", "Un hoyo en la calle"),
    ("keywords", "road, hole", "calle, hoyo"),
    ("group", "Streets", "Calles"),
    ("attribute", "How big is it?", "¿Qué tamaño tiene?"),
    ("datatype_description", "Pick one", "Elija uno"),
    ("value", "Small", "Pequeño"),
    ("value", "Large", "Grande"),
]


@pytest.fixture
def city(db):
    city = make_jurisdiction(
        db,
        jurisdiction_id="austintexas.gov",
        name="Austin",
        locales=["en", "es", "vi", "ar"],
        default_locale="en",
    )
    make_service(
        db,
        city,
        "POT",
        service_name="Pothole",
        description="A hole in the street",
        keywords="road, hole",
        group="Streets",
        attributes=[
            make_attribute(
                "SIZE",
                Datatype.singlevaluelist,
                description="How big is it?",
                datatype_description="Pick one",
                values=[("S", "Small"), ("L", "Large")],
            )
        ],
    )
    make_service(db, city, "GRF", service_name="Graffiti", group="Streets")
    say(db, city, "es", *SPANISH)
    say(db, city, "vi", ("service_name", "Pothole", VI_DECOMPOSED), ("value", "Small", "Nhỏ"))
    say(
        db,
        city,
        "ar",
        ("service_name", "Pothole", AR),
        ("attribute", "How big is it?", "ما حجمها؟"),
    )
    return city


def say(db, city, locale, *entries):
    translations.put(db, city, locale, [Entry(*e) for e in entries], actor="test", now=NOW)


def services(client, fmt, headers=None, **query):
    response = client.get(url("services", fmt), query_string=query, headers=headers or {})
    assert response.status_code == 200, response.data
    return response, {item["service_code"]: item for item in body(response, fmt, "services")}


def definition(client, fmt, headers=None, **query):
    response = client.get(url("services/POT", fmt), query_string=query, headers=headers or {})
    assert response.status_code == 200, response.data
    return response, body(response, fmt, "service_definition")


# --- services ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_in_spanish_by_parameter(client, city, fmt):
    response, found = services(client, fmt, locale="es")

    pothole = found["POT"]
    assert pothole["service_name"] == "Bache"
    assert pothole["description"] == "Un hoyo en la calle"
    assert pothole["keywords"] == "calle, hoyo"
    assert pothole["group"] == "Calles"
    assert pothole["service_code"] == "POT"
    assert found["GRF"]["service_name"] == "Graffiti"  # untranslated: the city's words
    assert found["GRF"]["group"] == "Calles"
    assert response.headers["Content-Language"] == "es"
    assert "Accept-Language" in response.headers["Vary"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_accept_language_chooses_without_the_parameter(client, city, fmt):
    headers = {"Accept-Language": "fr;q=0.9, es;q=0.8, en;q=0.1"}
    response, found = services(client, fmt, headers)
    assert found["POT"]["service_name"] == "Bache"
    assert response.headers["Content-Language"] == "es"
    assert "Accept-Language" in response.headers["Vary"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_parameter_wins_over_accept_language(client, city, fmt):
    response, found = services(client, fmt, {"Accept-Language": "es"}, locale="en")
    assert found["POT"]["service_name"] == "Pothole"
    assert response.headers["Content-Language"] == "en"
    response, found = services(client, fmt, {"Accept-Language": "en"}, locale="vi")
    assert found["POT"]["service_name"] == VI
    assert response.headers["Content-Language"] == "vi"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("asked", ["es-MX", "es_MX", "ES-mx", "es-419"])
def test_a_regional_tag_falls_back_to_its_language(client, city, fmt, asked):
    response, found = services(client, fmt, locale=asked)
    assert found["POT"]["service_name"] == "Bache"
    assert response.headers["Content-Language"] == "es"
    response, found = services(client, fmt, {"Accept-Language": "es-MX,es;q=0.9"})
    assert found["POT"]["service_name"] == "Bache"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "asked", ["fr", "xx-YY", "not a tag!", "e" * 300, "*", "de-DE-u-co-phonebk", "ar-"]
)
def test_an_unknown_locale_is_the_default_never_an_error(client, city, fmt, asked):
    response, found = services(client, fmt, locale=asked)
    assert found["POT"]["service_name"] == "Pothole"
    assert response.headers["Content-Language"] == "en"
    response, found = services(client, fmt, {"Accept-Language": asked})
    assert found["POT"]["service_name"] == "Pothole"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_locale_counts_as_absent(client, city, fmt):
    response, found = services(client, fmt, {"Accept-Language": "es"}, locale="  ")
    assert found["POT"]["service_name"] == "Bache"


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_any_language_the_default_and_its_header(client, city, fmt):
    response, found = services(client, fmt)
    assert found["POT"]["service_name"] == "Pothole"
    assert response.headers["Content-Language"] == "en"
    assert "Accept-Language" in response.headers["Vary"]


def test_a_city_that_only_speaks_english_answers_english(client, db):
    city = make_jurisdiction(db)  # locales ['en']
    make_service(db, city, "POT", service_name="Pothole")
    response, found = services(client, "json", {"Accept-Language": "es"}, locale="es")
    assert found["POT"]["service_name"] == "Pothole"
    assert response.headers["Content-Language"] == "en"


def test_a_city_written_in_spanish(client, db):
    city = make_jurisdiction(db, locales=["es", "en"], default_locale="es")
    make_service(db, city, "BAC", service_name="Bache")
    say(db, city, "en", ("service_name", "Bache", "Pothole"))
    assert services(client, "json")[1]["BAC"]["service_name"] == "Bache"
    assert services(client, "json", locale="en-GB")[1]["BAC"]["service_name"] == "Pothole"


def test_translation_costs_one_query_and_the_default_none(client, city, engine):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        services(client, "json")
        in_default = list(statements)
        statements.clear()
        services(client, "json", locale="es")
        in_spanish = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(in_spanish) == len(in_default) + 1
    assert not any("translation" in s for s in in_default)
    assert sum("translation" in s for s in in_spanish) == 1


# --- service definitions ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_definition_in_spanish_keeps_codes_and_keys(client, city, fmt):
    response, found = definition(client, fmt, locale="es-MX")

    (attribute,) = found["attributes"]
    assert found["service_code"] == "POT"
    assert attribute["code"] == "SIZE"
    assert attribute["description"] == "¿Qué tamaño tiene?"
    assert attribute["datatype_description"] == "Elija uno"
    assert attribute["values"] == [
        {"key": "S", "name": "Pequeño"},
        {"key": "L", "name": "Grande"},
    ]
    assert response.headers["Content-Language"] == "es"
    assert "Accept-Language" in response.headers["Vary"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_definition_by_accept_language_and_unknown_locale(client, city, fmt):
    _response, found = definition(client, fmt, {"Accept-Language": "vi-VN"})
    assert found["attributes"][0]["values"][0] == {"key": "S", "name": "Nhỏ"}
    assert found["attributes"][0]["values"][1] == {"key": "L", "name": "Large"}
    response, found = definition(client, fmt, {"Accept-Language": "vi"}, locale="zz")
    assert found["attributes"][0]["description"] == "How big is it?"
    assert response.headers["Content-Language"] == "en"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_service_is_still_404_in_any_language(client, city, fmt):
    response = client.get(url("services/NOPE", fmt), query_string={"locale": "es"})
    assert response.status_code == 404
    assert body(response, fmt, "errors")


def test_a_filed_request_still_answers_by_key(client, db, city):
    """A client that showed the Spanish names sends the key back, unchanged."""
    _r, found = definition(client, "json", locale="es")
    chosen = next(v for v in found["attributes"][0]["values"] if v["name"] == "Grande")
    assert chosen["key"] == "L"


# --- Arabic and Vietnamese --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_arabic_right_to_left(client, city, fmt):
    response, found = services(client, fmt, locale="ar")
    assert found["POT"]["service_name"] == AR
    assert response.headers["Content-Language"] == "ar"
    response, shown = definition(client, fmt, locale="ar-EG")
    assert shown["attributes"][0]["description"] == "ما حجمها؟"
    if fmt == "xml":
        minidom.parseString(response.data)
        assert ET.fromstring(response.data).find("attributes/attribute/description").text == (
            "ما حجمها؟"
        )
    else:
        assert "ما حجمها؟".encode() in response.data  # UTF-8, not \u escapes


@pytest.mark.parametrize("fmt", FORMATS)
def test_vietnamese_stored_decomposed_is_served_composed(client, city, fmt):
    response, found = services(client, fmt, locale="vi")
    name = found["POT"]["service_name"]
    assert name == VI and unicodedata.is_normalized("NFC", name)
    assert VI.encode() in response.data and VI_DECOMPOSED.encode() not in response.data
    if fmt == "xml":
        document = ET.fromstring(response.data)
        minidom.parseString(response.data)
        names = [s.findtext("service_name") for s in document.iter("service")]
        assert VI in names


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_city_catalogue_in_vietnamese_and_arabic_renders(client, db, fmt):
    city = make_jurisdiction(db, locales=["vi", "ar"], default_locale="vi")
    make_service(
        db,
        city,
        "VI1",
        service_name=VI,
        description="Đường bị hư hỏng — xin báo cáo",
        attributes=[
            make_attribute(
                "Q", Datatype.singlevaluelist, description="Ở đâu?", values=[("a", "Ở đây")]
            )
        ],
    )
    say(db, city, "ar", ("service_name", VI, AR), ("value", "Ở đây", "هنا"))
    _r, in_vietnamese = services(client, fmt)
    assert in_vietnamese["VI1"]["service_name"] == VI
    response, in_arabic = definition_of(client, fmt, "VI1", locale="ar")
    assert in_arabic["attributes"][0]["values"] == [{"key": "a", "name": "هنا"}]
    if fmt == "xml":
        minidom.parseString(response.data)


def definition_of(client, fmt, code, **query):
    response = client.get(url(f"services/{code}", fmt), query_string=query)
    assert response.status_code == 200, response.data
    return response, body(response, fmt, "service_definition")


# --- every GeoReport GET accepts locale -------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("asked", ["es", "zz-ZZ", "not a tag!"])
def test_every_get_accepts_the_locale_parameter(client, db, city, fmt, asked):
    service = make_service(db, city, "BAT", type=ServiceType.batch)
    request = make_request(db, service, service_request_id="LOC-1", token="tok-loc-1")
    paths = [
        "discovery",
        "services",
        "services/POT",
        "requests",
        f"requests/{request.service_request_id}",
        "tokens/tok-loc-1",
        "servicerequestupdates",
    ]
    for path in paths:
        response = client.get(
            url(path, fmt), query_string={"locale": asked, "jurisdiction_id": city.jurisdiction_id}
        )
        assert response.status_code == 200, (path, response.data)


# --- discovery --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_lists_a_multilingual_citys_languages(client, city, fmt):
    response = client.get(
        url("discovery", fmt), query_string={"jurisdiction_id": city.jurisdiction_id}
    )
    assert response.status_code == 200
    if fmt == "json":
        found = response.get_json()
        assert found["locales"] == ["en", "es", "vi", "ar"]
        assert found["default_locale"] == "en"
        assert list(found)[-2:] == ["locales", "default_locale"]  # after the spec's fields
    else:
        document = ET.fromstring(response.data)
        assert [e.text for e in document.find("locales")] == ["en", "es", "vi", "ar"]
        assert {e.tag for e in document.find("locales")} == {"locale"}
        assert document.findtext("default_locale") == "en"
        assert [e.tag for e in document][-2:] == ["locales", "default_locale"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_of_a_one_language_city_is_the_specs(client, db, fmt):
    make_jurisdiction(db)
    found = body(client.get(url("discovery", fmt)), fmt, "discovery")
    assert "locales" not in found and "default_locale" not in found
