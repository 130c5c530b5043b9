"""A city's public texts in other languages: the phrasebook an answer is translated with, the
texts there are to translate and how many are, and the translations staff put and delete.

The city writes its catalogue in its default locale (Jurisdiction.default_locale); each other
locale it lists gets Translation rows, gettext style: the `source` as the city wrote it, a
`context` naming where it is used (CONTEXTS), the `text` in that locale. A translation stored
with the empty context serves a source wherever it appears; one with a context only there, and
wins over the context-free one. A renamed source loses its translation, as in a PO file.

Every text is stored and looked up NFC-normalised (i18n.normalise): a Vietnamese word typed
with combining marks and the same word precomposed are one source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from open311.db import translation_queries
from open311.db.models import Jurisdiction
from open311.errors import InvalidInput
from open311.i18n import canonical, normalise
from open311.wire.formats import XML_FORBIDDEN

# The context labels, msgctxt of the PO files and resname of the XLIFF units, and what each
# one translates (README: A city's texts in other languages).
CONTEXTS: Mapping[str, str] = {
    "service_name": "a service's name (services)",
    "description": "a service's description (services)",
    "keywords": "a service's keywords, comma-separated (services)",
    "group": "the group a service is listed under (services)",
    "attribute": "a question of a service definition (attribute description)",
    "datatype_description": "the hint under a question (attribute datatype_description)",
    "value": "an answer offered by a list question (value name; its key never changes)",
    "public_note": "the public note a workflow step adds to a request's updates",
    "topic": "a knowledge-base theme or topic name (articles)",
}
ANY_CONTEXT = ""  # a translation of the source wherever it appears
MAX_TEXT = 10_000  # characters of a source or a translation; the longest descriptions are ~2,000
MAX_ERRORS = 20  # problems listed in one refusal; the rest are counted


@dataclass(frozen=True)
class Entry:
    """One text to translate: where it is used, the city's words, the translation (None when
    there is none yet)."""

    context: str
    source: str
    text: str | None = None


@dataclass(frozen=True)
class Coverage:
    """How much of a city's texts a locale has: `translated` of `total`."""

    locale: str
    translated: int
    total: int

    @property
    def ratio(self) -> float:
        return round(self.translated / self.total, 4) if self.total else 1.0


# --- the phrasebook: reading ------------------------------------------------------------------


class Phrasebook:
    """A city's translations into one locale chain, loaded once for a whole answer.

    `get(source, context)` is the translation of the first locale of the chain that has one
    (with that context, else context-free), or the source itself: an answer is never missing a
    word, it is only partly in the city's default language. An empty phrasebook (the default
    locale asked) is false and translates nothing."""

    def __init__(self, chain: Sequence[str], phrases: Mapping[tuple[str, str, str], str]) -> None:
        self.chain = tuple(chain)
        self._phrases = dict(phrases)

    def __bool__(self) -> bool:
        return bool(self._phrases)

    def get(self, source: str | None, context: str = ANY_CONTEXT) -> str | None:
        if not source or not self._phrases:
            return source
        key = normalise(source)
        for locale in self.chain:
            found = self._phrases.get((locale, context, key)) or self._phrases.get(
                (locale, ANY_CONTEXT, key)
            )
            if found:
                return found
        return source


def locale_chain(locale: str, default: str) -> tuple[str, ...]:
    """The locales to look for translations in, best first: `locale`, then its language
    (es-MX -> es); nothing for the default locale or its own language's tags, whose texts are
    the sources themselves."""
    chain: list[str] = []
    for tag in (locale, locale.split("-")[0]):
        if tag.lower() == default.lower():
            break
        if tag not in chain:
            chain.append(tag)
    return tuple(chain)


def phrasebook(
    session: Session,
    jurisdiction: Jurisdiction,
    locale: str,
    sources: Iterable[str | None] | None = None,
) -> Phrasebook:
    """The phrasebook of `locale` (as content_locale chose it) for `jurisdiction`, holding
    the translations of `sources` (None: every text of the city): one query for the chain's
    locales, none at all in the default locale."""
    chain = locale_chain(locale, jurisdiction.default_locale)
    if not chain:
        return Phrasebook((), {})
    wanted = None
    if sources is not None:  # as written, and NFC as stored
        wanted = {form for source in sources if source for form in (source, normalise(source))}
    rows = translation_queries.find_translations(session, jurisdiction.id, chain, wanted)
    phrases = {(loc, context, normalise(source)): text for loc, context, source, text in rows}
    return Phrasebook(chain, phrases)


SERVICE_TEXTS = ("service_name", "description", "keywords", "group")  # also their contexts


def services_in(
    session: Session, jurisdiction: Jurisdiction, locale: str, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """GeoReport service items in `locale`: the items as they are in the default locale,
    else translated with one query for their texts."""
    if not locale_chain(locale, jurisdiction.default_locale):
        return items
    sources = [item[field] for item in items for field in SERVICE_TEXTS]
    book = phrasebook(session, jurisdiction, locale, sources)
    return [service_item(item, book) for item in items]


def definition_in(
    session: Session, jurisdiction: Jurisdiction, locale: str, definition: dict[str, Any]
) -> dict[str, Any]:
    """A GeoReport service definition in `locale` (see services_in)."""
    if not locale_chain(locale, jurisdiction.default_locale):
        return definition
    sources: list[str | None] = []
    for attribute in definition["attributes"]:
        sources += [attribute["description"], attribute["datatype_description"]]
        sources += [value["name"] for value in attribute.get("values", ())]
    book = phrasebook(session, jurisdiction, locale, sources)
    return service_definition(definition, book)


def service_item(item: dict[str, Any], book: Phrasebook) -> dict[str, Any]:
    """A GeoReport service item (wire.georeport.service_item) in the phrasebook's language;
    service_code, type and metadata are the same in every language."""
    if not book:
        return item
    return item | {field: book.get(item[field], field) for field in SERVICE_TEXTS}


def service_definition(item: dict[str, Any], book: Phrasebook) -> dict[str, Any]:
    """A service definition (wire.georeport.service_definition) in the phrasebook's language:
    questions, hints and answers' names; attribute codes and value keys never change, since
    they are what a client sends back."""
    if not book:
        return item
    return item | {"attributes": [_attribute(attribute, book) for attribute in item["attributes"]]}


def _attribute(attribute: dict[str, Any], book: Phrasebook) -> dict[str, Any]:
    said = attribute | {
        "description": book.get(attribute["description"], "attribute"),
        "datatype_description": book.get(attribute["datatype_description"], "datatype_description"),
    }
    if "values" in attribute:
        said["values"] = [
            value | {"name": book.get(value["name"], "value")} for value in attribute["values"]
        ]
    return said


# --- what there is to translate --------------------------------------------------------------


def texts(session: Session, jurisdiction: Jurisdiction) -> list[Entry]:
    """Every public text of the city (context, source), NFC, each once, without translations."""
    found = translation_queries.translatable_texts(session, jurisdiction.id)
    unique = dict.fromkeys((context, normalise(source)) for context, source in found)
    return [Entry(context, source) for context, source in unique]


def catalogue(session: Session, jurisdiction: Jurisdiction, locale: str) -> list[Entry]:
    """Every public text of the city with its translation into `locale` itself (no fallback to
    the language: a PO file of es-MX holds what es-MX says), None where there is none."""
    rows = translation_queries.find_translations(session, jurisdiction.id, [locale])
    said = {(context, normalise(source)): text for _loc, context, source, text in rows}
    return [
        Entry(e.context, e.source, said.get((e.context, e.source)) or said.get(("", e.source)))
        for e in texts(session, jurisdiction)
    ]


def not_in_use(
    session: Session, jurisdiction: Jurisdiction, entries: Iterable[Entry]
) -> list[Entry]:
    """Those of `entries` whose source is no text of the city now (renamed, or not added yet):
    stored all the same, and serving as soon as the text is the city's."""
    current = {(e.context, e.source) for e in texts(session, jurisdiction)}
    sources = {source for _context, source in current}
    return [
        e
        for e in entries
        if (e.context, e.source) not in current
        and not (e.context == ANY_CONTEXT and e.source in sources)
    ]


def coverage(entries: Sequence[Entry], locale: str) -> Coverage:
    return Coverage(locale, sum(1 for e in entries if e.text), len(entries))


def coverages(session: Session, jurisdiction: Jurisdiction) -> list[Coverage]:
    """The coverage of every locale the city lists besides its default, in its order."""
    targets = [tag for tag in jurisdiction.locales if tag != jurisdiction.default_locale]
    every = texts(session, jurisdiction)
    rows = translation_queries.find_translations(session, jurisdiction.id, targets)
    said = {(loc, context, normalise(source)) for loc, context, source, _text in rows}
    return [
        Coverage(
            tag,
            sum(
                1
                for e in every
                if (tag, e.context, e.source) in said or (tag, "", e.source) in said
            ),
            len(every),
        )
        for tag in targets
    ]


# --- writing ----------------------------------------------------------------------------------


def target_locale(jurisdiction: Jurisdiction, asked: str) -> str:
    """`asked` as the city spells it, when it is one of the city's locales other than its
    default (the default's texts are the sources); a 400 otherwise."""
    tag = canonical(asked)
    if tag is None:
        raise InvalidInput(f"locale: {asked[:40]!r} is not a BCP 47 language tag")
    spelled = {known.lower(): known for known in jurisdiction.locales}
    if tag.lower() == jurisdiction.default_locale.lower():
        raise InvalidInput(
            f"locale: {tag} is the default language of {jurisdiction.jurisdiction_id}: "
            "its texts are the sources, there is nothing to translate them into"
        )
    if tag.lower() not in spelled:
        listed = ", ".join(jurisdiction.locales)
        raise InvalidInput(
            f"locale: {tag} is not a language of {jurisdiction.jurisdiction_id} ({listed}); "
            "an administrator adds it to the jurisdiction's locales first"
        )
    return spelled[tag.lower()]


def checked(entries: Iterable[Entry]) -> list[Entry]:
    """`entries` NFC-normalised, each checked (a known context, a source and a translation not
    blank, not too long, nothing XML cannot carry, no (context, source) twice); every problem
    is listed in one 400, so a whole batch or file is refused or none of it."""
    kept: dict[tuple[str, str], Entry] = {}
    problems: list[str] = []
    for number, entry in enumerate(entries, 1):
        context, source = entry.context or ANY_CONTEXT, normalise(entry.source or "")
        text = normalise(entry.text or "")
        where = f"entry {number}"
        if context != ANY_CONTEXT and context not in CONTEXTS:
            problems.append(
                f"{where}: context {context[:64]!r} is not one of {', '.join(CONTEXTS)}"
            )
        if not source.strip():
            problems.append(f"{where}: source is blank")
        if not text.strip():
            problems.append(f"{where}: text is blank (delete a translation instead)")
        for name, value in (("source", source), ("text", text)):
            if len(value) > MAX_TEXT:
                problems.append(f"{where}: {name} is longer than {MAX_TEXT:,} characters")
            if XML_FORBIDDEN.search(value):
                problems.append(f"{where}: {name} holds a control character")
        if (context, source) in kept:
            problems.append(f"{where}: {context or 'no context'} {source[:60]!r} is given twice")
        kept[(context, source)] = Entry(context, source, text)
    if problems:
        raise InvalidInput(*_capped(problems))
    return list(kept.values())


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_ERRORS:
        return problems
    return [*problems[:MAX_ERRORS], f"and {len(problems) - MAX_ERRORS} more problems"]


def put(
    session: Session,
    jurisdiction: Jurisdiction,
    locale: str,
    entries: Iterable[Entry],
    *,
    actor: str,
    now: datetime,
) -> list[Entry]:
    """Store every entry's translation into `locale` (one of the city's, not its default),
    replacing any there was, all or none; the entries as stored. Moves the discovery changeset
    (translated services are part of the catalogue). Flushes only."""
    locale = target_locale(jurisdiction, locale)
    stored = checked(entries)
    translation_queries.upsert_translations(
        session,
        jurisdiction.id,
        locale,
        [(entry.context, entry.source, entry.text or "") for entry in stored],
        actor=actor,
        now=now,
    )
    if stored:
        jurisdiction.catalogue_changed_at = now
    session.flush()
    return stored


def delete(
    session: Session,
    jurisdiction: Jurisdiction,
    locale: str,
    context: str,
    source: str,
    *,
    now: datetime,
) -> bool:
    """Delete the translation of (context, source) into `locale`; False when there was none.
    Flushes only."""
    locale = target_locale(jurisdiction, locale)
    deleted = translation_queries.delete_translation(
        session, jurisdiction.id, locale, context or ANY_CONTEXT, normalise(source)
    )
    if deleted:
        jurisdiction.catalogue_changed_at = now
    session.flush()
    return bool(deleted)


# --- the city's locales -----------------------------------------------------------------------


def city_locales(locales: Iterable[str], default: str) -> tuple[list[str], str]:
    """The locales and the default a city may be given: canonical BCP 47 tags (es_mx -> es-MX),
    each once, at least one, the default among them; a 400 naming what is wrong otherwise."""
    tags: list[str] = []
    for asked in locales:
        tag = canonical(asked)
        if tag is None:
            raise InvalidInput(f"locales: {str(asked)[:40]!r} is not a BCP 47 language tag")
        if tag not in tags:
            tags.append(tag)
    if not tags:
        raise InvalidInput("locales: at least one, the default among them")
    chosen = canonical(default)
    if chosen is None:
        raise InvalidInput(f"default_locale: {str(default)[:40]!r} is not a BCP 47 language tag")
    if chosen not in tags:
        raise InvalidInput(f"default_locale: {chosen} is not among the locales ({', '.join(tags)})")
    return tags, chosen


def new_city_default(locales: Sequence[str] | None, default: str | None) -> str | None:
    """A new city's default locale: the one named, else the first of its locales (`--locales
    es,en` is a city written in Spanish), else None (the column's default, en)."""
    return default or (locales[0] if locales else None)


def set_locales(
    session: Session,
    jurisdiction: Jurisdiction,
    locales: Sequence[str] | None = None,
    default: str | None = None,
) -> None:
    """Give the city the locales it serves and/or its default (city_locales' rules); the one
    not given stays as it is (a new city's default is the first of its locales: see
    `new_city_default`). Translations of a locale taken off are kept (put it back and they
    serve again). Flushes only when the city is in the session."""
    if locales is None and default is None:
        return
    current = list(jurisdiction.locales or ())
    if default is None:
        default = jurisdiction.default_locale or "en"
    tags, chosen = city_locales(locales if locales is not None else current or [default], default)
    jurisdiction.locales, jurisdiction.default_locale = tags, chosen
    if jurisdiction in session:
        session.flush()
