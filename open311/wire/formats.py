"""GeoReport documents: one payload, rendered as XML or as JSON by the Spark convention.

A payload is plain data: dicts, lists, strings, numbers, booleans, datetimes and None. A list
under a key becomes a container element whose items take the name the spec gives them, so
`{"attributes": [...]}` renders as `<attributes><attribute>...` and as a JSON array.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from open311.wire.datetimes import format_w3c

FORMATS = ("json", "xml")
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "text/xml; charset=utf-8",
}

# Container element -> item element, from the spec (digest §1.2).
ITEM_NAMES = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "service_request_updates": "request_update",
    "notes": "note",
    # The knowledge base (wire/articles.py): a list of articles, an article's steps.
    "articles": "article",
    "steps": "step",
    # Discovery's extension: the languages a city serves.
    "locales": "locale",
    # Request statistics (wire/request_stats.py): a group's figures over one period.
    "figures": "figure",
}

# Characters XML 1.0 cannot carry at all; input rejects them, output drops them as a last guard.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render(payload: Any, fmt: str, root: str) -> bytes:
    """Serialise a payload as the document `root` in `fmt` ('json' or 'xml')."""
    if fmt == "json":
        return render_json(payload)
    return render_xml(payload, root)


def render_json(payload: Any) -> bytes:
    return json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_w3c(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def render_xml(payload: Any, root: str) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n']
    parts.extend(_element(root, payload))
    return "".join(parts).encode("utf-8")


def render_xml_list(items: Iterable[Any], root: str) -> Iterator[str]:
    """The same document as `render_xml(list(items), root)`, one item per chunk, so a long
    list can be streamed as it is rendered."""
    yield f'<?xml version="1.0" encoding="utf-8"?>\n<{root}>'
    item_name = ITEM_NAMES[root]
    for item in items:
        yield "".join(_element(item_name, item))
    yield f"</{root}>"


def json_array(members: Sequence[bytes]) -> bytes:
    """A JSON array around members already rendered as UTF-8 JSON (by the database)."""
    return enclose(b"[", members, b"]")


def enclose(head: bytes, members: Sequence[bytes], tail: bytes) -> bytes:
    """head + members joined by commas + tail, in one allocation: a page is half a megabyte,
    and every extra concatenation of it costs more than the join itself."""
    if not members:
        return head + tail
    parts = list(members)
    parts[0] = head + parts[0]
    parts[-1] = parts[-1] + tail
    return b",".join(parts)


def _element(name: str, value: Any) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, list):
        item = ITEM_NAMES.get(name)
        if item is None:
            # An unnamed repeated field (e.g. several media_url): repeat the element itself.
            for member in value:
                yield from _element(name, member)
            return
        yield f"<{name}>"
        for member in value:
            yield from _element(item, member)
        yield f"</{name}>"
    elif isinstance(value, dict):
        yield f"<{name}>"
        for key, member in value.items():
            yield from _element(key, member)
        yield f"</{name}>"
    else:
        yield f"<{name}>{_text(value)}</{name}>"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_w3c(value)
    # A raw CR would come back as LF from any XML parser; the character reference keeps it.
    return escape(XML_FORBIDDEN.sub("", str(value)), {"\r": "&#13;"})


def error_payload(problems: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """The spec's error list: one {code, description} per problem."""
    return [{"code": code, "description": description} for code, description in problems]
