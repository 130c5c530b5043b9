"""Extract the server's own texts (`_()` and `n_()` in open311/ and its page templates) into
open311/locales/messages.pot and bring every catalogue up to date with it: new msgids are added
untranslated, msgids no longer in the code are dropped, translations are kept. Run after
changing a marked text:

    .venv/bin/python scripts/extract_messages.py

(the same as `pybabel extract -k _ -k n_:1,2 -o open311/locales/messages.pot open311` followed
by `pybabel update`, without their fuzzy matching: a changed text is untranslated until a
translator writes it, never guessed from a similar one).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "open311"
LOCALES = PACKAGE / "locales"
# say(): a page's text in its language (web.pages), marked as _() is.
KEYWORDS = {"_": None, "n_": (1, 2), "say": None}


def template() -> Catalog:
    """Every marked text of open311/, with where it is used."""
    catalog = Catalog(project="open311", charset="utf-8")
    found = extract_from_dir(
        PACKAGE,
        method_map=[("**.py", "python"), ("web/templates/**.html", "jinja2")],
        keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
    )
    for filename, lineno, message, comments, _context in found:
        where = (f"open311/{filename}", lineno)
        if isinstance(message, tuple):
            catalog.add(message, locations=[where], auto_comments=comments, flags=["python-format"])
        else:
            catalog.add(message, locations=[where], auto_comments=comments)
    for message in catalog:
        if message.id and "%(" in (message.id if isinstance(message.id, str) else message.id[0]):
            message.flags.add("python-format")
    return catalog


def update(pot: Catalog, po_path: Path) -> None:
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    catalog.update(pot, no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    with po_path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=False)


def main() -> None:
    pot = template()
    with (LOCALES / "messages.pot").open("wb") as handle:
        write_po(handle, pot, width=100)
    languages = []
    for po_path in sorted(LOCALES.glob("*/LC_MESSAGES/messages.po")):
        update(pot, po_path)
        languages.append(po_path.parts[-3])
    print(f"{len(pot)} texts; catalogues updated: {', '.join(languages)}")


if __name__ == "__main__":
    main()
