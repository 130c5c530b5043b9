"""A city's public texts in its other languages: listed with their coverage, translated one by
one or in batches, deleted, and exchanged as PO or XLIFF files with translators' tools.

Administrators and editors only. The city is the user's (auth.staff_jurisdiction: the only
one, or ?jurisdiction_id=); the locale must be one of its languages other than its default.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from werkzeug.exceptions import UnsupportedMediaType

from open311 import clock
from open311.api import database
from open311.api.staff import translations_schemas as s
from open311.api.staff.auth import StaffBlueprint, actor, staff_jurisdiction, staff_required
from open311.db.models import Jurisdiction
from open311.domain import translation_files, translations
from open311.domain.translations import Entry
from open311.errors import NotFound
from open311.values import StaffRole

blp = StaffBlueprint(
    "staff_translations",
    __name__,
    "Staff API: a city's public texts in its other languages (translations, PO and XLIFF).",
)

TRANSLATORS = (StaffRole.administrator, StaffRole.editor)
BINARY_FILE = {"type": "string", "format": "binary"}
FILE_TYPES = {
    translation_files.PO_TYPE: "PO",
    translation_files.XLIFF_TYPE: "XLIFF 1.2",
}


def _entry(entry: Entry) -> dict[str, Any]:
    return {"context": entry.context, "source": entry.source, "text": entry.text}


def _coverage(coverage: translations.Coverage) -> dict[str, Any]:
    return {
        "locale": coverage.locale,
        "translated": coverage.translated,
        "total": coverage.total,
        "ratio": coverage.ratio,
    }


@blp.route("/translations", methods=["GET"])
@staff_required(*TRANSLATORS)
@blp.arguments(s.TranslationsArgs, location="query", as_kwargs=True)
@blp.response(200, s.TranslationsOut)
def list_translations(
    locale: str | None = None, missing: bool = False, **_city: Any
) -> dict[str, Any]:
    """Every public text of the city with its translation into `locale` (null: none yet;
    `missing=true`: only those) and the coverage; without `locale`, the coverage of each of
    the city's languages."""
    session = database.session()
    city = staff_jurisdiction()
    answer: dict[str, Any] = {
        "jurisdiction_id": city.jurisdiction_id,
        "default_locale": city.default_locale,
        "locale": None,
        "translations": [],
    }
    if locale is None:
        answer["coverage"] = [_coverage(c) for c in translations.coverages(session, city)]
        return answer
    locale = translations.target_locale(city, locale)
    entries = translations.catalogue(session, city, locale)
    shown = [e for e in entries if not e.text] if missing else entries
    answer.update(
        locale=locale,
        coverage=[_coverage(translations.coverage(entries, locale))],
        translations=[_entry(e) for e in shown],
    )
    return answer


@blp.route("/translations/<locale>", methods=["PUT"])
@staff_required(*TRANSLATORS)
@blp.arguments(s.CityArgs, location="query", as_kwargs=True)
@blp.arguments(s.TranslationsBody)
@blp.response(200, s.StoredOut)
def put_translations(body: dict[str, Any], locale: str, **_city: Any) -> dict[str, Any]:
    """Store a batch of translations into `locale`, each replacing the one there was: all of
    them, or (a 400 listing every problem) none."""
    session = database.session()
    city = staff_jurisdiction()
    entries = [Entry(t["context"], t["source"], t["text"]) for t in body["translations"]]
    stored = translations.put(session, city, locale, entries, actor=actor(), now=clock.now())
    answer = _stored(city, locale, len(stored))
    session.commit()
    return answer


def _stored(city: Jurisdiction, locale: str, count: int) -> dict[str, Any]:
    locale = translations.target_locale(city, locale)
    entries = translations.catalogue(database.session(), city, locale)
    coverage = _coverage(translations.coverage(entries, locale))
    return {"locale": locale, "stored": count, "coverage": coverage}


@blp.route("/translations/<locale>", methods=["DELETE"])
@staff_required(*TRANSLATORS)
@blp.arguments(s.DeleteArgs, location="query", as_kwargs=True)
@blp.response(204)
def delete_translation(locale: str, source: str, context: str, **_city: Any) -> Response:
    """Delete the translation of `source` (in `context`) into `locale`; 404 if there is none.
    The text is then shown in the city's default language."""
    session = database.session()
    city = staff_jurisdiction()
    if not translations.delete(session, city, locale, context, source, now=clock.now()):
        raise NotFound(f"no {locale} translation of {source[:60]!r} in context {context!r}")
    session.commit()
    return Response(status=204)


DOWNLOAD = blp.doc(
    responses={
        "200": {
            "description": "The catalogue as a file, untranslated entries empty",
            "content": {kind: {"schema": BINARY_FILE} for kind in FILE_TYPES},
        }
    }
)


@blp.route("/translations/<locale>.po", methods=["GET"])
@staff_required(*TRANSLATORS)
@blp.arguments(s.CityArgs, location="query", as_kwargs=True)
@DOWNLOAD
def export_po(locale: str, **_city: Any) -> Response:
    """Download every public text of the city with its translation into `locale` as a PO
    file, for a translator's tool (Poedit, Weblate...)."""
    return _download(locale, "po")


@blp.route("/translations/<locale>.xlf", methods=["GET"])
@staff_required(*TRANSLATORS)
@blp.arguments(s.CityArgs, location="query", as_kwargs=True)
@DOWNLOAD
def export_xliff(locale: str, **_city: Any) -> Response:
    """Download every public text of the city with its translation into `locale` as XLIFF
    1.2, for a translator's tool (OmegaT, memoQ...)."""
    return _download(locale, "xlf")


def _download(locale: str, extension: str) -> Response:
    city = staff_jurisdiction()
    data = translation_files.export_file(
        database.session(), city, locale, extension, now=clock.now()
    )
    name = f"{city.jurisdiction_id}-{translations.target_locale(city, locale)}.{extension}"
    content_type = translation_files.FILE_TYPES[extension]
    return Response(
        data,
        content_type=f"{content_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.route("/translations/<locale>", methods=["POST"])
@staff_required(*TRANSLATORS)
@blp.arguments(s.CityArgs, location="query", as_kwargs=True)
@blp.doc(
    requestBody={
        "required": True,
        "content": {kind: {"schema": {"type": "string"}} for kind in FILE_TYPES},
    }
)
@blp.response(200, s.ImportOut)
def import_translations(locale: str, **_city: Any) -> dict[str, Any]:
    """Upload a PO file (Content-Type text/x-gettext-translation) or XLIFF 1.2
    (application/x-xliff+xml) of translations into `locale`: every translated entry stored,
    fuzzy and untranslated ones skipped; all or (a 400 listing the problems) nothing."""
    if request.mimetype not in FILE_TYPES:
        refused = UnsupportedMediaType()
        refused.open311_message = (
            "send a PO file as text/x-gettext-translation or XLIFF 1.2 as application/x-xliff+xml"
        )
        raise refused
    session = database.session()
    city = staff_jurisdiction()
    imported = translation_files.import_file(
        session,
        city,
        locale,
        request.get_data(),
        request.mimetype,
        actor=actor(),
        now=clock.now(),
    )
    answer = _stored(city, locale, len(imported.stored))
    answer.update(
        fuzzy=imported.fuzzy,
        untranslated=imported.untranslated,
        unused=[_entry(e) for e in imported.unused],
    )
    session.commit()
    return answer
