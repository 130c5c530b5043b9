"""How a language's text is prepared for search: its PostgreSQL text-search configuration, and
the folded text pg_trgm compares a misspelt word with.

Stored text and the words a caller says go through the same steps, so that they meet: NFC
(i18n.normalise) for everything stored, then here lower case without accents for similarity.
"""

from __future__ import annotations

import unicodedata

from babel import Locale, UnknownLocaleError

# The text-search configurations PostgreSQL 13-17 ship (pg_ts_config), by language code: each
# stems its language (spanish: "reciclaje" and "reciclar" meet). A language without one
# (Vietnamese, Chinese, Korean, Tagalog, ...) is searched with `simple`: words as they are,
# lower-cased, which suits Vietnamese (its words do not inflect).
CONFIGURATIONS = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "nb": "norwegian",
    "ne": "nepali",
    "nl": "dutch",
    "nn": "norwegian",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
SIMPLE = "simple"


def search_config(locale: str) -> str:
    """The text-search configuration of `locale`'s language (es-MX -> spanish), else simple."""
    try:
        language = Locale.parse(locale.replace("_", "-"), sep="-").language
    except (ValueError, TypeError, UnknownLocaleError):
        language = locale.split("-")[0].lower()
    return CONFIGURATIONS.get(language, SIMPLE)


# Letters that are not a base letter plus a combining mark, so that NFD alone keeps them.
_FOLDED_LETTERS = str.maketrans({"đ": "d", "ø": "o", "ł": "l", "ß": "ss", "æ": "ae", "œ": "oe"})


def fold(text: str) -> str:
    """`text` lower-cased without accents or Arabic short vowels (tashkeel): "Rác thải" ->
    "rac thai", "Recíclaje" -> "reciclaje", so a caller typing without them still matches."""
    lowered = unicodedata.normalize("NFKC", text).casefold().translate(_FOLDED_LETTERS)
    stripped = "".join(
        ch for ch in unicodedata.normalize("NFD", lowered) if not unicodedata.combining(ch)
    )
    return " ".join(unicodedata.normalize("NFC", stripped).split())


def match_text(title: str, keywords: str | None) -> str:
    """What pg_trgm compares a query with: the title and keywords, folded."""
    return fold(f"{title} {keywords or ''}")
