"""domain/translations and db/translation_queries on PostgreSQL: the phrasebook (one query, the
locale chain, context before context-free), the texts to translate with their contexts,
coverage, put/delete (NFC, actor, updated_at, all or none), the city's locales, and the PO and
XLIFF files read and written (translation_files)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from open311.db.models import ArticleTopic, Translation
from open311.domain import translation_files, translations
from open311.domain.translations import Entry
from open311.errors import InvalidInput
from open311.values import Datatype
from tests.factories import make_attribute, make_jurisdiction, make_service, make_workflow

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
# Vietnamese "Ổ gà" (pothole) with its marks as separate code points, and precomposed.
DECOMPOSED = unicodedata.normalize("NFD", "Ổ gà trên đường")
COMPOSED = unicodedata.normalize("NFC", DECOMPOSED)


@pytest.fixture
def city(db):
    city = make_jurisdiction(
        db, jurisdiction_id="austintexas.gov", name="Austin", locales=["en", "es", "vi", "es-MX"]
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
    make_service(db, city, "OLD", service_name="Retired service", active=False)
    return city


def put(db, city, locale, *entries, actor="staff:ana", now=NOW):
    return translations.put(db, city, locale, [Entry(*e) for e in entries], actor=actor, now=now)


def rows(db, city):
    return db.scalars(
        select(Translation).where(Translation.jurisdiction_id == city.id).order_by(Translation.id)
    ).all()


# --- the phrasebook ----------------------------------------------------------------------------


def test_phrasebook_translates_by_context_then_without(db, city):
    put(db, city, "es", ("service_name", "Pothole", "Bache"), ("", "Small", "Pequeño"))
    put(db, city, "es", ("value", "Small", "Chico"))
    book = translations.phrasebook(db, city, "es")

    assert book.get("Pothole", "service_name") == "Bache"
    assert book.get("Pothole", "description") == "Pothole"  # another context: untranslated
    assert book.get("Small", "value") == "Chico"  # the context's own wins
    assert book.get("Small", "attribute") == "Pequeño"  # context-free serves everywhere
    assert book.get("Nothing like it") == "Nothing like it"
    assert book.get(None) is None and book.get("") == ""


def test_chain_goes_from_the_region_to_the_language(db, city):
    put(db, city, "es", ("service_name", "Pothole", "Bache"), ("group", "Streets", "Calles"))
    put(db, city, "es-MX", ("service_name", "Pothole", "Hoyo"))
    book = translations.phrasebook(db, city, "es-MX")

    assert book.chain == ("es-MX", "es")
    assert book.get("Pothole", "service_name") == "Hoyo"
    assert book.get("Streets", "group") == "Calles"


def test_phrasebook_is_one_query_and_none_in_the_default_locale(db, city, engine):
    put(db, city, "es", ("service_name", "Pothole", "Bache"))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        spanish = translations.phrasebook(db, city, "es-MX")
        assert len(statements) == 1
        english = translations.phrasebook(db, city, "en")
        assert len(statements) == 1  # the default: nothing asked of the database
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert spanish and not english
    assert english.get("Pothole", "service_name") == "Pothole"


def test_locale_chain():
    assert translations.locale_chain("es-MX", "en") == ("es-MX", "es")
    assert translations.locale_chain("es", "en") == ("es",)
    assert translations.locale_chain("en", "en") == ()
    assert translations.locale_chain("en-GB", "en") == ("en-GB",)
    assert translations.locale_chain("es-MX", "es") == ("es-MX",)


def test_phrasebook_of_one_city_ignores_another(db, city):
    other = make_jurisdiction(db, jurisdiction_id="lacity.org", locales=["en", "es"])
    put(db, other, "es", ("service_name", "Pothole", "Bache de LA"))
    assert translations.phrasebook(db, city, "es").get("Pothole", "service_name") == "Pothole"


def test_items_keep_codes_and_keys(db, city):
    put(
        db,
        city,
        "vi",
        ("service_name", "Pothole", "Ổ gà"),
        ("attribute", "How big is it?", "Nó lớn cỡ nào?"),
        ("datatype_description", "Pick one", "Chọn một"),
        ("value", "Large", "Lớn"),
    )
    book = translations.phrasebook(db, city, "vi")
    item = {"service_code": "POT", "service_name": "Pothole", "description": None}
    item |= {"keywords": None, "group": "Streets", "metadata": True, "type": "realtime"}
    said = translations.service_item(item, book)
    assert said == item | {"service_name": "Ổ gà"}
    assert list(said) == list(item)  # the spec's order kept

    attribute = {
        "code": "SIZE",
        "datatype_description": "Pick one",
        "description": "How big is it?",
    }
    attribute["values"] = [{"key": "S", "name": "Small"}, {"key": "L", "name": "Large"}]
    definition = translations.service_definition(
        {"service_code": "POT", "attributes": [attribute]}, book
    )
    (shown,) = definition["attributes"]
    assert shown["code"] == "SIZE"
    assert (shown["description"], shown["datatype_description"]) == ("Nó lớn cỡ nào?", "Chọn một")
    assert shown["values"] == [{"key": "S", "name": "Small"}, {"key": "L", "name": "Lớn"}]


# --- the texts to translate and coverage -------------------------------------------------------


def test_every_public_text_with_its_context(db, city):
    make_workflow(db, city, {"code": "GO", "public_note": "A crew is on its way"})
    db.add(ArticleTopic(jurisdiction_id=city.id, code="trash", name="Trash and recycling"))
    db.flush()

    found = {(e.context, e.source) for e in translations.texts(db, city)}

    assert found >= {
        ("service_name", "Pothole"),
        ("description", "A hole in the street"),
        ("keywords", "road, hole"),
        ("group", "Streets"),
        ("attribute", "How big is it?"),
        ("datatype_description", "Pick one"),
        ("value", "Small"),
        ("value", "Large"),
        ("public_note", "A crew is on its way"),
        ("topic", "Trash and recycling"),
    }
    assert ("service_name", "Retired service") not in found  # inactive: not public
    assert {context for context, _ in found} <= set(translations.CONTEXTS)


def test_texts_are_nfc_and_listed_once(db, city):
    make_service(db, city, "VI1", service_name=DECOMPOSED, group="Streets")
    found = [e for e in translations.texts(db, city) if e.context in ("service_name", "group")]
    assert ("service_name", COMPOSED) in {(e.context, e.source) for e in found}
    assert [e.source for e in found if e.context == "group"] == ["Streets"]


def test_coverage_per_locale(db, city):
    total = len(translations.texts(db, city))
    put(db, city, "es", ("service_name", "Pothole", "Bache"), ("", "Small", "Pequeño"))
    put(db, city, "es", ("service_name", "Renamed long ago", "Viejo"))  # not a text now

    by_locale = {c.locale: c for c in translations.coverages(db, city)}

    assert set(by_locale) == {"es", "vi", "es-MX"}  # not the default
    assert (by_locale["es"].translated, by_locale["es"].total) == (2, total)
    assert by_locale["vi"].translated == 0 and by_locale["vi"].ratio == 0
    catalogue = translations.catalogue(db, city, "es")
    assert translations.coverage(catalogue, "es").translated == 2
    assert {e.text for e in catalogue if e.source == "Small"} == {"Pequeño"}


# --- put and delete ---------------------------------------------------------------------------


def test_put_stores_nfc_with_actor_and_time_and_moves_the_changeset(db, city):
    put(db, city, "vi", ("service_name", "Pothole", DECOMPOSED))

    (row,) = rows(db, city)
    assert row.text == COMPOSED and len(row.text) < len(DECOMPOSED)
    assert (row.locale, row.context, row.source) == ("vi", "service_name", "Pothole")
    assert (row.updated_by, row.updated_at) == ("staff:ana", NOW)
    assert city.catalogue_changed_at == NOW


def test_put_again_replaces(db, city):
    put(db, city, "es", ("service_name", "Pothole", "Hoyo"))
    put(db, city, "es", ("service_name", "Pothole", "Bache"), actor="staff:luis", now=LATER)
    db.expire_all()
    (row,) = rows(db, city)
    assert (row.text, row.updated_by, row.updated_at) == ("Bache", "staff:luis", LATER)


def test_a_decomposed_source_finds_the_composed_translation(db, city):
    put(db, city, "es", ("service_name", DECOMPOSED, "Bache vietnamita"))
    (row,) = rows(db, city)
    assert row.source == COMPOSED
    book = translations.phrasebook(db, city, "es")
    assert book.get(DECOMPOSED, "service_name") == "Bache vietnamita"
    assert book.get(COMPOSED, "service_name") == "Bache vietnamita"


def test_a_long_source_is_found_by_its_hash(db, city):
    source = "A very long description. " * 300
    put(db, city, "es", ("description", source, "Una descripción muy larga."))
    assert translations.phrasebook(db, city, "es").get(source, "description").startswith("Una")
    assert translations.delete(db, city, "es", "description", source, now=LATER)
    assert rows(db, city) == []


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        (("nowhere", "Pothole", "Bache"), "is not one of"),
        (("service_name", "   ", "Bache"), "source is blank"),
        (("service_name", "Pothole", " "), "text is blank"),
        (("service_name", "Pothole", "Ba\x00che"), "control character"),
        (("service_name", "Pothole", "x" * 10_001), "longer than"),
    ],
)
def test_a_bad_entry_refuses_the_whole_batch(db, city, entry, complaint):
    with pytest.raises(InvalidInput) as refused:
        put(db, city, "es", ("group", "Streets", "Calles"), entry)
    assert any(complaint in problem for problem in refused.value.problems)
    assert rows(db, city) == []


def test_the_same_text_twice_in_one_batch_is_refused(db, city):
    with pytest.raises(InvalidInput, match="twice"):
        put(db, city, "es", ("group", "Streets", "Calles"), ("group", "Streets", "Vías"))


@pytest.mark.parametrize(
    ("locale", "complaint"),
    [("en", "default language"), ("fr", "not a language of"), ("not a tag!", "BCP 47")],
)
def test_only_the_citys_other_languages(db, city, locale, complaint):
    with pytest.raises(InvalidInput, match=complaint):
        put(db, city, locale, ("group", "Streets", "Rues"))


def test_locale_as_the_city_spells_it(db, city):
    put(db, city, "es_mx", ("group", "Streets", "Calles"))
    assert [row.locale for row in rows(db, city)] == ["es-MX"]


def test_delete(db, city):
    put(db, city, "es", ("group", "Streets", "Calles"), ("", "Streets", "Calles (todas)"))
    assert translations.delete(db, city, "es", "group", "Streets", now=LATER)
    assert not translations.delete(db, city, "es", "group", "Streets", now=LATER)
    assert [row.context for row in rows(db, city)] == [""]
    assert city.catalogue_changed_at == LATER


# --- the city's locales -----------------------------------------------------------------------


def test_city_locales_are_canonical_and_hold_the_default():
    assert translations.city_locales(["EN", "es_mx", "es-MX", "ar"], "en") == (
        ["en", "es-MX", "ar"],
        "en",
    )
    with pytest.raises(InvalidInput, match="default_locale"):
        translations.city_locales(["en", "es"], "vi")
    with pytest.raises(InvalidInput, match="BCP 47"):
        translations.city_locales(["en", "klingon!"], "en")
    with pytest.raises(InvalidInput, match="at least one"):
        translations.city_locales([], "en")


def test_set_locales_keeps_what_is_not_given(db, city):
    translations.set_locales(db, city, default="es")
    assert (city.locales, city.default_locale) == (["en", "es", "vi", "es-MX"], "es")
    translations.set_locales(db, city, locales=["es", "ar"])
    assert (city.locales, city.default_locale) == (["es", "ar"], "es")
    with pytest.raises(InvalidInput, match="not among"):
        translations.set_locales(db, city, locales=["en", "vi"])


# --- PO and XLIFF -----------------------------------------------------------------------------


def test_po_round_trip(db, city):
    put(db, city, "es", ("service_name", "Pothole", "Bache"), ("value", "Small", "Pequeño"))
    data = translation_files.export_file(db, city, "es", "po", now=NOW)
    text = data.decode("utf-8")
    assert 'msgctxt "service_name"\nmsgid "Pothole"\nmsgstr "Bache"' in text
    assert 'msgctxt "value"\nmsgid "Large"\nmsgstr ""' in text
    assert '"Language: es\\n"' in text

    filled = text.replace('msgid "Large"\nmsgstr ""', 'msgid "Large"\nmsgstr "Grande"')
    db.execute(Translation.__table__.delete())
    imported = translation_files.import_file(
        db, city, "es", filled.encode(), translation_files.PO_TYPE, actor="cli", now=LATER
    )

    assert len(imported.stored) == 3 and imported.unused == []
    book = translations.phrasebook(db, city, "es")
    assert book.get("Large", "value") == "Grande" and book.get("Pothole", "service_name") == "Bache"


def test_xliff_round_trip(db, city):
    put(db, city, "vi", ("service_name", "Pothole", "Ổ gà"))
    data = translation_files.export_file(db, city, "vi", "xlf", now=NOW)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert b'target-language="vi"' in data and "Ổ gà".encode() in data
    db.execute(Translation.__table__.delete())

    imported = translation_files.import_file(
        db, city, "vi", data, translation_files.XLIFF_TYPE, actor="cli", now=LATER
    )

    assert [(e.context, e.source, e.text) for e in imported.stored] == [
        ("service_name", "Pothole", "Ổ gà")
    ]
    assert imported.untranslated == len(translations.texts(db, city)) - 1


def test_fuzzy_and_unknown_sources(db, city):
    po = (
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n\n'
        '#, fuzzy\nmsgctxt "service_name"\nmsgid "Pothole"\nmsgstr "Bache?"\n\n'
        'msgctxt "service_name"\nmsgid "Sidewalk repair"\nmsgstr "Reparación de acera"\n\n'
        'msgid "Streets"\nmsgstr "Calles"\n'
    )
    imported = translation_files.import_file(
        db, city, "es", po.encode(), translation_files.PO_TYPE, actor="cli", now=NOW
    )
    assert imported.fuzzy == 1
    assert [e.source for e in imported.unused] == ["Sidewalk repair"]  # kept all the same
    assert {row.source for row in rows(db, city)} == {"Sidewalk repair", "Streets"}


@pytest.mark.parametrize(
    ("kind", "data", "complaint"),
    [
        ("po", b"this is not a PO file\n", "PO file"),
        ("po", b'msgid "a"\nmsgstr "\xff"\n', "UTF-8"),
        ("po", b'msgid ""\nmsgstr ""\n"Language: vi\\n"\n\nmsgid "a"\nmsgstr "b"\n', "in vi"),
        ("po", b'msgid "a"\nmsgid_plural "as"\nmsgstr[0] "b"\nmsgstr[1] "bs"\n', "plural"),
        ("xlf", b"<xliff version='1.2'><file><body>", "well-formed"),
        ("xlf", b"<html/>", "not <xliff>"),
        ("xlf", b"<xliff version='2.0'/>", "XLIFF 1.2"),
        (
            "xlf",
            b"<xliff version='1.2'><file target-language='fr'><body/></file></xliff>",
            "in fr",
        ),
        (
            "xlf",
            b"<xliff version='1.2'><file><body><trans-unit id='1'><target>x</target>"
            b"</trans-unit></body></file></xliff>",
            "no <source>",
        ),
    ],
)
def test_files_that_cannot_be_read_store_nothing(db, city, kind, data, complaint):
    content_type = translation_files.FILE_TYPES[kind]
    with pytest.raises(InvalidInput, match=complaint):
        translation_files.import_file(db, city, "es", data, content_type, actor="cli", now=NOW)
    assert db.scalar(select(func.count()).select_from(Translation)) == 0


@pytest.mark.parametrize(
    "data",
    [
        b'\xef\xbb\xbfmsgctxt "group"\nmsgid "Streets"\nmsgstr "Calles"\n',  # a byte order mark
        b'msgctxt "group"\r\nmsgid "Streets"\r\nmsgstr "Calles"\r\n',  # Windows line ends
    ],
    ids=["bom", "crlf"],
)
def test_po_files_as_windows_editors_save_them(db, city, data):
    imported = translation_files.import_file(
        db, city, "es", data, translation_files.PO_TYPE, actor="cli", now=NOW
    )
    assert [(e.context, e.source, e.text) for e in imported.stored] == [
        ("group", "Streets", "Calles")
    ]


def test_xliff_in_utf_16_and_a_regional_target(db, city):
    document = (
        '<?xml version="1.0" encoding="utf-16"?><xliff version="1.2"><file '
        'target-language="es-MX"><body><trans-unit id="1" resname="group"><source>Streets'
        "</source><target>Calles</target></trans-unit></body></file></xliff>"
    )
    imported = translation_files.import_file(
        db, city, "es", document.encode("utf-16"), translation_files.XLIFF_TYPE, actor="x", now=NOW
    )
    assert [e.text for e in imported.stored] == ["Calles"]


def test_phrasebook_of_some_sources_reads_only_theirs(db, city):
    put(db, city, "es", ("service_name", "Pothole", "Bache"), ("group", "Streets", "Calles"))
    put(db, city, "es", ("service_name", COMPOSED, "Bache vietnamita"))

    book = translations.phrasebook(db, city, "es", ["Pothole", DECOMPOSED, None])

    assert book.get("Pothole", "service_name") == "Bache"
    assert book.get(DECOMPOSED, "service_name") == "Bache vietnamita"
    assert book.get("Streets", "group") == "Streets"  # not asked for, not read
    assert not translations.phrasebook(db, city, "es", [])
