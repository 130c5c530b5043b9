"""The catalogues of the server's own texts: every `_()`/`n_()` text of open311/ (its page
templates too) is in messages.pot and translated in every language, with the same placeholders,
nothing fuzzy."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from open311 import i18n
from open311.i18n import _, n_

PACKAGE = Path(__file__).resolve().parents[2] / "open311"
LOCALES = PACKAGE / "locales"
CATALOGUES = sorted(path.parts[-3] for path in LOCALES.glob("*/LC_MESSAGES/messages.po"))
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def marked() -> frozenset[str | tuple[str, str]]:
    """Every msgid the code and the page templates mark, as babel's extractor (and pybabel)
    finds them."""
    found = extract_from_dir(
        PACKAGE,
        method_map=[("**.py", "python"), ("web/templates/**.html", "jinja2")],
        keywords={"_": None, "n_": (1, 2), "say": None},
    )
    return frozenset(message for _file, _line, message, _comments, _context in found)


def catalogue(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, abort_invalid=True)


def placeholders(text: str | tuple[str, ...]) -> set[str]:
    parts = text if isinstance(text, tuple) else (text,)
    return {name for part in parts for name in PLACEHOLDER.findall(part)}


def test_the_languages_are_there():
    assert {"es", "vi", "ar", "ko"} <= set(CATALOGUES)
    assert set(i18n.server_locales()) == {"en", *CATALOGUES}


def test_marked_texts_are_found():
    # The extraction itself works: a few texts of different layers are among them.
    assert "internal server error" in marked()
    assert "service_code %(code)s not found" in marked()
    assert "Reopened: %(reason)s" in marked()
    assert "Missing data for required field." in marked()  # api/known_texts.py
    assert any(isinstance(m, tuple) and "photos" in m[1] for m in marked())


def test_the_template_is_up_to_date():
    pot = catalogue(LOCALES / "messages.pot")
    assert {m.id for m in pot if m.id} == set(marked()), "run scripts/extract_messages.py"


@pytest.mark.parametrize("locale", CATALOGUES)
def test_every_text_is_translated(locale):
    po = catalogue(LOCALES / locale / "LC_MESSAGES" / "messages.po", locale)
    ids = {m.id for m in po if m.id}
    missing = sorted(str(m) for m in marked() - ids)
    assert not missing, f"{locale} lacks {missing}"
    for message in po:
        if not message.id:
            continue
        assert not message.fuzzy, f"{locale}: fuzzy {message.id!r}"
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"{locale}: untranslated {message.id!r}"
        if isinstance(message.id, tuple):
            assert len(strings) == po.num_plurals, f"{locale}: plural forms of {message.id!r}"


@pytest.mark.parametrize("locale", CATALOGUES)
def test_placeholders_are_those_of_the_msgid(locale):
    po = catalogue(LOCALES / locale / "LC_MESSAGES" / "messages.po", locale)
    for message in po:
        if not message.id:
            continue
        wanted = placeholders(message.id)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for said in strings:
            assert placeholders(said) == wanted, f"{locale}: {message.id!r} -> {said!r}"
            # It formats: no stray % that would make translate fall back to English.
            said % dict.fromkeys(wanted, "x")


@pytest.mark.parametrize("locale", CATALOGUES)
def test_every_catalogue_text_is_said_in_its_language(locale):
    # translate() reads the same file the tests read, and the result is not the English.
    po = catalogue(LOCALES / locale / "LC_MESSAGES" / "messages.po", locale)
    for message in po:
        if not message.id or isinstance(message.id, tuple):
            continue
        params = dict.fromkeys(placeholders(message.id), "V")
        expected = message.string % params if params else message.string
        assert i18n.translate(_(message.id, **params), locale) == expected


def test_plural_forms_follow_the_language():
    text = n_(
        "media: at most %(count)s photo may be sent at once",
        "media: at most %(count)s photos may be sent at once",
        2,
    )
    assert text == "media: at most 2 photos may be sent at once"
    assert "صورتان" in i18n.translate(text, "ar")  # Arabic's dual
    assert "fotos" in i18n.translate(text, "es")
    one = n_("media: at most %(count)s photo may be sent at once", "unused %(count)s", 1)
    assert one == "media: at most 1 photo may be sent at once"
    assert "1 foto " in i18n.translate(one, "es")


@pytest.mark.parametrize(
    ("english", "spanish"),
    [
        # marshmallow's own messages, after the field name flatten_messages puts first
        ("radius: Not a valid number.", "radius: No es un número válido."),
        (
            "page_size: Must be greater than or equal to 1 and less than or equal to 1000.",
            "page_size: Debe ser mayor o igual que 1 y menor o igual que 1000.",
        ),
        # a text made before it could be marked (the wire layer's ValueError)
        (
            "start_date: 'x' is not a W3C datetime with a zone, e.g. 2024-04-12T09:14:03Z "
            "or 2024-04-12T09:14:03-07:00",
            "start_date: 'x' no es una fecha y hora W3C con zona horaria, p. ej. "
            "2024-04-12T09:14:03Z o 2024-04-12T09:14:03-07:00",
        ),
        # a whole marked text met as a plain string
        ("service_code NOPE not found", "no se encontró service_code NOPE"),
        # nothing known: as it is
        ("something else: entirely", "something else: entirely"),
        ("free words", "free words"),
    ],
)
def test_plain_english_is_recognised_by_its_shape(english, spanish):
    assert i18n.translate(english, "es") == spanish


def test_a_reason_inside_a_sentence_is_translated_with_it():
    inner = i18n.english("'x' is not a valid date and time")
    text = _("attribute %(code)s: %(reason)s", code="WHEN", reason=inner)
    assert text == "attribute WHEN: 'x' is not a valid date and time"
    assert i18n.translate(text, "es") == "atributo WHEN: 'x' no es una fecha y hora válida"


@pytest.mark.parametrize("locale", ["en", "en-GB", "fr", "", "x" * 50, "es_MX"])
def test_english_stays_english_and_unknown_languages_fall_back(locale):
    text = _("service_code %(code)s not found", code="NOPE")
    expected = "no se encontró service_code NOPE" if locale == "es_MX" else str(text)
    assert i18n.translate(text, locale) == expected
