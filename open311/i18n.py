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
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SOURCE_LOCALE = "en"  # the language the server's texts are written in
MAX_TAG = 35  # the longest BCP 47 tag kept (RFC 5646 §4.4.1 suggests 35)


class Text(str):
    """An English text of the server's, formatted, that remembers its msgid and parameters so
    it can be said again in another language (`translate`)."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any]) -> Text:
        made = super().__new__(cls, msgid % params if params else msgid)
        made.msgid = msgid
        made.params = params
        return made


def _(msgid: str, **params: Any) -> Text:  # noqa: N802 - the name gettext tools look for
    """Mark `msgid` (with %(name)s placeholders) for translation; English until translated."""
    return Text(msgid, params)


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
    choices = [tag for tag in (canonical(w) for w in wanted) if tag]
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


@cache
def _catalogue(locale: str) -> gettext.NullTranslations:
    if locale == SOURCE_LOCALE or locale not in server_locales():
        return gettext.NullTranslations()
    path = resources.files("open311") / "locales" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale.replace("-", "_"))
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def translate(text: str, locale: str) -> str:
    """`text` in `locale` when it is a `Text` the catalogue of that locale (or of its
    language) translates; anything else as it is. Never fails: a translation whose
    placeholders do not fit falls back to English."""
    if not isinstance(text, Text):
        return text
    chosen = negotiate(locale, (), server_locales(), SOURCE_LOCALE)
    said = _catalogue(chosen).gettext(text.msgid)
    if said == text.msgid:
        return str(text)
    try:
        return said % text.params if text.params else said
    except (KeyError, ValueError, TypeError):
        return str(text)
