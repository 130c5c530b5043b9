"""Arguments, bodies and answers of the staff translations API (a city's texts in its other
languages, domain/translations)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from open311.api.smorest import StaffBody
from open311.domain.translations import ANY_CONTEXT, CONTEXTS, MAX_TEXT

CONTEXT = validate.OneOf((ANY_CONTEXT, *CONTEXTS), error="not a context label: {choices}")
TEXT = validate.Length(min=1, max=MAX_TEXT)
LOCALE = validate.Length(min=1, max=35)
JURISDICTION = validate.Length(max=255)


class TranslationsArgs(Schema):
    locale = fields.String(
        validate=LOCALE,
        metadata={"description": "one of the city's languages; absent: coverage of each"},
    )
    missing = fields.Boolean(
        load_default=False, metadata={"description": "true: only texts not translated yet"}
    )
    jurisdiction_id = fields.String(validate=JURISDICTION)


class CityArgs(Schema):
    jurisdiction_id = fields.String(validate=JURISDICTION)


class DeleteArgs(CityArgs):
    source = fields.String(
        required=True, validate=TEXT, metadata={"description": "the city's text, exactly"}
    )
    context = fields.String(load_default=ANY_CONTEXT, validate=CONTEXT)


class TranslationBody(StaffBody):
    context = fields.String(
        load_default=ANY_CONTEXT,
        validate=CONTEXT,
        metadata={"description": "where the source is used; '' for everywhere"},
    )
    source = fields.String(
        required=True, validate=TEXT, metadata={"description": "the city's text, exactly"}
    )
    text = fields.String(required=True, validate=TEXT, metadata={"description": "its translation"})


class TranslationsBody(StaffBody):
    translations = fields.List(
        fields.Nested(TranslationBody), required=True, validate=validate.Length(min=1, max=5000)
    )


class TranslationOut(Schema):
    context = fields.String()
    source = fields.String()
    text = fields.String(allow_none=True, metadata={"description": "null: not translated yet"})


class CoverageOut(Schema):
    locale = fields.String()
    translated = fields.Integer()
    total = fields.Integer()
    ratio = fields.Float(metadata={"description": "translated / total (1 when there is none)"})


class TranslationsOut(Schema):
    jurisdiction_id = fields.String()
    default_locale = fields.String()
    locale = fields.String(allow_none=True)
    coverage = fields.List(fields.Nested(CoverageOut))
    translations = fields.List(
        fields.Nested(TranslationOut), metadata={"description": "empty without locale"}
    )


class StoredOut(Schema):
    locale = fields.String()
    stored = fields.Integer(metadata={"description": "translations written"})
    coverage = fields.Nested(CoverageOut)


class ImportOut(StoredOut):
    fuzzy = fields.Integer(
        metadata={
            "description": "PO fuzzy entries, XLIFF targets in state new or "
            "needs-translation: skipped"
        }
    )
    untranslated = fields.Integer(metadata={"description": "entries without a translation"})
    unused = fields.List(
        fields.Nested(TranslationOut),
        metadata={"description": "stored translations of sources the city does not use now"},
    )
