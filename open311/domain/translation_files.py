"""A city's translations as files translators' tools read and write: gettext PO (Babel) and
XLIFF 1.2, out and back in.

Out: every public text of the city (domain/translations.catalogue), translated or not; PO's
msgctxt and XLIFF's resname carry the context, msgid/<source> the city's words, msgstr/<target>
the translation (empty when there is none), a translator's comment/<note> what the context is.

In: the entries of a file, for translations.put (all or none). Skipped, not stored: PO entries
marked fuzzy (a tool's guess nobody checked), XLIFF targets in state new or needs-translation,
and entries left untranslated. An uploaded XLIFF is read with defusedxml and no DTD at all, so
neither an external entity (XXE) nor an entity expansion bomb (billion laughs) is ever expanded.
A file whose Language / target-language is another language than the one it is uploaded for
is refused, so a Spanish file cannot land in Vietnamese.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from xml.etree import ElementTree

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import PoFileError, read_po, write_po
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy.orm import Session

from open311.db.models import Jurisdiction
from open311.domain import translations
from open311.domain.translations import ANY_CONTEXT, CONTEXTS, Entry
from open311.errors import InvalidInput

PO_TYPE = "text/x-gettext-translation"
XLIFF_TYPE = "application/x-xliff+xml"
XLIFF_NS = "urn:oasis:names:tc:xliff:document:1.2"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
# XLIFF 1.2 target states that mean "no translation yet", whatever the target holds.
NOT_TRANSLATED_STATES = frozenset({"new", "needs-translation"})


FILE_TYPES = {"po": PO_TYPE, "xlf": XLIFF_TYPE}


@dataclass
class Upload:
    """What a file brought: the entries to store and what was left out, and why."""

    entries: list[Entry] = field(default_factory=list)
    fuzzy: int = 0  # PO fuzzy entries / XLIFF targets not translated yet
    untranslated: int = 0  # empty msgstr / no target


def _babel_locale(locale: str) -> str:
    return str(Locale.parse(locale, sep="-"))


def _language(tag: str) -> str:
    return tag.replace("_", "-").split("-")[0].lower()


def _check_language(declared: str | None, locale: str, where: str) -> None:
    if declared and _language(declared) != _language(locale):
        raise InvalidInput(f"{where}: the file is in {declared}, not {locale}")


# --- PO ----------------------------------------------------------------------------------------


def write_po_file(
    entries: list[Entry], *, locale: str, project: str, default_locale: str, now: datetime
) -> bytes:
    """`entries` as a PO file of `locale` (UTF-8, untranslated entries with an empty msgstr)."""
    catalog = Catalog(
        locale=_babel_locale(locale),
        project=project,
        version=now.date().isoformat(),
        creation_date=now,
        revision_date=now,
        fuzzy=False,
        charset="utf-8",
        header_comment=(
            f"# {project}: its public texts in {locale}, written in {default_locale}.\n"
            "# Exported by open311; fill in the msgstr lines and import the file back.\n#"
        ),
        last_translator="open311",
    )
    catalog.language_team = f"{locale} (from {default_locale})"
    for entry in entries:
        catalog.add(
            entry.source,
            entry.text or "",
            context=entry.context or None,
            auto_comments=[CONTEXTS.get(entry.context, "wherever the text appears")],
        )
    out = BytesIO()
    write_po(out, catalog, width=0, include_lineno=False)
    return out.getvalue()


def read_po_file(data: bytes, locale: str) -> Upload:
    """The entries of an uploaded PO file for `locale`; a 400 for a file that is not one."""
    try:
        # A byte order mark, as some Windows editors write, is no part of the first keyword.
        catalog = read_po(BytesIO(data.removeprefix(b"\xef\xbb\xbf")), abort_invalid=True)
    except PoFileError as error:
        raise InvalidInput(f"PO file: {error}") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidInput(
            f"PO file: not UTF-8 gettext text ({error.__class__.__name__})"
        ) from None
    _check_language(str(catalog.locale) if catalog.locale else None, locale, "PO file")
    upload = Upload()
    for message in catalog:
        if not message.id:
            continue  # the header
        if isinstance(message.id, tuple | list):
            raise InvalidInput(
                f"PO file: plural entry {message.id[0]!r}: the city's texts have none"
            )
        if message.fuzzy:
            upload.fuzzy += 1
        elif not message.string:
            upload.untranslated += 1
        else:
            upload.entries.append(Entry(message.context or ANY_CONTEXT, message.id, message.string))
    return upload


# --- XLIFF 1.2 ---------------------------------------------------------------------------------


def write_xliff_file(
    entries: list[Entry], *, locale: str, original: str, default_locale: str
) -> bytes:
    """`entries` as an XLIFF 1.2 document: one <file> from `default_locale` to `locale`, one
    <trans-unit> per entry, resname = context, untranslated targets empty in state
    needs-translation."""
    root = ElementTree.Element("xliff", {"version": "1.2", "xmlns": XLIFF_NS})
    attributes = {
        "original": original,
        "source-language": default_locale,
        "target-language": locale,
        "datatype": "plaintext",
    }
    body = ElementTree.SubElement(ElementTree.SubElement(root, "file", attributes), "body")
    for number, entry in enumerate(entries, 1):
        unit_attributes = {"id": str(number), XML_SPACE: "preserve"}
        if entry.context:
            unit_attributes["resname"] = entry.context
        unit = ElementTree.SubElement(body, "trans-unit", unit_attributes)
        ElementTree.SubElement(unit, "source").text = entry.source
        state = "translated" if entry.text else "needs-translation"
        ElementTree.SubElement(unit, "target", {"state": state}).text = entry.text or ""
        note = CONTEXTS.get(entry.context, "wherever the text appears")
        ElementTree.SubElement(unit, "note", {"from": "open311"}).text = note
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _local(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def read_xliff_file(data: bytes, locale: str) -> Upload:
    """The entries of an uploaded XLIFF 1.2 document for `locale`; a 400 for one that is not
    XLIFF 1.2, is not well-formed, or declares a DTD or entities (never expanded)."""
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InvalidInput("XLIFF file: DTDs and entities are not accepted") from None
    except (ElementTree.ParseError, ValueError) as error:
        raise InvalidInput(f"XLIFF file: not well-formed XML ({error})") from None
    namespace, name = _local(root.tag)
    if name != "xliff" or namespace not in ("", XLIFF_NS):
        raise InvalidInput("XLIFF file: the root element is not <xliff>")
    if root.get("version") != "1.2":
        raise InvalidInput(f"XLIFF file: version {root.get('version')!r}; XLIFF 1.2 is read")
    prefix = f"{{{namespace}}}" if namespace else ""
    upload = Upload()
    for number, file in enumerate(root.iter(f"{prefix}file"), 1):
        _check_language(file.get("target-language"), locale, f"XLIFF <file> {number}")
        for unit in file.iter(f"{prefix}trans-unit"):
            _read_unit(unit, prefix, upload)
    return upload


def _read_unit(unit: ElementTree.Element, prefix: str, upload: Upload) -> None:
    source = unit.find(f"{prefix}source")
    if source is None:
        raise InvalidInput(f"XLIFF file: trans-unit {unit.get('id')!r} has no <source>")
    target = unit.find(f"{prefix}target")
    text = "".join(target.itertext()) if target is not None else ""
    if not text:
        upload.untranslated += 1
    elif target is not None and target.get("state") in NOT_TRANSLATED_STATES:
        upload.fuzzy += 1
    else:
        context = unit.get("resname") or ANY_CONTEXT
        upload.entries.append(Entry(context, "".join(source.itertext()), text))


# --- the exchange ------------------------------------------------------------------------------


@dataclass
class Imported:
    """What an import did: the translations stored, what the file left out, and which of the
    stored ones translate a text the city does not use now."""

    stored: list[Entry]
    fuzzy: int
    untranslated: int
    unused: list[Entry]


def export_file(
    session: Session, jurisdiction: Jurisdiction, locale: str, extension: str, *, now: datetime
) -> bytes:
    """The city's texts and their translations into `locale` as a PO (`po`) or XLIFF (`xlf`)
    file; `locale` must be one of the city's languages other than its default."""
    locale = translations.target_locale(jurisdiction, locale)
    entries = translations.catalogue(session, jurisdiction, locale)
    if extension == "po":
        return write_po_file(
            entries,
            locale=locale,
            project=jurisdiction.name,
            default_locale=jurisdiction.default_locale,
            now=now,
        )
    return write_xliff_file(
        entries,
        locale=locale,
        original=jurisdiction.jurisdiction_id,
        default_locale=jurisdiction.default_locale,
    )


def import_file(
    session: Session,
    jurisdiction: Jurisdiction,
    locale: str,
    data: bytes,
    content_type: str,
    *,
    actor: str,
    now: datetime,
) -> Imported:
    """Store the translations of an uploaded PO (`PO_TYPE`) or XLIFF (`XLIFF_TYPE`) file into
    `locale`, all or none: a file that cannot be read, or any entry refused, stores nothing
    (a 400 listing the problems). Flushes only."""
    locale = translations.target_locale(jurisdiction, locale)
    if content_type == PO_TYPE:
        upload = read_po_file(data, locale)
    elif content_type == XLIFF_TYPE:
        upload = read_xliff_file(data, locale)
    else:
        raise ValueError(f"not a translation file type: {content_type}")
    stored = translations.put(session, jurisdiction, locale, upload.entries, actor=actor, now=now)
    unused = translations.not_in_use(session, jurisdiction, stored)
    return Imported(stored, upload.fuzzy, upload.untranslated, unused)
