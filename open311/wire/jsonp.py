"""JSONP (the Chicago-style `callback` extension, digest §9.1): a JSON document as a script.

Only a plain JavaScript identifier path is accepted as the callback, so the name can carry no
script of its own; the leading empty comment keeps the response from being sniffed as another
file type (the Rosetta Flash defence), and the trailing `;` ends the statement.
"""

from __future__ import annotations

import re

CONTENT_TYPE = "application/javascript; charset=utf-8"
# Dot-separated identifiers, no empty part (so no "..", no trailing "."), at most 64 characters.
CALLBACK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z0-9_$]+)*$")
CALLBACK_MAX = 64
CALLBACK_RULE = "a JavaScript identifier (letters, digits, _, $ and dots; at most 64 characters)"


def valid_callback(name: str) -> bool:
    return len(name) <= CALLBACK_MAX and CALLBACK.fullmatch(name) is not None


def wrap(callback: str, body: bytes) -> bytes:
    if not valid_callback(callback):
        raise ValueError(f"callback must be {CALLBACK_RULE}")
    return b"/**/" + callback.encode("ascii") + b"(" + body + b");"
