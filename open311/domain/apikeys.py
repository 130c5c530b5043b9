"""API keys: shown once at creation, stored as SHA-256.

Keys are 256-bit random tokens, so a fast hash is enough (no dictionary to guess from) and lets
the lookup be a unique-index probe instead of a scan of slow password hashes.

A client may have a rate limit of its own (`rate_limit`, in the notation of the `limits`
package); the API edge counts its calls against it (api/ratelimits.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable

from limits import parse_many
from sqlalchemy.orm import Session

from open311.db import catalogue_queries
from open311.db.models import ApiClient
from open311.errors import InvalidApiKey, InvalidInput
from open311.i18n import _

PREFIX_LENGTH = 8
# The session.info key of the callback `authenticate` calls with each client it accepts.
ON_AUTHENTICATED = "open311.apikeys.on_authenticated"
# api_client.rate_limit's width.
RATE_LIMIT_LENGTH = 64
_RULE = r"[1-9][0-9]{0,8}/(?:second|minute|hour|day)"
# Amounts of at least 1 per unit, ';' between rules; blank means the server's defaults.
RATE_LIMIT_SYNTAX = re.compile(rf"^\s*(?:{_RULE}(?:\s*;\s*{_RULE})*)?\s*$")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_rate_limit(text: str | None) -> str | None:
    """A client's own rate limit as it is stored: "600/minute" or "10/second;600/minute"
    (RATE_LIMIT_SYNTAX, a part of the `limits` notation that the API documents as a pattern),
    stripped; None or blank means the server's defaults. InvalidInput (400) otherwise."""
    if text is None or not text.strip():
        return None
    if len(text) > RATE_LIMIT_LENGTH:
        raise InvalidInput(f"rate_limit: at most {RATE_LIMIT_LENGTH} characters")
    if not RATE_LIMIT_SYNTAX.match(text):
        raise InvalidInput(
            "rate_limit: not a rate limit; write it as e.g. 600/minute or 10/second;600/minute"
        )
    parse_many(text)  # the pattern is a part of what `limits` reads: this cannot fail
    return text.strip()


def create_api_client(
    session: Session, name: str, rate_limit: str | None = None
) -> tuple[ApiClient, str]:
    """A new active client and its key in plain text; the caller shows it once. `rate_limit`:
    its own limit (check_rate_limit), None for the server's defaults."""
    key = secrets.token_urlsafe(32)
    client = ApiClient(
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[:PREFIX_LENGTH],
        rate_limit=check_rate_limit(rate_limit),
    )
    session.add(client)
    session.flush()
    return client, key


def disable_api_client(session: Session, client: ApiClient) -> None:
    """Refuse the client's key from now on; its requests and updates stay attributed to it."""
    client.active = False
    session.flush()


def set_rate_limit(session: Session, client: ApiClient, rate_limit: str | None) -> None:
    """Give the client its own rate limit (check_rate_limit), or the server's defaults (None);
    counting against the new limit starts from zero."""
    client.rate_limit = check_rate_limit(rate_limit)
    session.flush()


def rotate_api_client(session: Session, client: ApiClient) -> str:
    """Give the client a new key (returned in plain text, to show once); the old one stops
    working at once. A disabled client stays disabled."""
    key = secrets.token_urlsafe(32)
    client.key_hash, client.key_prefix = hash_key(key), key[:PREFIX_LENGTH]
    session.flush()
    return key


def on_authenticated(session: Session, callback: Callable[[ApiClient], None]) -> None:
    """Have `authenticate` call `callback(client)` with each client it accepts on `session`,
    before it returns: the API edge counts a write against the client's rate limit at the moment
    the view learns who the client is, wherever in the view that is. The callback may raise to
    refuse the call."""
    session.info[ON_AUTHENTICATED] = callback


def authenticate(session: Session, key: str | None) -> ApiClient:
    if not key:
        raise InvalidApiKey(_("api_key was not provided"))
    client = catalogue_queries.get_api_client_by_hash(session, hash_key(key))
    if client is None or not client.active:
        raise InvalidApiKey(_("api_key not recognised"))
    callback = session.info.get(ON_AUTHENTICATED)
    if callback is not None:
        callback(client)
    return client
