"""API keys: shown once at creation, stored as SHA-256.

Keys are 256-bit random tokens, so a fast hash is enough (no dictionary to guess from) and lets
the lookup be a unique-index probe instead of a scan of slow password hashes.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.orm import Session

from open311.db import catalogue_queries
from open311.db.models import ApiClient
from open311.errors import InvalidApiKey

PREFIX_LENGTH = 8


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_client(session: Session, name: str) -> tuple[ApiClient, str]:
    """A new active client and its key in plain text; the caller shows it once."""
    key = secrets.token_urlsafe(32)
    client = ApiClient(name=name, key_hash=hash_key(key), key_prefix=key[:PREFIX_LENGTH])
    session.add(client)
    session.flush()
    return client, key


def disable_api_client(session: Session, client: ApiClient) -> None:
    """Refuse the client's key from now on; its requests and updates stay attributed to it."""
    client.active = False
    session.flush()


def rotate_api_client(session: Session, client: ApiClient) -> str:
    """Give the client a new key (returned in plain text, to show once); the old one stops
    working at once. A disabled client stays disabled."""
    key = secrets.token_urlsafe(32)
    client.key_hash, client.key_prefix = hash_key(key), key[:PREFIX_LENGTH]
    session.flush()
    return key


def authenticate(session: Session, key: str | None) -> ApiClient:
    if not key:
        raise InvalidApiKey("api_key was not provided")
    client = catalogue_queries.get_api_client_by_hash(session, hash_key(key))
    if client is None or not client.active:
        raise InvalidApiKey("api_key not recognised")
    return client
