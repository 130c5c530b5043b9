"""Keyset cursors for GET requests: the last row's sort key and id as an opaque, checked token.

A cursor is base64url (no padding) of a compact JSON array `[version, sort, key, id, check]`,
where `check` is the first 8 hex digits of a SHA-256 over the rest. It is not a secret, and
need not be: a forged cursor can only name a position in a sort order, which a client could
reach with filters anyway. The check and the type tests turn a truncated, edited or foreign
token into a clear 400 instead of a database error or a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from datetime import UTC, datetime

VERSION = 1
MAX_LENGTH = 200
# Sort names whose key is a timestamp; `distance` (metres) is the only numeric one.
TIME_SORTS = ("requested_datetime", "updated_datetime")

# Where the previous page ended: its sort (e.g. "-requested_datetime"), sort key and row id.
Cursor = tuple[str, datetime | float, int]


def _check(parts: list[object]) -> str:
    text = json.dumps(parts, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def encode(cursor: Cursor) -> str:
    sort, key, row_id = cursor
    if isinstance(key, datetime):
        key = key.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    parts: list[object] = [VERSION, sort, key, row_id]
    parts.append(_check(parts))
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> Cursor:
    """The cursor a token stands for, or ValueError saying it is not one of ours."""
    invalid = ValueError("not a valid cursor; use the one from the previous page's Link header")
    if len(token) > MAX_LENGTH:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(parts, list) or len(parts) != 5 or parts[0] != VERSION:
        raise invalid
    _version, sort, key, row_id, check = parts
    if check != _check(parts[:4]) or not isinstance(sort, str):
        raise invalid
    if type(row_id) is not int or row_id < 0:
        raise invalid
    field = sort.removeprefix("-")
    if field in TIME_SORTS and isinstance(key, str):
        try:
            moment = datetime.strptime(key, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise invalid from None
        return (sort, moment, row_id)
    if field == "distance" and type(key) in (int, float) and math.isfinite(key) and key >= 0:
        return (sort, float(key), row_id)
    raise invalid
