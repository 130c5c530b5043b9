"""The staff translations API: every endpoint and role, the PO and XLIFF round trips, files that
cannot be read (nothing stored), hostile XLIFF (external entities, entity bombs) refused, and
the jurisdictions API setting a city's locales."""

from __future__ import annotations

import time
from io import BytesIO
from typing import Any

import pytest
from babel.messages.pofile import read_po
from defusedxml.ElementTree import fromstring
from sqlalchemy import func, select

from open311.db.models import Translation
from open311.values import Datatype, StaffRole
from tests.api.helpers import bearer, errors, make_staff, url
from tests.factories import (
    make_agency,
    make_attribute,
    make_crew,
    make_jurisdiction,
    make_service,
)

API = "/api/v1/translations"
PO = "text/x-gettext-translation"
XLIFF = "application/x-xliff+xml"
XLIFF_NS = "{urn:oasis:names:tc:xliff:document:1.2}"
TRANSLATORS = (StaffRole.administrator, StaffRole.editor)
OTHERS = tuple(role for role in StaffRole if role not in TRANSLATORS)


@pytest.fixture
def city(db):
    city = make_jurisdiction(
        db,
        jurisdiction_id="austintexas.gov",
        name="Austin",
        locales=["en", "es", "vi", "ar"],
        is_default=True,
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
    return city


@pytest.fixture
def editor(db, city) -> dict[str, str]:
    return bearer(make_staff(db, StaffRole.editor, "ed", jurisdictions=[city])[1])


def staff(db, city, role: StaffRole) -> dict[str, str]:
    crews = []
    if role is StaffRole.crew_member:
        crews = [make_crew(db, make_agency(db, city, "PW"), "PW-1")]
    username = f"user-{role.value.replace('_', '-')}"
    return bearer(make_staff(db, role, username, crews=crews, jurisdictions=[city])[1])


def stored(db) -> list[tuple[str, str, str, str]]:
    return db.execute(
        select(
            Translation.locale, Translation.context, Translation.source, Translation.text
        ).order_by(Translation.locale, Translation.context, Translation.source)
    ).all()


def put(client, headers, locale: str, *entries: tuple[str, str, str], **query: str):
    translations = [{"context": c, "source": s, "text": t} for c, s, t in entries]
    return client.put(
        f"{API}/{locale}", json={"translations": translations}, headers=headers, query_string=query
    )


def spanish_services(client) -> dict[str, Any]:
    response = client.get(url("services", "json"), query_string={"locale": "es"})
    return {s["service_code"]: s for s in response.get_json()}


# --- roles ------------------------------------------------------------------------------------


CALLS = [
    ("GET", API, {"query_string": {"locale": "es"}}),
    ("GET", API, {}),
    ("PUT", f"{API}/es", {"json": {"translations": [{"source": "Pothole", "text": "Bache"}]}}),
    ("DELETE", f"{API}/es", {"query_string": {"source": "Pothole"}}),
    ("GET", f"{API}/es.po", {}),
    ("GET", f"{API}/es.xlf", {}),
    ("POST", f"{API}/es", {"data": b'msgid "Pothole"\nmsgstr "Bache"\n', "content_type": PO}),
]
CALL_IDS = [f"{method} {path.removeprefix(API)}" for method, path, _ in CALLS]


@pytest.mark.parametrize("role", OTHERS)
@pytest.mark.parametrize(("method", "path", "kwargs"), CALLS, ids=CALL_IDS)
def test_other_roles_are_refused(client, db, city, role, method, path, kwargs):
    response = client.open(path, method=method, headers=staff(db, city, role), **kwargs)
    assert errors(response, "json", 403)
    assert stored(db) == []


@pytest.mark.parametrize(("method", "path", "kwargs"), CALLS, ids=CALL_IDS)
def test_no_token_is_401(client, city, method, path, kwargs):
    response = client.open(path, method=method, **kwargs)
    assert errors(response, "json", 401)


@pytest.mark.parametrize("role", TRANSLATORS)
@pytest.mark.parametrize(("method", "path", "kwargs"), CALLS, ids=CALL_IDS)
def test_administrators_and_editors_may(client, db, city, role, method, path, kwargs):
    headers = staff(db, city, role)
    if method == "DELETE":
        put(client, headers, "es", ("", "Pothole", "Bache"))
    response = client.open(path, method=method, headers=headers, **kwargs)
    assert response.status_code in (200, 204), response.data


def test_another_citys_translations_are_403(client, db, city, editor):
    other = make_jurisdiction(db, jurisdiction_id="lacity.org", locales=["en", "es"])
    response = client.get(API, query_string={"locale": "es", "jurisdiction_id": "lacity.org"})
    assert errors(response, "json", 401)
    response = put(client, editor, "es", ("", "Pothole", "Bache"), jurisdiction_id="lacity.org")
    assert errors(response, "json", 403)
    assert other.id and stored(db) == []


# --- listing ----------------------------------------------------------------------------------


def test_list_every_text_with_its_translation_and_coverage(client, city, editor):
    put(client, editor, "es", ("service_name", "Pothole", "Bache"), ("value", "Small", "Pequeño"))

    response = client.get(API, query_string={"locale": "es"}, headers=editor)

    assert response.status_code == 200
    found = response.get_json()
    assert (found["jurisdiction_id"], found["locale"], found["default_locale"]) == (
        "austintexas.gov",
        "es",
        "en",
    )
    entries = {(t["context"], t["source"]): t["text"] for t in found["translations"]}
    assert entries[("service_name", "Pothole")] == "Bache"
    assert entries[("value", "Large")] is None
    assert entries[("attribute", "How big is it?")] is None
    (coverage,) = found["coverage"]
    assert coverage == {
        "locale": "es",
        "translated": 2,
        "total": len(entries),
        "ratio": round(2 / len(entries), 4),
    }

    missing = client.get(API, query_string={"locale": "es", "missing": "true"}, headers=editor)
    shown = missing.get_json()["translations"]
    assert len(shown) == len(entries) - 2 and all(t["text"] is None for t in shown)


def test_list_without_locale_gives_each_languages_coverage(client, city, editor):
    put(client, editor, "vi", ("service_name", "Pothole", "Ổ gà"))
    found = client.get(API, headers=editor).get_json()
    assert found["locale"] is None and found["translations"] == []
    assert [c["locale"] for c in found["coverage"]] == ["es", "vi", "ar"]
    assert [c["translated"] for c in found["coverage"]] == [0, 1, 0]


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ({"locale": "en"}, "default language"),
        ({"locale": "fr"}, "not a language of"),
        ({"locale": "!!"}, "BCP 47"),
        ({"locale": "es", "missing": "perhaps"}, "missing"),
        ({"locale": "es", "stauts": "x"}, "stauts"),
    ],
)
def test_list_refuses_bad_arguments(client, city, editor, query, complaint):
    (problem,) = errors(client.get(API, query_string=query, headers=editor), "json", 400)
    assert complaint in problem


# --- PUT and DELETE ---------------------------------------------------------------------------


def test_put_a_batch_then_the_public_sees_it(client, db, city, editor):
    response = put(
        client,
        editor,
        "es",
        ("service_name", "Pothole", "Bache"),
        ("", "Streets", "Calles"),
    )

    assert response.status_code == 200, response.data
    answer = response.get_json()
    assert (answer["locale"], answer["stored"]) == ("es", 2)
    assert answer["coverage"]["translated"] == 2
    assert stored(db) == [
        ("es", "", "Streets", "Calles"),
        ("es", "service_name", "Pothole", "Bache"),
    ]
    pothole = spanish_services(client)["POT"]
    assert (pothole["service_name"], pothole["group"]) == ("Bache", "Calles")
    row = db.scalars(select(Translation).where(Translation.context == "")).one()
    assert row.updated_by == "staff:ed"


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ({"translations": [{"context": "nowhere", "source": "a", "text": "b"}]}, "context"),
        ({"translations": [{"source": "Pothole", "text": ""}]}, "text"),
        ({"translations": [{"text": "Bache"}]}, "source"),
        ({"translations": [{"source": "Pothole", "text": "Bache", "extra": 1}]}, "extra"),
        ({"translations": []}, "translations"),
        ({"translations": [{"source": "Pothole", "text": "Ba\u0007che"}]}, "control"),
        ({}, "translations"),
    ],
)
def test_put_refuses_a_bad_batch_whole(client, db, city, editor, payload, complaint):
    payload = (
        {"translations": [{"source": "Streets", "text": "Calles"}, *payload["translations"]]}
        if (payload.get("translations"))
        else payload
    )
    response = client.put(f"{API}/es", json=payload, headers=editor)
    assert any(complaint in p for p in errors(response, "json", 400))
    assert stored(db) == []


def test_put_twice_the_same_text_in_a_batch(client, db, city, editor):
    response = put(
        client, editor, "es", ("group", "Streets", "Calles"), ("group", "Streets", "Vías")
    )
    assert "twice" in errors(response, "json", 400)[0]


@pytest.mark.parametrize("locale", ["en", "fr", "zz!"])
def test_put_only_into_the_citys_other_languages(client, db, city, editor, locale):
    assert errors(put(client, editor, locale, ("", "Streets", "Rues")), "json", 400)
    assert stored(db) == []


def test_delete_one(client, db, city, editor):
    put(client, editor, "es", ("group", "Streets", "Calles"), ("", "Streets", "Calles"))
    query = {"source": "Streets", "context": "group"}

    response = client.delete(f"{API}/es", query_string=query, headers=editor)

    assert response.status_code == 204 and response.data == b""
    assert stored(db) == [("es", "", "Streets", "Calles")]
    again = client.delete(f"{API}/es", query_string=query, headers=editor)
    assert "no es translation" in errors(again, "json", 404)[0]
    assert errors(client.delete(f"{API}/es", headers=editor), "json", 400)
    bad = client.delete(f"{API}/es", query_string={"source": "x", "context": "?"}, headers=editor)
    assert errors(bad, "json", 400)


# --- PO ---------------------------------------------------------------------------------------


def test_po_download(client, city, editor):
    put(client, editor, "es", ("service_name", "Pothole", "Bache"))

    response = client.get(f"{API}/es.po", headers=editor)

    assert response.status_code == 200
    assert response.content_type == "text/x-gettext-translation; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="austintexas.gov-es.po"'
    )
    catalog = read_po(BytesIO(response.data))
    assert str(catalog.locale) == "es"
    messages = {(m.context, m.id): m.string for m in catalog if m.id}
    assert messages[("service_name", "Pothole")] == "Bache"
    assert messages[("value", "Small")] == ""


def test_po_round_trip(client, db, city, editor):
    exported = client.get(f"{API}/es.po", headers=editor).data.decode()
    filled = exported.replace('msgid "Pothole"\nmsgstr ""', 'msgid "Pothole"\nmsgstr "Bache"')
    filled = filled.replace('msgid "Small"\nmsgstr ""', '#, fuzzy\nmsgid "Small"\nmsgstr "Chico"')
    filled = filled.replace('msgid "Large"\nmsgstr ""', 'msgid "Large"\nmsgstr "Grande"')
    filled += '\nmsgctxt "service_name"\nmsgid "Sidewalk"\nmsgstr "Acera"\n'

    response = client.post(f"{API}/es", data=filled.encode(), content_type=PO, headers=editor)

    assert response.status_code == 200, response.data
    answer = response.get_json()
    assert (answer["stored"], answer["fuzzy"]) == (3, 1)
    assert answer["untranslated"] == answer["coverage"]["total"] - 3
    assert answer["unused"] == [{"context": "service_name", "source": "Sidewalk", "text": "Acera"}]
    assert answer["coverage"]["translated"] == 2
    assert spanish_services(client)["POT"]["service_name"] == "Bache"
    again = client.get(f"{API}/es.po", headers=editor).data.decode()
    assert 'msgctxt "value"\nmsgid "Large"\nmsgstr "Grande"' in again


MALFORMED_PO = [
    b"this is not a PO file at all\n",
    b'msgid "Pothole"\nmsgstr "Bache"\nmsgid "Streets"\n',
    b'msgid "Pothole"\nmsgstr "\xff\xfe"\n',
    b'msgid ""\nmsgstr ""\n"Language: vi\\n"\n\nmsgid "Pothole"\nmsgstr "Bache"\n',
    b'msgctxt "nowhere"\nmsgid "Pothole"\nmsgstr "Bache"\n',
    b'msgid "Pothole"\nmsgstr "Ba\x01che"\n',
    b'msgid "Pothole"\nmsgid_plural "Potholes"\nmsgstr[0] "Bache"\nmsgstr[1] "Baches"\n',
]


@pytest.mark.parametrize("data", MALFORMED_PO)
def test_a_malformed_po_stores_nothing(client, db, city, editor, data):
    good = b'msgid "Streets"\nmsgstr "Calles"\n\n'
    response = client.post(f"{API}/es", data=good + data, content_type=PO, headers=editor)
    assert errors(response, "json", 400)
    assert stored(db) == []


# --- XLIFF ------------------------------------------------------------------------------------


def test_xliff_download_and_round_trip(client, db, city, editor):
    put(client, editor, "ar", ("service_name", "Pothole", "حفرة"))

    response = client.get(f"{API}/ar.xlf", headers=editor)

    assert response.status_code == 200
    assert response.content_type == "application/x-xliff+xml; charset=utf-8"
    assert 'filename="austintexas.gov-ar.xlf"' in response.headers["Content-Disposition"]
    document = fromstring(response.data)
    assert document.tag == f"{XLIFF_NS}xliff" and document.get("version") == "1.2"
    (file,) = document.iter(f"{XLIFF_NS}file")
    assert (file.get("source-language"), file.get("target-language")) == ("en", "ar")
    units = {
        (u.get("resname"), u.findtext(f"{XLIFF_NS}source")): u.find(f"{XLIFF_NS}target")
        for u in file.iter(f"{XLIFF_NS}trans-unit")
    }
    assert units[("service_name", "Pothole")].text == "حفرة"
    assert units[("value", "Large")].get("state") == "needs-translation"

    units[("value", "Large")].text = "كبير"
    units[("value", "Large")].set("state", "translated")
    units[("value", "Small")].text = "صغير"  # state stays needs-translation: skipped
    from xml.etree import ElementTree

    upload = ElementTree.tostring(document, encoding="utf-8", xml_declaration=True)
    db.execute(Translation.__table__.delete())

    imported = client.post(f"{API}/ar", data=upload, content_type=XLIFF, headers=editor)

    assert imported.status_code == 200, imported.data
    answer = imported.get_json()
    assert (answer["stored"], answer["fuzzy"], answer["unused"]) == (2, 1, [])
    assert sorted(text for *_rest, text in stored(db)) == sorted(["حفرة", "كبير"])


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xliff [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<xliff version="1.2" xmlns="urn:oasis:names:tc:xliff:document:1.2"><file target-language="es">
<body><trans-unit id="1"><source>Pothole</source><target>&secret;</target></trans-unit></body>
</file></xliff>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<xliff version="1.2"><file target-language="es"><body><trans-unit id="1">
<source>Pothole</source><target>&lol9;</target></trans-unit></body></file></xliff>"""
DOCTYPE_ONLY = b"""<?xml version="1.0"?><!DOCTYPE xliff SYSTEM "http://example.org/x.dtd">
<xliff version="1.2"><file target-language="es"><body/></file></xliff>"""


@pytest.mark.parametrize("data", [XXE, LAUGHS, DOCTYPE_ONLY], ids=["xxe", "laughs", "dtd"])
def test_hostile_xliff_is_refused_unexpanded(client, db, city, editor, data):
    started = time.monotonic()
    response = client.post(f"{API}/es", data=data, content_type=XLIFF, headers=editor)
    assert time.monotonic() - started < 2
    (problem,) = errors(response, "json", 400)
    assert "DTD" in problem
    assert b"root:" not in response.data and b"lollol" not in response.data
    assert stored(db) == []


MALFORMED_XLIFF = [
    b"<xliff version='1.2'><file><body><trans-unit>",
    b"not xml at all",
    b"<html><body>hello</body></html>",
    b"<xliff version='2.0' xmlns='urn:oasis:names:tc:xliff:document:2.0'/>",
    b"<xliff version='1.2'><file target-language='vi'><body/></file></xliff>",
    b"<xliff version='1.2'><file><body><trans-unit id='1'><target>x</target></trans-unit>"
    b"</body></file></xliff>",
    b"<xliff version='1.2'><file><body><trans-unit id='1' resname='nowhere'><source>Pothole"
    b"</source><target>Bache</target></trans-unit></body></file></xliff>",
]


@pytest.mark.parametrize("data", MALFORMED_XLIFF)
def test_a_malformed_xliff_stores_nothing(client, db, city, editor, data):
    response = client.post(f"{API}/es", data=data, content_type=XLIFF, headers=editor)
    assert errors(response, "json", 400)
    assert stored(db) == []


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_an_upload_of_another_type_is_415(client, db, city, editor, content_type):
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post(f"{API}/es", data=b'msgid "a"\nmsgstr "b"\n', headers=editor, **kwargs)
    (problem,) = errors(response, "json", 415)
    assert "text/x-gettext-translation" in problem
    assert stored(db) == []


def test_an_unknown_download_format_is_no_download(client, city, editor):
    """es.docx is no file of es: the path names a locale 'es.docx', which only PUT, POST and
    DELETE take."""
    response = client.get(f"{API}/es.docx", headers=editor)
    assert errors(response, "json", 405)
    assert set(response.headers["Allow"].split(", ")) >= {"PUT", "POST", "DELETE"}


# --- the jurisdictions API sets a city's languages --------------------------------------------


def test_administrators_set_locales_and_default(client, db, city):
    admin = staff(db, city, StaffRole.administrator)
    path = "/api/v1/jurisdictions/austintexas.gov"

    response = client.patch(path, json={"locales": ["en", "es_mx", "ES-mx", "ar"]}, headers=admin)

    assert response.status_code == 200, response.data
    assert (response.get_json()["locales"], response.get_json()["default_locale"]) == (
        ["en", "es-MX", "ar"],
        "en",
    )
    changed = client.patch(path, json={"default_locale": "ar"}, headers=admin).get_json()
    assert changed["default_locale"] == "ar"
    for body, complaint in (
        ({"default_locale": "vi"}, "not among"),
        ({"locales": ["es", "vi"]}, "not among"),
        ({"locales": ["en", "@@"]}, "BCP 47"),
        ({"locales": []}, "locales"),
    ):
        assert complaint in errors(client.patch(path, json=body, headers=admin), "json", 400)[0]
    db.refresh(city)
    assert (city.locales, city.default_locale) == (["en", "es-MX", "ar"], "ar")


def test_a_new_city_with_its_languages(client, db, city):
    admin = staff(db, city, StaffRole.administrator)
    new = {"jurisdiction_id": "lacity.org", "name": "Los Angeles", "time_zone": "UTC"}

    created = client.post(
        "/api/v1/jurisdictions", json=new | {"locales": ["es", "en"]}, headers=admin
    )

    assert created.status_code == 201, created.data
    assert (created.get_json()["locales"], created.get_json()["default_locale"]) == (
        ["es", "en"],
        "es",
    )
    plain = client.post(
        "/api/v1/jurisdictions", json=new | {"jurisdiction_id": "nyc.gov"}, headers=admin
    )
    assert (plain.get_json()["locales"], plain.get_json()["default_locale"]) == (["en"], "en")
    refused = client.post(
        "/api/v1/jurisdictions",
        json=new | {"jurisdiction_id": "x.gov", "locales": ["en"], "default_locale": "es"},
        headers=admin,
    )
    assert "not among" in errors(refused, "json", 400)[0]


def test_editors_do_not_set_locales(client, db, city, editor):
    response = client.patch(
        "/api/v1/jurisdictions/austintexas.gov", json={"locales": ["en"]}, headers=editor
    )
    assert errors(response, "json", 403)


def test_nothing_was_stored_by_refusals(db, city):
    assert db.scalar(select(func.count()).select_from(Translation)) == 0
