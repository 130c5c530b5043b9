"""Which language to answer in, and the server's own texts in it.

Two kinds of words reach the public. A city's own (service names, articles, step notes) are data,
translated per jurisdiction (db Translation, domain/translations). The server's own (error
descriptions, the notes it writes itself) are written in English in the code as `_(msgid,
**params)`: a `Text`, which is a plain English `str` wherever it goes (logs, tests, the database),
and which `translate` puts into another language from the gettext catalogues in
open311/locales/<locale>/LC_MESSAGES/messages.po (Babel reads them; no compiled files).

Negotiation follows BCP 47 with Babel: the exact tag offered, else its language (es-MX -> es),
else the default; an unknown or malformed tag is never an error.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SOURCE_LOCALE = "en"  # the language the server's texts are written in
MAX_TAG = 35  # the longest BCP 47 tag kept (RFC 5646 §4.4.1 suggests 35)
# A language and at least one more subtag, each 1-8 letters or digits (RFC 5646's shape).
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})+")


class Text(str):
    """An English text of the server's, formatted, that remembers its msgid and parameters so
    it can be said again in another language (`translate`). A parameter may itself be a Text
    (a reason inside a sentence): it is translated with the sentence."""

    msgid: str
    plural: str | None
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any], plural: str | None = None) -> Text:
        english = plural if plural is not None and params.get("count") != 1 else msgid
        made = super().__new__(cls, english % params if params else english)
        made.msgid = msgid
        made.plural = plural
        made.params = params
        return made


def _(msgid: str, **params: Any) -> Text:  # noqa: N802 - the name gettext tools look for
    """Mark `msgid` (with %(name)s placeholders) for translation; English until translated."""
    return Text(msgid, params)


def english(text: str) -> Text:
    """A text made in English where it could not be marked (a library's message, a lower
    layer's ValueError), kept as a Text so that `translate` recognises it (`recognise`) when it
    is said inside a marked sentence."""
    return text if isinstance(text, Text) else Text(text, {})


def n_(singular: str, plural: str, count: int, **params: Any) -> Text:
    """Mark a text that depends on a number: `count` chooses the form by the language's plural
    rules (CLDR, as the catalogue's Plural-Forms states); %(count)s says the number."""
    return Text(singular, {"count": count, **params}, plural)


def canonical(tag: str | None) -> str | None:
    """`tag` spelled as BCP 47 (es_mx -> es-MX, zh_hant_tw -> zh-Hant-TW), or None when it
    is empty or no language Babel knows."""
    if not tag or len(tag) > MAX_TAG:
        return None
    try:
        locale = Locale.parse(tag.strip().replace("_", "-"), sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        return None
    parts = [locale.language, locale.script, locale.territory, locale.variant]
    return "-".join(part for part in parts if part)


def negotiate(
    asked: str | None, accepted: Iterable[str], offered: Sequence[str], default: str
) -> str:
    """The locale to answer in, of `offered`: the `asked` one (a `locale` parameter) wins,
    then the `accepted` ones (Accept-Language, best first); each matches exactly or by its
    language (es-MX -> es). None matching: `default`. Tags compare case-insensitively."""
    wanted = [asked] if asked else list(accepted)
    # A well-formed tag whose region or script Babel does not know (es-XX) still says its
    # language; a malformed one (ar-, not a tag!) says nothing.
    spelled = (
        canonical(w)
        or (canonical(w[: w.replace("_", "-").find("-")]) if _TAG.fullmatch(w) else None)
        for w in wanted
    )
    choices = [tag for tag in spelled if tag]
    if not choices or not offered:
        return default
    found = negotiate_locale(choices, list(offered), sep="-")
    if found is None:  # Babel tries the language alone only when the offer names it so
        languages = {tag.split("-")[0].lower(): tag for tag in reversed(offered)}
        found = next(
            (
                languages[c.split("-")[0].lower()]
                for c in choices
                if c.split("-")[0].lower() in languages
            ),
            None,
        )
    return found or default


def language_name(locale: str) -> str:
    """The language's name in itself (español, tiếng Việt, العربية), for a reader looking for it."""
    try:
        return Locale.parse(locale, sep="-").get_display_name(locale) or locale
    except (ValueError, TypeError, UnknownLocaleError):
        return locale


def direction(locale: str) -> str:
    """'rtl' for a right-to-left language (Arabic, Hebrew, Persian, Urdu...), else 'ltr'."""
    try:
        return Locale.parse(locale, sep="-").character_order == "right-to-left" and "rtl" or "ltr"
    except (ValueError, TypeError, UnknownLocaleError):
        return "ltr"


def normalise(text: str) -> str:
    """NFC: one spelling of every accented letter (a Vietnamese 'ệ' typed as e + two combining
    marks and as one code point compare equal), as stored and as searched."""
    return unicodedata.normalize("NFC", text)


@cache
def server_locales() -> tuple[str, ...]:
    """The locales the server's own texts are written in: English and each catalogue."""
    root = resources.files("open311") / "locales"
    found = [SOURCE_LOCALE]
    if root.is_dir():
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if (entry / "LC_MESSAGES" / "messages.po").is_file():
                found.append(entry.name.replace("_", "-"))
    return tuple(found)


def _read(locale: str) -> Catalog:
    path = resources.files("open311") / "locales" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        return read_po(po, locale=locale.replace("-", "_"))


@cache
def _catalogue(locale: str) -> gettext.NullTranslations:
    if locale == SOURCE_LOCALE or locale not in server_locales():
        return gettext.NullTranslations()
    compiled = BytesIO()
    write_mo(compiled, _read(locale))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def translate(text: str, locale: str) -> str:
    """`text` in `locale` (or its language), when the catalogue translates it; anything else as
    it is. A `Text` is looked up by its msgid. A plain English string (a library's message, one
    made before it could be marked) is recognised when it has the shape of a msgid, as a whole
    or after a `field: ` prefix. Never fails: a translation whose placeholders do not fit falls
    back to English."""
    chosen = negotiate(locale, (), server_locales(), SOURCE_LOCALE)
    if chosen == SOURCE_LOCALE:
        return str(text)
    return _say(text, chosen)


def _say(text: str, locale: str) -> str:
    catalogue = _catalogue(locale)
    if not isinstance(text, Text) or (not text.params and text.msgid not in _shapes(locale)[0]):
        known = recognise(text, locale)
        if known is None:
            field, colon, rest = text.partition(": ")
            inner = recognise(rest, locale) if colon and field and " " not in field else None
            return f"{field}: {_say(inner, locale)}" if inner is not None else str(text)
        text = known
    params = {
        name: _say(value, locale) if isinstance(value, Text) else value
        for name, value in text.params.items()
    }
    if text.plural is not None:
        said = catalogue.ngettext(text.msgid, text.plural, int(params.get("count", 0)))
    else:
        said = catalogue.gettext(text.msgid)
    try:
        return said % params if params else said
    except (KeyError, ValueError, TypeError):
        return str(text)


# The fewest letters and digits a msgid with placeholders must have besides them to be
# recognised in a plain string.
MIN_RECOGNISED = 4
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def recognise(text: str, locale: str) -> Text | None:
    """The `Text` that `text` is, if some msgid of `locale`'s catalogue, its placeholders
    filled in, reads exactly so; else None. The most specific msgid (the most fixed words)
    wins."""
    exact, patterns = _shapes(locale)
    if text in exact:
        return Text(text, {})
    for pattern, msgid in patterns:
        found = pattern.fullmatch(text)
        if found:
            return Text(msgid, found.groupdict())
    return None


@cache
def _shapes(locale: str) -> tuple[frozenset[str], tuple[tuple[re.Pattern[str], str], ...]]:
    catalogue = _read(locale) if locale in server_locales() and locale != SOURCE_LOCALE else None
    msgids = [m.id for m in catalogue if m.id and isinstance(m.id, str)] if catalogue else []
    exact = frozenset(m for m in msgids if not _PLACEHOLDER.search(m))
    patterns = []
    for msgid in msgids:
        if not _PLACEHOLDER.search(msgid):
            continue
        seen: set[str] = set()
        regex = ""
        for index, piece in enumerate(_PLACEHOLDER.split(msgid)):
            if index % 2 == 0:
                regex += re.escape(piece.replace("%%", "%"))
            elif piece in seen:
                regex += f"(?P={piece})"
            else:
                seen.add(piece)
                regex += f"(?P<{piece}>.+?)"
        fixed = sum(char.isalnum() for char in _PLACEHOLDER.sub("", msgid))
        if fixed < MIN_RECOGNISED:
            continue  # "%(a)s %(b)s" would take any text for itself
        patterns.append((fixed, re.compile(regex, re.DOTALL), msgid))
    patterns.sort(key=lambda item: -item[0])
    return exact, tuple((pattern, msgid) for _fixed, pattern, msgid in patterns)
